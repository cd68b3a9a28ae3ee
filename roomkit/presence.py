"""``user joined`` / ``user left`` within a packet budget per room.

Each presence event goes to every other member of its room, so N clients
joining one room cost N²/2 packets: 3,000 joins made 4.5 M packets, took the
server to 1 GB and every client was dropped by ping timeout; shutting down
with 2,500 members in a room was quadratic the same way. :class:`Presence`
sends each event as before while the room's budget lasts (one packet per
member of the room on this server), and past it sums the room's joins and
leaves up in one ``presence`` event ``{"room", "joined", "left"}`` per
``interval``: a storm then costs at most ``budget`` packets per second plus
one packet per member per ``interval``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["PRESENCE_EVENT", "Presence"]

logger = logging.getLogger("roomkit")

PRESENCE_EVENT = "presence"

Emit = Callable[..., Awaitable[None]]


@dataclass(slots=True)
class _Budget:
    """Packets a room may still cost; refills at ``rate`` per second up to ``rate``."""

    tokens: float
    stamp: float

    def spend(self, cost: int, rate: float, now: float) -> bool:
        self.tokens = min(rate, self.tokens + (now - self.stamp) * rate)
        self.stamp = now
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True

    def full(self, rate: float, now: float) -> bool:
        return self.tokens + (now - self.stamp) * rate >= rate


@dataclass(slots=True)
class _Summary:
    joined: int = 0
    left: int = 0


class Presence:
    """Announces joins and leaves to rooms of one namespace.

    :param emit: the namespace's ``emit`` (``emit(event, data, room=...,
        skip_sid=...)``).
    :param recipients: ``recipients(room, sid)``: how many connections of this
        server an event about ``sid`` reaches in ``room`` (``sid`` not counted).
    :param fanout_per_second: packets per second one room's events may cost.
    :param interval: seconds between two summaries of one room.
    """

    def __init__(
        self,
        emit: Emit,
        recipients: Callable[[str, str], int],
        *,
        fanout_per_second: int,
        interval: float,
    ) -> None:
        self._emit = emit
        self._recipients = recipients
        self.rate = float(fanout_per_second)
        self.interval = interval
        self._budgets: dict[str, _Budget] = {}
        self._pending: dict[str, _Summary] = {}
        self._flusher: asyncio.Task[None] | None = None
        self.summaries_sent = 0

    async def joined(self, room: str, sid: str) -> None:
        """Tell ``room`` (but not ``sid``) that ``sid`` joined it."""
        if self._admit(room, sid):
            await self._emit("user joined", sid, room=room, skip_sid=sid)
        else:
            self._pending[room].joined += 1

    async def left(self, room: str, sid: str) -> None:
        """Tell ``room`` that ``sid`` left it."""
        if self._admit(room, sid):
            await self._emit("user left", sid, room=room, skip_sid=sid)
        else:
            self._pending[room].left += 1

    def _admit(self, room: str, sid: str) -> bool:
        """Whether an event for ``room`` goes out on its own now; otherwise the
        room has a summary pending (created here), which keeps the order: once
        a room is summarised, its events wait for the summary."""
        if room in self._pending:
            return False
        now = time.monotonic()
        budget = self._budgets.get(room)
        if budget is None:
            self._prune(now)
            budget = self._budgets[room] = _Budget(self.rate, now)
        if budget.spend(self._recipients(room, sid), self.rate, now):
            return True
        self._pending[room] = _Summary()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_later(), name="roomkit-presence")
        return False

    def _prune(self, now: float) -> None:
        # A full budget is the same as none: forgetting it keeps the table as
        # small as the set of rooms busy in the last second.
        if len(self._budgets) >= 1024:
            for room in [r for r, b in self._budgets.items() if b.full(self.rate, now)]:
                del self._budgets[room]

    async def _flush_later(self) -> None:
        while self._pending:
            await asyncio.sleep(self.interval)  # the pacing of summaries
            await self.flush()

    async def flush(self) -> None:
        """Send every pending summary now (also at shutdown, so other servers'
        members learn that this server's members left)."""
        pending, self._pending = self._pending, {}
        for room, summary in pending.items():
            self.summaries_sent += 1
            await self._emit(
                PRESENCE_EVENT,
                {"room": room, "joined": summary.joined, "left": summary.left},
                room=room,
            )

    async def close(self) -> None:
        """Send what is pending and stop the summary timer."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await self.flush()

    def pending(self) -> dict[str, Any]:
        """Rooms with a summary pending, and its counts (for tests and metrics)."""
        return {room: (s.joined, s.left) for room, s in self._pending.items()}
