"""The pytest plugin of the exercise tests: the ``impl`` and ``reference`` fixtures,
the time limit of every test, and the harness that turns outcomes into results.

``tests/exercises/conftest.py`` loads it (``pytest_plugins = [...]``). Under a
grading run (:func:`roomkit.course.grading.run_tests`), a :class:`Harness`
registered with pytest chooses what ``impl`` is and collects a
:class:`~roomkit.course.results.TestResult` per test, with a message meant for
the learner instead of a traceback. Under a plain ``pytest``, ``impl`` is the
reference itself, so the suite proves that every test passes on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from collections.abc import Callable, Generator, Iterable
from pathlib import Path
from typing import Any

import pytest

from roomkit.course.failures import BrokenTest, ExerciseFailure, ExerciseTimeout, describe_exception
from roomkit.course.implementations import (
    Implementation,
    Source,
    exercise_cells,
    load,
    notebook_of,
    reference,
)
from roomkit.course.manifest import Course, Exercise, find_course_root, load_course
from roomkit.course.recording import (
    RecordedReference,
    Reference,
    ReferenceRecorder,
    ReferenceSource,
    scenario_key,
)
from roomkit.course.remote import CandidateHost
from roomkit.course.remote_implementation import RemoteImplementation
from roomkit.course.results import Outcome, TestResult

__all__ = [
    "HARNESS",
    "HIDDEN_MARK",
    "TEST_TIME_LIMIT",
    "Harness",
    "Progress",
    "bound_in_time",
    "describe_test",
    "impl",
    "is_hidden",
    "reference_impl",
]

# @pytest.mark.hidden on a test (or ``pytestmark`` on a module): run at grading only.
HIDDEN_MARK = "hidden"

TEST_TIME_LIMIT = 15.0

Progress = Callable[[TestResult], None]


def describe_test(item: pytest.Item) -> str:
    """What ``item`` checks, in words: its docstring's first paragraph, else its name."""
    function = getattr(item, "function", None)
    doc = inspect.getdoc(function) if function is not None else None
    if doc:
        paragraph = doc.split("\n\n", 1)[0]
        return " ".join(paragraph.split()).rstrip(".")
    return item.name.removeprefix("test_").replace("_", " ")


def _outcome(error: BaseException) -> tuple[Outcome, str]:
    """``(outcome, message)`` for a test that raised ``error``."""
    if isinstance(error, ExerciseTimeout):
        return Outcome.TIMED_OUT, str(error)
    if isinstance(error, ExerciseFailure):
        return Outcome.FAILED, str(error)
    # pytest-timeout's own limit (grading in the main thread) fails the test this way.
    if type(error).__name__ == "Failed" and str(error).startswith("Timeout"):
        return Outcome.TIMED_OUT, f"timed out ({error})"
    if isinstance(error, AssertionError):
        return Outcome.FAILED, str(error) or "an assertion failed"
    if isinstance(error, BrokenTest):
        return Outcome.FAILED, f"this test is broken, tell your instructor: {error}"
    return Outcome.FAILED, describe_exception(error)


class Harness:
    """A grading run's plugin: which implementation to test, and the results collected.

    :param course: the course.
    :param source: what to test (see :data:`roomkit.course.implementations.Source`).
    :param progress: called with each test's result as it completes, or None.
    :param host: where a submission's code runs (a notebook or folder ``source``
        only), or None to run it in this process. Default None.
    :param reference: where the reference side comes from. Default ``"live"``.
    :param hidden: run the hidden tests too; else they are deselected and counted
        in :attr:`hidden_left_out`. Default True.
    """

    def __init__(
        self,
        course: Course,
        source: Source,
        progress: Progress | None,
        host: CandidateHost | None = None,
        *,
        reference: ReferenceSource = "live",
        hidden: bool = True,
    ) -> None:
        self.course = course
        self.source = source
        self.progress = progress
        self.host = host
        self.reference = reference
        self.hidden = hidden
        self.results: dict[str, TestResult] = {}
        self.broken: list[str] = []
        self.hidden_left_out: dict[str, int] = {}
        self.recorders: dict[str, dict[str, ReferenceRecorder]] = {}
        self._loaded: dict[str, Implementation] = {}

    def reference_side(self, exercise: Exercise, key: str) -> Reference:
        """The reference side of test ``key`` of ``exercise``, as :attr:`reference` says."""
        if self.reference == "recorded":
            return RecordedReference.load(self.course, exercise, key)
        live = reference(self.course, exercise)
        if self.reference == "record":
            recorder = ReferenceRecorder(live)
            self.recorders.setdefault(exercise.id, {})[key] = recorder
            return recorder
        return live

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        if self.hidden:
            return
        left_out = [item for item in items if is_hidden(item, self.course)]
        for item in left_out:
            exercise_id = str(getattr(getattr(item, "module", None), "EXERCISE", "?"))
            self.hidden_left_out[exercise_id] = self.hidden_left_out.get(exercise_id, 0) + 1
        if left_out:
            items[:] = [item for item in items if item not in left_out]
            config.hook.pytest_deselected(items=left_out)

    def implementation(self, exercise: Exercise) -> Implementation:
        """The candidate for ``exercise``, loaded once per run."""
        if exercise.id not in self._loaded:
            if self.host is not None and isinstance(self.source, Path):
                self._loaded[exercise.id] = self._remote(self.source, exercise, self.host)
            else:
                self._loaded[exercise.id] = load(self.source, self.course, exercise)
        return self._loaded[exercise.id]

    @staticmethod
    def _remote(source: Path, exercise: Exercise, host: CandidateHost) -> Implementation:
        """The exercise's cells, read here and run in ``host`` on first use."""
        path = notebook_of(source, exercise)
        if isinstance(path, Implementation):
            return path
        cells = exercise_cells(path, exercise)
        if isinstance(cells, Implementation):
            return cells
        return RemoteImplementation(str(path), exercise, host=host, cells=cells, notebook=path.name)

    def pytest_configure(self, config: pytest.Config) -> None:
        config.stash[HARNESS] = self

    def pytest_unconfigure(self) -> None:
        if self.host is not None:
            self.host.close()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, Any, None]:
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        exercise_id = str(getattr(getattr(item, "module", None), "EXERCISE", "?"))
        earlier = self.results.get(item.nodeid)
        # The first failure (setup, call or teardown) is the one worth reading.
        if (report.failed or report.skipped) and (earlier is None or earlier.passed):
            error = call.excinfo.value if call.excinfo is not None else None
            if report.skipped:
                kind, message = Outcome.FAILED, f"skipped: {report.longreprtext}"
            elif error is None:
                kind, message = Outcome.FAILED, report.longreprtext
            else:
                kind, message = _outcome(error)
            self.results[item.nodeid] = TestResult(
                exercise_id,
                describe_test(item),
                kind,
                message,
                test_id=item.nodeid,
                hidden=is_hidden(item, self.course),
            )
        elif report.when == "call" and report.passed:
            self.results[item.nodeid] = TestResult(
                exercise_id,
                describe_test(item),
                Outcome.PASSED,
                test_id=item.nodeid,
                hidden=is_hidden(item, self.course),
            )
        if report.when == "teardown" and self.progress is not None:
            result = self.results.get(item.nodeid)
            if result is not None:
                self.progress(result)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.broken.append(f"{report.nodeid}: {report.longreprtext.strip()[-600:]}")


HARNESS = pytest.StashKey[Harness]()


def is_hidden(item: pytest.Item, course: Course) -> bool:
    """Whether ``item`` is a hidden test: marked ``hidden``, or in a module that an
    exercise's ``hidden_tests`` names."""
    if item.get_closest_marker(HIDDEN_MARK) is not None:
        return True
    return any(item.path.name == exercise.hidden_tests for exercise in course.exercises)


def _course_and_exercise(request: pytest.FixtureRequest) -> tuple[Course, Exercise]:
    harness = request.config.stash.get(HARNESS, None)
    if harness is not None:
        course = harness.course
    else:
        course = load_course(find_course_root(request.path.parent))
    exercise_id = getattr(request.module, "EXERCISE", None)
    if not isinstance(exercise_id, str):
        raise RuntimeError(f"{request.path.name} must set EXERCISE = '<id>' at module level")
    return course, course.exercise(exercise_id)


@pytest.fixture
def impl(request: pytest.FixtureRequest) -> Implementation:
    """The implementation under test: the grading run's choice, else the reference."""
    course, exercise = _course_and_exercise(request)
    harness = request.config.stash.get(HARNESS, None)
    if harness is not None:
        implementation = harness.implementation(exercise)
        if isinstance(implementation, RemoteImplementation):
            # Start its host and load its cells now, outside the test's time limit
            # (a load that fails fails the test with the same message, in the judge).
            with contextlib.suppress(ExerciseFailure):
                implementation.load()
        return implementation
    return reference(course, exercise)


@pytest.fixture(name="reference")
def reference_impl(request: pytest.FixtureRequest) -> Reference:
    """The reference side of the requesting test: the grading run's choice (live,
    recorded, recording), else the live reference."""
    course, exercise = _course_and_exercise(request)
    harness = request.config.stash.get(HARNESS, None)
    if harness is not None:
        return harness.reference_side(exercise, scenario_key(request.path.name, request.node.name))
    return reference(course, exercise)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{HIDDEN_MARK}: a test run only at grading, never shown")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every exercise test gets a time limit; running out fails it as "timed out".
    bound_in_time(items)


def bound_in_time(items: Iterable[pytest.Item], seconds: float = TEST_TIME_LIMIT) -> None:
    """Give every coroutine test of an exercise (a module that sets ``EXERCISE``) a time limit.

    A test module may set ``TIME_LIMIT = <seconds>`` to change it. The limit is
    enforced with asyncio, so it also holds where pytest-timeout's signals cannot
    (off the main thread); when it strikes, the test fails as "timed out".
    """
    for item in items:
        function = getattr(item, "obj", None)
        if not (
            isinstance(item, pytest.Function)
            and inspect.iscoroutinefunction(function)
            and hasattr(item.module, "EXERCISE")
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
