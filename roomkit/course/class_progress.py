"""The progress of a class run on standard error: a bar with an ETA, or one line per submission.

On a terminal, one line is redrawn in place: a bar, how many submissions are
done, how many did not pass everything, and the time left. Elsewhere (a log
file, CI), each submission gets a plain line when it is done, with the same
counts and estimate.
"""

from __future__ import annotations

import time
from typing import TextIO

from roomkit.course.records import Row

__all__ = ["ClassProgress"]

_BAR = 24


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class ClassProgress:
    """Shows a class run's progress on ``stream``.

    :param stream: where to write (standard error).
    :param total: how many submissions the run has.
    :param tty: redraw one line in place. Default: whether ``stream`` is a terminal.
    """

    def __init__(self, stream: TextIO, total: int, tty: bool | None = None) -> None:
        self.stream = stream
        self.total = total
        self.tty = stream.isatty() if tty is None else tty
        self.done = 0
        self.resumed = 0
        self.not_passed = 0
        self.started = time.monotonic()

    def eta(self) -> str:
        """The time left, from the pace of the submissions graded by this run so far."""
        graded = self.done - self.resumed
        if graded <= 0:
            return "time left unknown"
        pace = (time.monotonic() - self.started) / graded
        return f"about {_duration(pace * (self.total - self.done))} left"

    def __call__(self, row: Row, resumed: bool) -> None:
        """Count ``row`` (``resumed``: found in the results file, not graded now) and show it."""
        self.done += 1
        self.resumed += resumed
        self.not_passed += not row.passed
        counts = f"{self.done}/{self.total} submissions, {self.not_passed} not fully passed"
        left = "done" if self.done == self.total else self.eta()
        if self.tty:
            filled = _BAR * self.done // max(1, self.total)
            bar = "#" * filled + "-" * (_BAR - filled)
            self.stream.write(f"\r\x1b[K[{bar}] {counts}, {left}")
            if self.done == self.total:
                self.stream.write("\n")
        else:
            result = row.result
            how = "recorded earlier" if resumed else f"{result.seconds:.1f} s"
            self.stream.write(
                f"graded {result.label}: {result.passed} of {len(result.exercises)} exercises "
                f"passed, {result.score:g}/{result.max_score:g} ({how}); {counts}, {left}\n"
            )
        self.stream.flush()
