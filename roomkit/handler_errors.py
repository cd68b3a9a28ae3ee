"""Exceptions raised by a server's handlers, described in the terms of the code that raised them.

A learner's handler that raises inside python-socketio shows up, at best, as a
client that got no answer. :func:`collect_handler_errors` keeps each such
exception (with the connection and the event it was handling) on the server,
so that :mod:`roomkit.testing`'s clients and transcripts, and the course's
checks, can say *what* the server raised and *where*::

    alice got no answer to 'join room' within 3 s; the server, handling
    'join room' on /chat, raised NameError: name 'rooom' is not defined
        cell In[7], line 4, in join_room: await sio.enter_room(sid, rooom)

:func:`describe_exception` is that description: the exception in one line,
then only the frames of the learner's own code (notebook cells, their files),
never those of Python, its libraries or roomkit.
"""

from __future__ import annotations

import linecache
import logging
import sys
import sysconfig
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import socketio

__all__ = [
    "HandlerError",
    "collect_handler_errors",
    "describe_exception",
    "describe_frame",
    "is_learner_file",
    "learner_frames",
    "register_source",
]

_LIBRARY_DIRS = tuple(
    str(Path(path).resolve())
    for path in {
        *(sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")),
        str(Path(__file__).resolve().parent),
    }
)
# Set on a server whose handlers are watched: the list the exceptions go to.
_ERRORS_ATTRIBUTE = "roomkit_handler_errors"


@dataclass(frozen=True, slots=True)
class HandlerError:
    """An exception raised in the server: while doing what, and the exception.

    :param doing: e.g. ``"handling 'message' on /chat"``.
    :param error: the exception, or None when only its description is known.
        Default None.
    :param sid: the session id of the connection whose event was being handled.
        Default None (not tied to one connection).
    :param described: the exception already described by
        :func:`describe_exception`: a sandboxed server's errors cross to the
        grader as text. Default ``""``.
    """

    doing: str
    error: BaseException | None = None
    sid: str | None = None
    described: str = ""

    def describe_error(self) -> str:
        """The exception alone: one line, then the learner's frames."""
        return describe_exception(self.error) if self.error is not None else self.described

    def describe(self) -> str:
        """What the server was doing, then the exception."""
        return f"{self.doing}, raised {self.describe_error()}"


def register_source(filename: str, source: str) -> None:
    """Make ``source`` known under ``filename`` so tracebacks can show its lines.

    Code compiled from a notebook cell has no file on disk; :mod:`linecache` is
    where :mod:`traceback` looks lines up.
    """
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)


def is_learner_file(filename: str) -> bool:
    """Whether code from ``filename`` is the learner's (not Python's, a library's, roomkit's
    or an instructor's test)."""
    if filename.startswith("<frozen") or filename.startswith("<string"):
        return False
    if filename.startswith("<"):  # a notebook cell compiled by roomkit: learner code
        return True
    path = Path(filename).resolve()
    if path.name.startswith("test_") or path.name == "conftest.py":  # the instructor's tests
        return False
    return not str(path).startswith(_LIBRARY_DIRS)


def learner_frames(error: BaseException) -> list[traceback.FrameSummary]:
    """The frames of ``error``'s traceback that are in the learner's code (may be empty)."""
    return [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if is_learner_file(frame.filename)
    ]


def _kernel_cell(filename: str) -> str | None:
    """``"cell In[7]"`` for code a Jupyter kernel compiled from cell 7, else None."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    numbers = getattr(getattr(shell, "compile", None), "_filename_map", None)
    if isinstance(numbers, dict) and filename in numbers:
        return f"cell In[{numbers[filename]}]"
    return None


def describe_frame(frame: traceback.FrameSummary) -> str:
    """``"cell In[7], line 4, in join_room"``: where ``frame`` is, as the learner knows it."""
    filename = frame.filename
    if filename.startswith("<"):  # "<path/to/01_topic.ipynb, cell 7>": a notebook cell
        notebook, _, cell = filename.strip("<>").rpartition(", ")
        filename = f"{Path(notebook).name}, {cell}" if notebook else cell
    else:
        filename = _kernel_cell(filename) or Path(filename).name
    return f"{filename}, line {frame.lineno}, in {frame.name}"


def describe_exception(error: BaseException, *, frames: int = 3) -> str:
    """``"KeyError: 'text'"`` followed by at most ``frames`` lines of the learner's code.

    :param error: the exception.
    :param frames: how many of the learner's innermost frames to show. Default 3.
    """
    if isinstance(error, SyntaxError) and error.filename is not None:
        notebook, _, cell = error.filename.strip("<>").rpartition(", ")
        where = f"{Path(notebook).name}, {cell}" if notebook else cell
        text = (error.text or "").strip()
        shown = f"\n    {text}" if text else ""
        return f"SyntaxError: {error.msg} ({where}, line {error.lineno}){shown}"
    message = str(error)
    lines = [f"{type(error).__name__}: {message}" if message else type(error).__name__]
    for frame in learner_frames(error)[-frames:]:
        code = (frame.line or "").strip()
        lines.append(f"    {describe_frame(frame)}" + (f": {code}" if code else ""))
    return "\n".join(lines)


def collect_handler_errors(sio: socketio.AsyncServer) -> list[HandlerError]:
    """Keep the exceptions ``sio``'s handlers raise in the list returned (one per server).

    An event handler that raised is answered with nothing, as python-socketio
    does, and the exception is logged in one short line on the server's logger
    (python-socketio would leave it to an unretrieved task's traceback). A
    connect handler's exception is recorded and then propagates as before.
    Calling this again on the same server returns the same list.

    :param sio: the server whose handlers to watch.
    """
    existing: list[HandlerError] | None = getattr(sio, _ERRORS_ATTRIBUTE, None)
    if existing is not None:
        return existing
    errors: list[HandlerError] = []
    trigger: Callable[..., Any] = sio._trigger_event

    async def trigger_and_collect(event: str, namespace: str, *args: Any) -> Any:
        try:
            return await trigger(event, namespace, *args)
        except (socketio.exceptions.ConnectionRefusedError, ConnectionRefusedError):
            raise
        except Exception as error:  # the learner's handler may raise anything
            if event == "connect" and isinstance(error, TypeError):
                raise  # python-socketio retries the legacy connect signature on TypeError
            sid = args[0] if args and isinstance(args[0], str) else None
            found = HandlerError(f"handling {event!r} on {namespace}", error, sid)
            errors.append(found)
            logger: logging.Logger = sio.logger
            logger.error("the server, %s", found.describe())
            if event == "connect":
                raise
            return sio.not_handled

    # An instance attribute: the server's class, and other servers, are untouched.
    sio._trigger_event = trigger_and_collect
    setattr(sio, _ERRORS_ATTRIBUTE, errors)
    return errors
