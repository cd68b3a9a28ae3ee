"""Run exercise tests against a chosen implementation and collect readable results.

pytest runs in this process (``pytest.main`` with a plugin) on the exercises'
test modules in ``tests/exercises/``. The plugin tells the ``impl`` fixture
which implementation to load (see :mod:`roomkit.implementations`) and turns
every test's outcome into a :class:`TestResult` whose message is meant for the
learner, not a traceback.

``tests/exercises/conftest.py`` uses :func:`candidate_for`, :func:`reference_for`
and :func:`bound_in_time`; the same tests also run under a plain ``pytest``
(against the reference, or against ``$ROOMKIT_CANDIDATE``: a notebook or a folder).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import sys
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from roomkit.feedback import BrokenTest, ExerciseFailure, ExerciseTimeout, describe_exception
from roomkit.implementations import Implementation, Source, load, reference
from roomkit.manifest import Course, Exercise, find_course_root, load_course

__all__ = [
    "CANDIDATE_ENV",
    "TEST_TIME_LIMIT",
    "ExerciseResult",
    "Progress",
    "SubmissionResult",
    "TestResult",
    "bound_in_time",
    "candidate_for",
    "grade",
    "reference_for",
    "run_tests",
]

CANDIDATE_ENV = "ROOMKIT_CANDIDATE"
TEST_TIME_LIMIT = 15.0
_PLUGIN_NAME = "roomkit-harness"

Progress = Callable[["TestResult"], None]


@dataclass(frozen=True, slots=True)
class TestResult:
    """The outcome of one exercise test.

    :param exercise_id: the exercise the test belongs to.
    :param name: what the test checks, in words (its docstring's first line).
    :param outcome: ``"passed"``, ``"failed"`` or ``"timed out"``.
    :param message: why it did not pass, for the learner. Default ``""``.
    """

    __test__ = False  # not a pytest test class, despite the name

    exercise_id: str
    name: str
    outcome: str
    message: str = ""

    @property
    def passed(self) -> bool:
        """Whether the test passed."""
        return self.outcome == "passed"


@dataclass
class ExerciseResult:
    """The results of one exercise's tests.

    :param exercise: the exercise.
    :param results: one per test, in file order.
    :param problem: why its tests could not run at all (e.g. the module is
        missing). Default ``""``.
    """

    exercise: Exercise
    results: list[TestResult] = field(default_factory=list)
    problem: str = ""

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

    @property
    def score(self) -> float:
        """``points`` times the share of tests passed, to two decimals."""
        if self.problem or not self.tests:
            return 0.0
        return round(self.exercise.points * (self.tests - self.failed) / self.tests, 2)

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


def _describe_test(item: pytest.Item) -> str:
    function = getattr(item, "function", None)
    doc = inspect.getdoc(function) if function is not None else None
    if doc:
        return doc.splitlines()[0].rstrip(".")
    return item.name.removeprefix("test_").replace("_", " ")


def _message(error: BaseException) -> tuple[str, str]:
    """``(outcome, message)`` for a test that raised ``error``."""
    if isinstance(error, ExerciseTimeout):
        return "timed out", str(error)
    if isinstance(error, ExerciseFailure):
        return "failed", str(error)
    # pytest-timeout's own limit (grading in the main thread) fails the test this way.
    if type(error).__name__ == "Failed" and str(error).startswith("Timeout"):
        return "timed out", f"timed out ({error})"
    if isinstance(error, AssertionError):
        return "failed", str(error) or "an assertion failed"
    if isinstance(error, BrokenTest):
        return "failed", f"this test is broken, tell your instructor: {error}"
    return "failed", describe_exception(error)


class _Harness:
    """The pytest plugin: which implementation to test, and the results collected."""

    def __init__(self, course: Course, source: Source, progress: Progress | None) -> None:
        self.__name__ = _PLUGIN_NAME  # pluggy registers a plugin under its __name__
        self.course = course
        self.source = source
        self.progress = progress
        self.results: dict[str, TestResult] = {}
        self.exercise_of: dict[str, str] = {}
        self.broken: list[str] = []
        self._loaded: dict[str, Implementation] = {}

    def implementation(self, exercise: Exercise) -> Implementation:
        """The candidate for ``exercise``, loaded once per run."""
        if exercise.id not in self._loaded:
            self._loaded[exercise.id] = load(self.source, self.course, exercise)
        return self._loaded[exercise.id]

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, Any, None]:
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        exercise_id = str(getattr(getattr(item, "module", None), "EXERCISE", "?"))
        self.exercise_of[item.nodeid] = exercise_id
        earlier = self.results.get(item.nodeid)
        # The first failure (setup, call or teardown) is the one worth reading.
        if (report.failed or report.skipped) and (earlier is None or earlier.passed):
            error = call.excinfo.value if call.excinfo is not None else None
            if report.skipped:
                kind, message = "failed", f"skipped: {report.longreprtext}"
            elif error is None:
                kind, message = "failed", report.longreprtext
            else:
                kind, message = _message(error)
            self.results[item.nodeid] = TestResult(exercise_id, _describe_test(item), kind, message)
        elif report.when == "call" and report.passed:
            self.results[item.nodeid] = TestResult(exercise_id, _describe_test(item), "passed")
        if report.when == "teardown" and self.progress is not None:
            result = self.results.get(item.nodeid)
            if result is not None:
                self.progress(result)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.broken.append(f"{report.nodeid}: {report.longreprtext.strip()[-600:]}")


def _purge_test_modules(tests_dir: Path) -> None:
    """Forget imported exercise test modules, so the next run imports them afresh."""
    roots = tuple({str(tests_dir.absolute()), str(tests_dir.resolve())})
    for name, module in list(sys.modules.items()):
        filename = getattr(module, "__file__", None)
        if isinstance(filename, str) and filename.startswith(roots):
            del sys.modules[name]


def _pytest_args(course: Course, paths: Sequence[Path], in_thread: bool) -> list[str]:
    args = [str(path) for path in paths]
    config = course.root / "pyproject.toml"
    if config.exists():
        args += ["-c", str(config)]
    args += [
        "--rootdir",
        str(course.root),
        "--confcutdir",
        str(course.tests_dir),
        "--import-mode=importlib",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:terminal",
        "-p",
        "no:nbval",
        "-o",
        "asyncio_mode=auto",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
    ]
    if in_thread:
        # Off the main thread (a kernel's worker): no signal-based timeout (the
        # exercise tests bound themselves with asyncio), and leave the process's
        # streams, warning filters and fault handler to the kernel.
        args += ["-o", "timeout=0", "--capture=no"]
        for plugin in (
            "faulthandler",
            "warnings",
            "logging",
            "unraisableexception",
            "threadexception",
            "hypothesispytest",
            "anyio",
            "doctest",
            "junitxml",
            "pastebin",
            "legacypath",
        ):
            args += ["-p", f"no:{plugin}"]
    return args


def run_tests(
    course: Course,
    exercises: Iterable[Exercise],
    source: Source,
    *,
    in_thread: bool = False,
    progress: Progress | None = None,
) -> list[ExerciseResult]:
    """Run the tests of ``exercises`` against ``source``.

    :param course: the course.
    :param exercises: which exercises.
    :param source: what to test (see :data:`roomkit.implementations.Source`).
    :param in_thread: set when not on the main thread (``check`` in a kernel). Default False.
    :param progress: called with each test's result as it completes. Default None.
    """
    exercises = list(exercises)
    results = {exercise.id: ExerciseResult(exercise) for exercise in exercises}
    paths = []
    for exercise in exercises:
        path = course.test_path(exercise)
        if path.exists():
            paths.append(path)
        else:
            results[exercise.id].problem = f"no tests: {path} does not exist"
    if paths:
        harness = _Harness(course, source, progress)
        _purge_test_modules(course.tests_dir)
        try:
            status = pytest.main(_pytest_args(course, paths, in_thread), plugins=[harness])
        finally:
            _purge_test_modules(course.tests_dir)
        for nodeid, test in harness.results.items():
            target = results.get(harness.exercise_of.get(nodeid, ""))
            if target is not None:
                target.results.append(test)
        for exercise in exercises:
            result = results[exercise.id]
            if not result.problem and not result.results:
                broken = "; ".join(harness.broken) or f"pytest ended with {status!r}"
                result.problem = f"the tests of exercise {exercise.id} did not run: {broken}"
    return [results[exercise.id] for exercise in exercises]


def grade(
    course: Course,
    path: Path,
    *,
    exercises: Sequence[Exercise] | None = None,
    progress: Progress | None = None,
) -> SubmissionResult:
    """Grade one submission: a notebook file, or a folder of notebooks.

    :param course: the course.
    :param path: the submission.
    :param exercises: which exercises. Default: for a file, the exercises of
        that notebook; for a folder, every exercise of the course.
    :param progress: see :func:`run_tests`. Default None.
    """
    started = time.perf_counter()
    if exercises is None:
        exercises = course.exercises if path.is_dir() else course.in_notebook(path.name)
    results = run_tests(course, exercises, path, progress=progress)
    return SubmissionResult(str(path), results, time.perf_counter() - started)


# -- for tests/exercises/conftest.py ----------------------------------------------


def _exercise_of(request: pytest.FixtureRequest, course: Course) -> Exercise:
    exercise_id = getattr(request.module, "EXERCISE", None)
    if not isinstance(exercise_id, str):
        raise RuntimeError(f"{request.path.name} must set EXERCISE = '<id>' at module level")
    return course.exercise(exercise_id)


def candidate_for(request: pytest.FixtureRequest) -> Implementation:
    """The implementation under test: the grader's choice, else ``$ROOMKIT_CANDIDATE``
    (a notebook file or a folder), else the reference."""
    harness = request.config.pluginmanager.get_plugin(_PLUGIN_NAME)
    if isinstance(harness, _Harness):
        return harness.implementation(_exercise_of(request, harness.course))
    course = load_course(find_course_root(request.path.parent))
    exercise = _exercise_of(request, course)
    chosen = os.environ.get(CANDIDATE_ENV)
    return load(Path(chosen) if chosen else None, course, exercise)


def reference_for(request: pytest.FixtureRequest) -> Implementation:
    """The reference implementation of the requesting module's exercise."""
    harness = request.config.pluginmanager.get_plugin(_PLUGIN_NAME)
    course = (
        harness.course
        if isinstance(harness, _Harness)
        else load_course(find_course_root(request.path.parent))
    )
    return reference(course, _exercise_of(request, course))


def bound_in_time(
    items: Iterable[pytest.Item], directory: Path, seconds: float = TEST_TIME_LIMIT
) -> None:
    """Give every coroutine test under ``directory`` a time limit.

    A test module may set ``TIME_LIMIT = <seconds>`` to change it. The limit is
    enforced with asyncio, so it also holds where pytest-timeout's signals cannot
    (off the main thread); when it strikes, the test fails as "timed out".
    """
    root = directory.resolve()
    for item in items:
        function = getattr(item, "obj", None)
        if not (
            isinstance(item, pytest.Function)
            and inspect.iscoroutinefunction(function)
            and item.path.resolve().is_relative_to(root)
        ):
            continue
        limit = float(getattr(item.module, "TIME_LIMIT", seconds))
        item.obj = _bounded(function, limit)


def _bounded(function: Callable[..., Any], limit: float) -> Callable[..., Any]:
    @functools.wraps(function)
    async def bounded(*args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.wait_for(function(*args, **kwargs), limit)
        except asyncio.TimeoutError:
            raise ExerciseTimeout(
                f"timed out: the test did not finish within {limit:g} s"
            ) from None

    return bounded
