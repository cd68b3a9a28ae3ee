"""Log lines at a bounded rate: about abuse, so an attacker cannot fill the disk, and
about repeated failures (Redis gone), so a flood of events is not a flood of lines."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["FailureReport", "LogThrottle"]

# Seconds between two lines about the same repeated failure.
REPORT_INTERVAL = 10.0


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


class FailureReport:
    """Counts a repeated failure and logs it at most once per ``interval`` seconds,
    through a :class:`LogThrottle` (the next line says how many were left out).

    :param what: what failed, for the log line (e.g. ``"publishing to Redis"``).
    :param interval: seconds between two log lines. Default 10.
    :param logger: where lines go. Default the ``roomkit`` logger.
    """

    def __init__(
        self,
        what: str,
        interval: float = REPORT_INTERVAL,
        *,
        logger: logging.Logger | None = None,
    ) -> None:
        self.what = what
        self.failures = 0
        self._throttle = LogThrottle(logger or logging.getLogger("roomkit"), interval)

    def failed(self, problem: BaseException) -> None:
        """Count one failure and log it unless one was logged recently."""
        self.failures += 1
        self._throttle.log(
            logging.WARNING,
            "failure",
            "%s failed (latest: %s: %s)",
            self.what,
            type(problem).__name__,
            str(problem) or "no answer in time",
        )
