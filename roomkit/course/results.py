"""Grades as data: the outcome of each test, of each exercise, of each submission.

Plain values: the graders fill them in as tests end (results, problems, hidden
counts, the submission's label); :mod:`roomkit.course.reports` and the class
exports (:mod:`roomkit.course.export`) render them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from roomkit.course.manifest import Exercise

__all__ = ["ExerciseResult", "Outcome", "SubmissionResult", "TestResult"]


class Outcome(str, enum.Enum):
    """How one test ended. A timeout is never a pass."""

    PASSED = "passed"
    FAILED = "failed"
    TIMED_OUT = "timed out"


@dataclass(frozen=True, slots=True)
class TestResult:
    """The outcome of one exercise test.

    :param exercise_id: the exercise the test belongs to.
    :param name: what the test checks, in words (its docstring's first line).
    :param outcome: passed, failed or timed out.
    :param message: why it did not pass, for the learner. Default ``""``.
    :param test_id: the test's pytest node id, for instructors. Default ``""``.
    :param hidden: a hidden test: run at grading only, never shown before. Default False.
    """

    __test__ = False  # not a pytest test class, despite the name

    exercise_id: str
    name: str
    outcome: Outcome
    message: str = ""
    test_id: str = ""
    hidden: bool = False

    @property
    def passed(self) -> bool:
        """Whether the test passed."""
        return self.outcome is Outcome.PASSED

    @property
    def function(self) -> str:
        """The test function's name (with its parameters), from :attr:`test_id`."""
        return self.test_id.rsplit("::", 1)[-1]


@dataclass
class ExerciseResult:
    """The results of one exercise's tests.

    :param exercise: the exercise.
    :param results: one per test, in file order.
    :param problem: why its tests could not run at all (e.g. the module is
        missing). Default ``""``.
    :param hidden_at_grading: how many hidden tests were left out of this run
        (``await check``) and run only at grading. Default 0.
    """

    exercise: Exercise
    results: list[TestResult] = field(default_factory=list)
    problem: str = ""
    hidden_at_grading: int = 0

    @property
    def tests(self) -> int:
        """How many tests ran."""
        return len(self.results)

    @property
    def failed(self) -> int:
        """How many tests did not pass (failed or timed out)."""
        return sum(not result.passed for result in self.results)

    @property
    def passed(self) -> bool:
        """Every test ran and passed."""
        return not self.problem and self.tests > 0 and self.failed == 0

    def test_points(self, test: TestResult) -> float:
        """What ``test`` is worth: its share (``test_points`` in the manifest, default
        1) of the exercise's points, to two decimals."""
        shares = sum(self.exercise.test_share(result.function) for result in self.results)
        if not shares:
            return 0.0
        return round(self.exercise.points * self.exercise.test_share(test.function) / shares, 2)

    @property
    def score(self) -> float:
        """``points`` times the shares of the tests passed (equal by default), to two
        decimals."""
        if self.problem or not self.tests:
            return 0.0
        shares = sum(self.exercise.test_share(result.function) for result in self.results)
        earned = sum(
            self.exercise.test_share(result.function) for result in self.results if result.passed
        )
        return round(self.exercise.points * earned / shares, 2)

    @property
    def messages(self) -> list[str]:
        """``"<test>: <why>"`` for each test that did not pass (and the problem, if any)."""
        lines = [self.problem] if self.problem else []
        lines.extend(
            f"{result.name}: {result.message}" for result in self.results if not result.passed
        )
        return lines

    def to_json(self) -> dict[str, Any]:
        """The exercise's entry in ``roomkit grade --json``."""
        return {
            "id": self.exercise.id,
            "title": self.exercise.title,
            "passed": self.passed,
            "tests": self.tests,
            "failed": self.failed,
            "score": self.score,
            "max_score": self.exercise.points,
            "messages": self.messages,
        }


@dataclass
class SubmissionResult:
    """The grade of one submission (a notebook file or a folder of notebooks).

    :param label: the submission's path, as given.
    :param exercises: one result per exercise graded, in course order.
    :param seconds: how long grading took.
    """

    label: str
    exercises: list[ExerciseResult]
    seconds: float

    @property
    def passed(self) -> int:
        """How many exercises passed."""
        return sum(result.passed for result in self.exercises)

    @property
    def score(self) -> float:
        """The sum of the exercises' scores."""
        return round(sum(result.score for result in self.exercises), 2)

    @property
    def max_score(self) -> float:
        """The sum of the exercises' points."""
        return sum(result.exercise.points for result in self.exercises)

    def to_json(self) -> dict[str, Any]:
        """The submission as ``roomkit grade --json`` writes it."""
        return {
            "submission": self.label,
            "exercises": [result.to_json() for result in self.exercises],
            "passed": self.passed,
            "total": len(self.exercises),
            "score": self.score,
            "max_score": self.max_score,
        }
