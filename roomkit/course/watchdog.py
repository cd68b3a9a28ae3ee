"""A watchdog for the thread that runs a check: learner code that blocks its event loop.

A handler that calls ``time.sleep(2)`` or spins in a loop holds the event loop
of the thread it runs in: nothing else happens until it returns. Under
``await check`` the exercise tests run in a worker thread, so such a handler
would stall the check (and, spinning forever, every later one).

:class:`LoopWatch` runs beside the worker. Every :data:`PROBE_INTERVAL` it finds
the event loop running in the worker (its ``_run_once`` frame) and schedules a
no-op on it from outside (``call_soon_threadsafe``). A loop that has not run
that no-op after :data:`BLOCK_FLAGGED` seconds is blocked; if the innermost
frame of learner code on the worker's stack is the culprit, the block is
recorded as a :class:`Block`. A block that lasts :data:`BLOCK_BROKEN` seconds
is broken: :class:`HandlerBlocked` is raised inside the learner's code (CPython's
``PyThreadState_SetAsyncExc``, delivered at its next bytecode), so a busy loop
ends and the check goes on. Code stuck inside one C call (a long
``time.sleep``) only gets the exception when that call returns.
"""

from __future__ import annotations

import asyncio
import ctypes
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from types import FrameType, TracebackType

from roomkit.errors import RoomkitError
from roomkit.handler_errors import describe_frame, is_learner_file

__all__ = [
    "BLOCK_BROKEN",
    "BLOCK_FLAGGED",
    "PROBE_INTERVAL",
    "Block",
    "HandlerBlocked",
    "LoopWatch",
]

PROBE_INTERVAL = 0.05
BLOCK_FLAGGED = 0.5
BLOCK_BROKEN = 1.0


class HandlerBlocked(RoomkitError):
    """Raised inside learner code that blocked the event loop too long."""


@dataclass
class Block:
    """Learner code that held the event loop.

    :param where: the learner's frame, e.g. ``"cell In[7], line 4, in join_room: time.sleep(2)"``.
    :param seconds: for how long the loop was seen blocked, at least.
    :param broken: whether :class:`HandlerBlocked` was raised in it.
    """

    where: str
    seconds: float
    broken: bool = False


def _running_loop(frame: FrameType | None) -> asyncio.AbstractEventLoop | None:
    """The event loop whose ``_run_once`` is on the stack that ends in ``frame``."""
    while frame is not None:
        if frame.f_code.co_name == "_run_once":
            loop = frame.f_locals.get("self")
            if isinstance(loop, asyncio.AbstractEventLoop):
                return loop
        frame = frame.f_back
    return None


def _learner_frame(frame: FrameType | None) -> FrameType | None:
    """The innermost frame of learner code on the stack that ends in ``frame``."""
    while frame is not None:
        if is_learner_file(frame.f_code.co_filename):
            return frame
        frame = frame.f_back
    return None


def _where(frame: FrameType) -> str:
    summary = traceback.FrameSummary(
        frame.f_code.co_filename, frame.f_lineno or 0, frame.f_code.co_name
    )
    code = (summary.line or "").strip()
    return describe_frame(summary) + (f": {code}" if code else "")


def _raise_in(thread_id: int, exception: type[BaseException]) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exception)
    )


class LoopWatch:
    """Watch the event loops that thread ``thread_id`` runs, while in a ``with`` block.

    :param thread_id: the watched thread (``threading.get_ident()`` in it).
    :param flagged: seconds of blocking that are recorded. Default :data:`BLOCK_FLAGGED`.
    :param broken: seconds of blocking after which the learner's code is
        interrupted. Default :data:`BLOCK_BROKEN`; after a first block, and after
        :meth:`hurry`, any flagged block is broken at once.
    """

    def __init__(
        self, thread_id: int, *, flagged: float = BLOCK_FLAGGED, broken: float = BLOCK_BROKEN
    ) -> None:
        self.thread_id = thread_id
        self.flagged = flagged
        self.broken = broken
        self.blocks: list[Block] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="roomkit-loop-watch", daemon=True)

    def __enter__(self) -> LoopWatch:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join()

    def hurry(self) -> None:
        """Break any block from now on as soon as it is flagged (the check was interrupted)."""
        self.broken = self.flagged

    def _watch(self) -> None:
        answered = threading.Event()
        probe_sent: float | None = None
        block: Block | None = None
        # Ends with the block that the with statement encloses.
        while not self._done.wait(PROBE_INTERVAL):
            stack = sys._current_frames().get(self.thread_id)
            now = time.monotonic()
            if probe_sent is not None and answered.is_set():
                probe_sent, block = None, None
            if probe_sent is None:
                loop = _running_loop(stack)
                if loop is None:
                    continue
                answered.clear()
                try:
                    loop.call_soon_threadsafe(answered.set)
                except RuntimeError:  # closed between finding it and probing it
                    continue
                probe_sent = now
                continue
            blocked_for = now - probe_sent
            culprit = _learner_frame(stack)
            if blocked_for < self.flagged or culprit is None:
                continue
            if block is None:
                block = Block(_where(culprit), blocked_for)
                self.blocks.append(block)
            block.seconds = blocked_for
            if not block.broken and blocked_for >= self.broken:
                block.broken = True
                _raise_in(self.thread_id, HandlerBlocked)
                # Later blocks are broken as soon as they are flagged: the
                # learner has the diagnosis, and the check should end soon.
                self.broken = self.flagged
