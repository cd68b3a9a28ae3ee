"""Progress at a glance: every exercise of the course, passed, failed or not started.

::

    await progress()              # in any notebook (from roomkit.check import progress)
    roomkit grade --summary       # in a terminal

Both grade the learner's own notebook files, as saved (a cell edited but not
saved counts as it was), with the exercise tests, and print one line per
exercise in course order, like rustlings' list. An exercise whose code still
raises ``NotImplementedError`` (the unsolved cell), or whose notebook is
missing, is *not started*.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roomkit.course.check import LOCK_WAIT, pytest_lock
from roomkit.course.manifest import Course, find_course_root, load_course
from roomkit.course.results import ExerciseResult, SubmissionResult
from roomkit.errors import RoomkitError

__all__ = [
    "ExerciseProgress",
    "ProgressReport",
    "Status",
    "progress",
    "progress_of",
    "render_progress",
    "summarize",
]

# What a test says when the learner's code raised NotImplementedError (see
# roomkit.course.implementations and roomkit.course.judge).
_NOT_SOLVED = "not solved yet"


class Status(str, enum.Enum):
    """Where a learner is with one exercise."""

    PASSED = "passed"
    FAILED = "failed"
    NOT_STARTED = "not started"


_MARKS = {Status.PASSED: "✓", Status.FAILED: "✗", Status.NOT_STARTED: "·"}


@dataclass(frozen=True, slots=True)
class ExerciseProgress:
    """One exercise's line.

    :param result: its graded result.
    :param status: passed, failed or not started.
    """

    result: ExerciseResult
    status: Status


def _status(result: ExerciseResult, folder: Path) -> Status:
    if result.passed:
        return Status.PASSED
    if not (folder / result.exercise.notebook).exists():
        return Status.NOT_STARTED
    failures = [test.message for test in result.results if not test.passed]
    if failures and all(message.startswith(_NOT_SOLVED) for message in failures):
        return Status.NOT_STARTED
    return Status.FAILED


def summarize(submission: SubmissionResult, folder: Path) -> list[ExerciseProgress]:
    """The status of each exercise of ``submission``, in course order.

    :param submission: the grade of ``folder``.
    :param folder: the graded folder of notebooks.
    """
    return [ExerciseProgress(result, _status(result, folder)) for result in submission.exercises]


def render_progress(summary: list[ExerciseProgress], folder: Path) -> str:
    """The list as printed: a header with the counts, then one line per exercise.

    :param summary: from :func:`summarize`.
    :param folder: the notebooks' folder, named in the header.
    """
    counts = {status: sum(item.status is status for item in summary) for status in Status}
    lines = [
        f"Progress in {folder} (saved notebooks): {counts[Status.PASSED]} of {len(summary)} "
        f"exercises passed, {counts[Status.FAILED]} failed, "
        f"{counts[Status.NOT_STARTED]} not started"
    ]
    width = max((len(item.result.exercise.title) for item in summary), default=0)
    for item in summary:
        exercise, result = item.result.exercise, item.result
        status = item.status.value
        if item.status is Status.FAILED and result.tests:
            status += f" ({result.tests - result.failed} of {result.tests} tests pass)"
        lines.append(
            f"  {_MARKS[item.status]} {exercise.id:<4} {exercise.title:<{width}}  {status}"
        )
    upcoming = next((item for item in summary if item.status is not Status.PASSED), None)
    if upcoming is not None:
        exercise = upcoming.result.exercise
        lines.append(f"Next: exercise {exercise.id} in {exercise.notebook}.")
    else:
        lines.append("Every exercise passes. Well done!")
    return "\n".join(lines)


def progress_of(course: Course, folder: Path) -> list[ExerciseProgress]:
    """Grade every exercise of ``course`` in ``folder`` and summarize (blocking).

    :raises RoomkitError: when another check is still running after ``LOCK_WAIT`` s.
    """
    from roomkit.course.grading import grade  # imports pytest: only when asked

    if not pytest_lock.acquire(timeout=LOCK_WAIT):
        raise RoomkitError(f"an earlier check is still running after {LOCK_WAIT:g} s")
    try:
        return summarize(grade(course, folder, exercises=course.exercises), folder)
    finally:
        pytest_lock.release()


class ProgressReport(str):
    """The printed list, as text; a notebook does not show it a second time."""

    __slots__ = ()

    def _ipython_display_(self) -> None:
        """Show nothing: :func:`progress` printed it already."""


def progress(folder: Path | str | None = None) -> Coroutine[Any, Any, ProgressReport]:
    """``await progress()``: print the status of every exercise from the saved notebooks.

    :param folder: the folder of the learner's notebooks. Default: the current
        folder (a notebook's kernel runs in its notebook's folder).
    :returns: a coroutine; awaiting it prints the list and returns it as a
        :class:`ProgressReport` (text).
    """
    return _progress(Path(folder) if folder is not None else Path.cwd())


async def _progress(folder: Path) -> ProgressReport:
    try:
        try:
            root = find_course_root(folder)
        except RoomkitError:  # notebooks kept outside the course: the installed course
            root = find_course_root()
        course = load_course(root)
        # A worker thread: the grading servers never wait on the kernel's loop.
        summary = await asyncio.to_thread(progress_of, course, folder)
        text = render_progress(summary, folder)
    except RoomkitError as error:
        text = f"progress: {error}"
    print(text, flush=True)
    return ProgressReport(text)
