"""``await check("2.1")`` in a notebook: the learner's import path for
:func:`roomkit.course.check.check` (see there)."""

from roomkit.course.check import CheckReport, check

__all__ = ["CheckReport", "check"]
