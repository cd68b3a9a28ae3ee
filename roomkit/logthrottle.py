"""Log lines about abuse at a bounded rate, so an attacker cannot fill the disk."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["LogThrottle"]


class LogThrottle:
    """At most one line per kind every ``interval`` seconds.

    Lines of a kind that arrive within ``interval`` of the last one written are
    counted, not written; the next line of that kind says how many were left
    out. Kinds are a small fixed set named by the caller (never client input),
    so the bookkeeping stays bounded.

    :param logger: where lines go.
    :param interval: seconds between two lines of one kind; 0 writes them all.
    :param clock: returns the current time in seconds. Default ``time.monotonic``.
    """

    __slots__ = ("_clock", "_last", "_skipped", "interval", "logger")

    def __init__(
        self,
        logger: logging.Logger,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def log(self, level: int, kind: str, message: str, *args: object) -> bool:
        """Write ``message % args`` at ``level`` unless a line of ``kind`` was
        written less than ``interval`` seconds ago; returns whether it was
        written. Never with a traceback: the cause is the client's input."""
        if not self.logger.isEnabledFor(level):
            return False
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            self._skipped[kind] = self._skipped.get(kind, 0) + 1
            return False
        self._last[kind] = now
        skipped = self._skipped.pop(kind, 0)
        if skipped:
            message += " (%d more like this left out)"
            args = (*args, skipped)
        self.logger.log(level, message, *args)
        return True
