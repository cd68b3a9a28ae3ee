"""The class's gradebook: a student id per submission, per-exercise and per-test scores.

A submission's student id is its folder's name (for a notebook file, the
folder holding it), or what ``--roster roster.csv`` maps that name to: a CSV
with a ``submission`` column (the folder names) and a ``student_id`` column;
other columns (a name, an email) are kept in the gradebook. The gradebook is
written as CSV (one row per student: each exercise's score, each test's score,
totals, grading time, roomkit version) or JSON (the same, nested).
"""

from __future__ import annotations

import csv
import datetime
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roomkit import __version__
from roomkit.course.results import ExerciseResult, SubmissionResult, TestResult
from roomkit.errors import RoomkitError

__all__ = [
    "Roster",
    "RosterError",
    "gradebook_json",
    "submission_name",
    "test_column",
    "write_gradebook",
]

_SUBMISSION, _STUDENT = "submission", "student_id"


class RosterError(RoomkitError):
    """The roster cannot be read, or does not list a submission; the message says which."""


def submission_name(submission: SubmissionResult) -> str:
    """The name a submission goes by: its folder's (a notebook file's folder's)."""
    path = Path(submission.label)
    return path.parent.name if path.suffix == ".ipynb" else path.name


@dataclass(frozen=True)
class Roster:
    """Student ids (and other columns) by submission folder name.

    :param rows: each submission name's row, with at least ``student_id``.
    :param columns: the extra columns, in the file's order.
    """

    rows: Mapping[str, Mapping[str, str]]
    columns: tuple[str, ...] = ()

    @classmethod
    def read(cls, path: Path) -> Roster:
        """Read ``roster.csv``.

        :raises RosterError: when it cannot be read, lacks a column, or names a
            submission twice.
        """
        try:
            with path.open(newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                fields = list(reader.fieldnames or [])
                lines = list(reader)
        except OSError as error:
            raise RosterError(f"cannot read the roster {path}: {error}") from None
        missing = [name for name in (_SUBMISSION, _STUDENT) if name not in fields]
        if missing:
            raise RosterError(f"{path} needs the columns {_SUBMISSION} and {_STUDENT}")
        rows: dict[str, dict[str, str]] = {}
        for number, line in enumerate(lines, start=2):
            name = (line[_SUBMISSION] or "").strip()
            if name in rows:
                raise RosterError(f"{path} line {number}: submission {name!r} is listed twice")
            rows[name] = {key: (value or "").strip() for key, value in line.items() if key}
        extra = tuple(name for name in fields if name not in (_SUBMISSION, _STUDENT))
        return cls(rows, extra)

    def student(self, submission: SubmissionResult) -> Mapping[str, str]:
        """The roster's row of ``submission``.

        :raises RosterError: when the roster does not list it.
        """
        name = submission_name(submission)
        if name not in self.rows:
            raise RosterError(f"the roster lists no submission {name!r} ({submission.label})")
        return self.rows[name]


def _student(submission: SubmissionResult, roster: Roster | None) -> Mapping[str, str]:
    if roster is None:
        return {_STUDENT: submission_name(submission)}
    return roster.student(submission)


def test_column(result: ExerciseResult, test: TestResult) -> str:
    """A test's gradebook column: ``<exercise id>:<test function>``."""
    return f"{result.exercise.id}:{test.function}"


def _test_json(result: ExerciseResult, test: TestResult) -> dict[str, Any]:
    return {
        "test": test.function,
        "name": test.name,
        "hidden": test.hidden,
        "outcome": test.outcome.value,
        "score": result.test_points(test) if test.passed else 0.0,
        "max_score": result.test_points(test),
        "message": test.message,
    }


def gradebook_json(
    submissions: Sequence[SubmissionResult], roster: Roster | None = None
) -> dict[str, Any]:
    """The gradebook as JSON data.

    :param submissions: the graded submissions.
    :param roster: maps submission names to student ids. Default: the names are the ids.
    :raises RosterError: when the roster does not list a submission.
    """
    students = []
    for submission in submissions:
        student = dict(_student(submission, roster))
        students.append(
            {
                **student,
                "submission": submission.label,
                "score": submission.score,
                "max_score": submission.max_score,
                "grading_seconds": round(submission.seconds, 3),
                "exercises": [
                    {
                        "id": result.exercise.id,
                        "title": result.exercise.title,
                        "score": result.score,
                        "max_score": result.exercise.points,
                        "problem": result.problem,
                        "tests": [_test_json(result, test) for test in result.results],
                    }
                    for result in submission.exercises
                ],
            }
        )
    return {
        "roomkit_version": __version__,
        "graded_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "students": students,
    }


def _number(value: float) -> str:
    return f"{value:g}"


def write_gradebook(
    submissions: Sequence[SubmissionResult], path: Path, roster: Roster | None = None
) -> None:
    """Write the gradebook to ``path``: JSON when it ends in ``.json``, else CSV.

    :param submissions: the graded submissions.
    :param path: where.
    :param roster: see :func:`gradebook_json`. Default None.
    :raises RosterError: see :func:`gradebook_json`.
    """
    document = gradebook_json(submissions, roster)
    if path.suffix == ".json":
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        return
    exercises: dict[str, None] = {}
    tests: dict[str, None] = {}
    for submission in submissions:
        for result in submission.exercises:
            exercises[result.exercise.id] = None
            tests.update((test_column(result, test), None) for test in result.results)
    extra = list(roster.columns) if roster is not None else []
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        totals = ["score", "max_score", "grading_seconds", "graded_at", "roomkit_version"]
        writer.writerow([_STUDENT, *extra, "submission", *exercises, *tests, *totals])
        for submission, student in zip(submissions, document["students"], strict=True):
            scores = {result.exercise.id: result.score for result in submission.exercises}
            test_scores = {
                test_column(result, test): result.test_points(test) if test.passed else 0.0
                for result in submission.exercises
                for test in result.results
            }
            writer.writerow(
                [
                    student[_STUDENT],
                    *(student.get(column, "") for column in extra),
                    submission.label,
                    *(_number(scores[key]) if key in scores else "" for key in exercises),
                    *(_number(test_scores[key]) if key in test_scores else "" for key in tests),
                    _number(submission.score),
                    _number(submission.max_score),
                    f"{submission.seconds:.3f}",
                    document["graded_at"],
                    document["roomkit_version"],
                ]
            )
