"""A graded submission as one line of JSON: the grading worker's report and the results file.

A record holds every test's outcome, so the grader rebuilds the full
:class:`~roomkit.course.results.SubmissionResult` from it (tables, JSON and CSV
come from the same place as ever). Reading a record checks it against what was
asked: a record that names other exercises, or is not well formed, is refused
with :class:`BadRecord`, never half-read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from roomkit.course.manifest import Course, Exercise
from roomkit.course.results import ExerciseResult, Outcome, SubmissionResult, TestResult
from roomkit.errors import RoomkitError

__all__ = ["BadRecord", "Row", "failed_row", "read_record", "write_record"]


class BadRecord(RoomkitError):
    """A record that is not well formed or does not answer what was asked."""


@dataclass
class Row:
    """One submission's row in the class's results.

    :param result: the grade.
    :param selection: the exercise ids it was asked to be graded on, in course order.
    :param notebooks: for each course notebook name, the submitted file graded for it.
        Default: none.
    :param notes: what an instructor should know about how it was graded. Default: none.
    """

    result: SubmissionResult
    selection: list[str]
    notebooks: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Every exercise passed."""
        return all(exercise.passed for exercise in self.result.exercises)

    def to_json(self) -> dict[str, Any]:
        """The row as ``roomkit grade --json`` writes it."""
        return {**self.result.to_json(), "notebooks": self.notebooks, "notes": self.notes}


def failed_row(
    label: str, exercises: Sequence[Exercise], problem: str, seconds: float = 0.0
) -> Row:
    """A row in which every exercise of ``exercises`` scores 0 because of ``problem``."""
    results = [ExerciseResult(exercise, problem=problem) for exercise in exercises]
    return Row(SubmissionResult(label, results, seconds), [e.id for e in exercises])


def write_record(row: Row) -> str:
    """``row`` as one line of JSON (with its newline)."""
    record = {
        "submission": row.result.label,
        "selection": row.selection,
        "seconds": round(row.result.seconds, 3),
        "exercises": [
            {
                "id": result.exercise.id,
                "problem": result.problem,
                "tests": [
                    {
                        "name": test.name,
                        "outcome": test.outcome.value,
                        "message": test.message,
                        "test_id": test.test_id,
                        "hidden": test.hidden,
                    }
                    for test in result.results
                ],
                "hidden_at_grading": result.hidden_at_grading,
            }
            for result in row.result.exercises
        ],
        "notebooks": row.notebooks,
        "notes": row.notes,
    }
    return json.dumps(record, ensure_ascii=False) + "\n"


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise BadRecord(f"{what} is not a string")
    return value


def _boolean(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise BadRecord(f"{what} is not true or false")
    return value


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list):
        raise BadRecord(f"{what} is not a list")
    return [_string(item, what) for item in value]


def _exercise(course: Course, entry: Any) -> ExerciseResult:
    if not isinstance(entry, dict) or not isinstance(entry.get("tests"), list):
        raise BadRecord("an exercise entry is not an object with tests")
    try:
        exercise = course.exercise(_string(entry.get("id"), "an exercise id"))
        tests = [
            TestResult(
                exercise.id,
                _string(test["name"], "a test name"),
                Outcome(test["outcome"]),
                _string(test["message"], "a test message"),
                _string(test["test_id"], "a test id"),
                hidden=_boolean(test["hidden"], "a hidden flag"),
            )
            for test in entry["tests"]
        ]
        hidden_at_grading = entry["hidden_at_grading"]
        if isinstance(hidden_at_grading, bool) or not isinstance(hidden_at_grading, int):
            raise BadRecord("a hidden test count is not a number")
    except (KeyError, TypeError, ValueError) as error:
        raise BadRecord(f"an exercise entry is malformed: {error!r}") from None
    problem = _string(entry.get("problem", ""), "a problem")
    return ExerciseResult(exercise, tests, problem, hidden_at_grading)


def read_record(course: Course, line: str, expected: Sequence[str] | None = None) -> Row:
    """The row that ``line`` records.

    :param course: the course its exercises belong to.
    :param line: one line of JSON, as :func:`write_record` writes it.
    :param expected: the exercise ids it must answer, in order. Default: whatever
        its selection says.
    :raises BadRecord: when it is not such a line, or answers other exercises.
    """
    try:
        record = json.loads(line)
    except ValueError as error:
        raise BadRecord(f"not JSON: {error}") from None
    if not isinstance(record, dict) or not isinstance(record.get("exercises"), list):
        raise BadRecord("not a submission record")
    selection = _strings(record.get("selection"), "the selection")
    exercises = [_exercise(course, entry) for entry in record["exercises"]]
    answered = [result.exercise.id for result in exercises]
    if answered != selection or (expected is not None and answered != list(expected)):
        raise BadRecord(f"it answers exercises {answered}, not {list(expected or selection)}")
    seconds = record.get("seconds")
    if not isinstance(seconds, (int, float)):
        raise BadRecord("seconds is not a number")
    notebooks = record.get("notebooks", {})
    if not isinstance(notebooks, dict):
        raise BadRecord("notebooks is not an object")
    label = _string(record.get("submission"), "the submission")
    return Row(
        SubmissionResult(label, exercises, float(seconds)),
        selection,
        {_string(key, "a notebook"): _string(value, "a file") for key, value in notebooks.items()},
        _strings(record.get("notes", []), "the notes"),
    )
