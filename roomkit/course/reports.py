"""Results as people and programs read them: what ``await check`` prints, the grade
table, JSON and a CSV gradebook. The class exports (feedback files, the gradebook,
Gradescope's results) are in :mod:`roomkit.course.export` and the modules it names."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from roomkit.course.results import ExerciseResult, Outcome, SubmissionResult, TestResult

__all__ = [
    "MARKS",
    "chosen_hints",
    "decisive_lines",
    "first_hint",
    "hidden_line",
    "render_check",
    "render_table",
    "to_json",
    "write_csv",
    "write_json",
]

MARKS = {Outcome.PASSED: "✓", Outcome.FAILED: "✗", Outcome.TIMED_OUT: "⏱"}

_ENCOURAGEMENT = (
    "Well done.",
    "Nice work: on to the next one.",
    "That is exactly what the reference does.",
    "Every client got what it should. Good job.",
)


def _number(value: float) -> str:
    return f"{value:g}"


def render_check(result: ExerciseResult, seconds: float, *, hints: int = 0) -> str:
    """What ``await check`` prints for ``result``: a mark per test, the first message
    of each distinct failure, then a cheer or the count and ``hints`` hints (see
    :func:`chosen_hints`).

    :param result: the exercise's result.
    :param seconds: how long the check took.
    :param hints: how many hints to show when it failed. Default 0.
    """
    exercise = result.exercise
    lines = [f"Exercise {exercise.id} · {exercise.title}"]
    if result.problem:
        lines.append(f"  ✗ {result.problem}")
    shown = ""
    for test in result.results:
        lines.append(f"  {MARKS[test.outcome]} {test.name}")
        if not test.passed and test.message != shown:
            lines.extend(f"      {line}" for line in test.message.splitlines())
            shown = test.message
    if result.passed:
        cheer = _ENCOURAGEMENT[sum(map(ord, exercise.id)) % len(_ENCOURAGEMENT)]
        lines.append(f"All {result.tests} checks passed in {seconds:.2f} s. {cheer}")
    else:
        lines.append(
            f"{result.tests - result.failed} of {result.tests} checks passed in {seconds:.2f} s."
        )
        for hint in chosen_hints(result, hints):
            number = exercise.hints.index(hint) + 1
            lines.append(f"Hint {number} of {len(exercise.hints)}: {hint}")
    if result.hidden_at_grading:
        lines.append(hidden_line(result))
    return "\n".join(lines)


def _test_function(test: TestResult) -> str:
    """``test_x`` from the node id ``tests/exercises/test_1_1_y.py::test_x[...]``."""
    return test.test_id.rpartition("::")[2].partition("[")[0]


def chosen_hints(result: ExerciseResult, count: int) -> list[str]:
    """At most ``count`` hints for a failed ``result``: those the manifest ties to its
    failing tests (``hint_for``), in the order the tests failed; for an exercise
    whose failing tests have no tie, its first ``count`` hints.

    :param result: the exercise's result.
    :param count: how many hints to show (``check`` shows one more at each failure).
    """
    failing = [_test_function(test) for test in result.results if not test.passed]
    tied = result.exercise.hints_for(failing)
    return (tied or list(result.exercise.hints))[: max(count, 0)]


def first_hint(result: ExerciseResult) -> str:
    """The one hint the grade table shows under a failed exercise."""
    return (chosen_hints(result, 1) or list(result.exercise.hints))[0]


def hidden_line(result: ExerciseResult) -> str:
    """``N more checks run at grading (they cover: ...)``: what a learner may know of
    the hidden tests, their number and the instructor's one-line description."""
    count = result.hidden_at_grading
    cover = result.exercise.hidden_cover or "more cases of this exercise"
    return f"{count} more check{'s' if count > 1 else ''} run at grading (they cover: {cover})"


def render_table(submission: SubmissionResult, *, messages: bool = True) -> str:
    """A table of ``submission``'s exercises with totals.

    :param submission: the graded submission.
    :param messages: under each failed exercise, show its first message and hint.
        Default True.
    """
    rows = [("exercise", "title", "tests", "score")]
    for result in submission.exercises:
        rows.append(
            (
                result.exercise.id,
                result.exercise.title,
                f"{result.tests - result.failed}/{result.tests}",
                f"{_number(result.score)}/{_number(result.exercise.points)}",
            )
        )
    tests = sum(result.tests for result in submission.exercises)
    failed = sum(result.failed for result in submission.exercises)
    rows.append(
        (
            "total",
            f"{submission.passed} of {len(submission.exercises)} exercises passed",
            f"{tests - failed}/{tests}",
            f"{_number(submission.score)}/{_number(submission.max_score)}",
        )
    )
    widths = [max(len(row[column]) for row in rows) for column in range(4)]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(width) for cell, width in zip(row, widths, strict=True)
        ).rstrip()

    out = [f"{submission.label}  ({submission.seconds:.1f} s)", line(rows[0])]
    for result, row in zip(submission.exercises, rows[1:-1], strict=True):
        out.append(line(row))
        if messages and not result.passed:
            shown = decisive_lines(result.messages[0]) if result.messages else ["no tests ran"]
            out.append(f"{'':{widths[0]}}  ✗ {shown[0]}")
            out.extend(f"{'':{widths[0]}}    {line.strip()}" for line in shown[1:])
            out.append(f"{'':{widths[0]}}  hint: {first_hint(result)}")
    out.append(line(rows[-1]))
    return "\n".join(out)


def decisive_lines(message: str) -> list[str]:
    """The lines of a failure ``message`` a table shows: its first line and, when the
    learner's code raised, the exception and where (``Your server, ... raised ...``
    and the cell and line under it), which often say more than the first line."""
    lines = message.splitlines()
    shown = lines[:1]
    for number, line in enumerate(lines[1:], start=1):
        if line.startswith("Your server, "):
            shown.append(line)
            if number + 1 < len(lines) and lines[number + 1].startswith(" "):
                shown.append(lines[number + 1])
            break
    return shown


def to_json(submissions: Sequence[SubmissionResult]) -> dict[str, Any]:
    """One submission's result object, or ``{"submissions": [...]}`` for several."""
    if len(submissions) == 1:
        return submissions[0].to_json()
    return {"submissions": [submission.to_json() for submission in submissions]}


def write_json(submissions: Sequence[SubmissionResult], path: Path) -> None:
    """Write :func:`to_json` of ``submissions`` to ``path``."""
    path.write_text(json.dumps(to_json(submissions), indent=2) + "\n", encoding="utf-8")


def write_csv(submissions: Sequence[SubmissionResult], path: Path) -> None:
    """One gradebook row per submission: its path, each exercise's score, the totals."""
    ids: list[str] = []
    for submission in submissions:
        ids.extend(
            result.exercise.id for result in submission.exercises if result.exercise.id not in ids
        )
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", *ids, "score", "max_score", "passed", "total"])
        for submission in submissions:
            scores = {result.exercise.id: result.score for result in submission.exercises}
            writer.writerow(
                [
                    submission.label,
                    *(
                        _number(scores[exercise_id]) if exercise_id in scores else ""
                        for exercise_id in ids
                    ),
                    _number(submission.score),
                    _number(submission.max_score),
                    submission.passed,
                    len(submission.exercises),
                ]
            )
