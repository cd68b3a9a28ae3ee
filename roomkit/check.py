"""``await check("2.1")`` and ``await progress()`` in a notebook: the learner's
import path for :func:`roomkit.course.check.check` and
:func:`roomkit.course.progress.progress` (see there).

Importing it in a Jupyter kernel (the setup cell does) starts warming the first
check in the background (:func:`roomkit.course.check.warm_up`).
"""

from roomkit.course.check import CheckReport, check, warm_up
from roomkit.course.progress import progress

__all__ = ["CheckReport", "check", "progress"]

warm_up()
