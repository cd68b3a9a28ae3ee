"""Run exercise tests against a chosen implementation and collect readable results.

pytest runs in this process (``pytest.main``) on the exercises' test modules in
``tests/exercises/``, with a :class:`~roomkit.course.pytest_plugin.Harness` that
chooses the implementation under test and turns every test's outcome into a
:class:`~roomkit.course.results.TestResult`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from roomkit.course import pytest_plugin
from roomkit.course.implementations import Source
from roomkit.course.manifest import Course, Exercise
from roomkit.course.pytest_plugin import Harness, Progress
from roomkit.course.recording import ReferenceSource, hidden_count
from roomkit.course.remote import CandidateHost
from roomkit.course.results import ExerciseResult, SubmissionResult
from roomkit.course.sandbox import SandboxMode, resolve

__all__ = ["grade", "run_harness", "run_tests"]


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
        # The course's own warning filters (filterwarnings = error) are for its
        # test suite: a learner's DeprecationWarning must not fail grading when
        # `await check` passes it.
        "-p",
        "no:warnings",
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
    sealed: bool | None = None,
    reference: ReferenceSource = "live",
    hidden: bool = True,
) -> list[ExerciseResult]:
    """Run the tests of ``exercises`` against ``source``.

    :param course: the course.
    :param exercises: which exercises.
    :param source: what to test (see :data:`roomkit.course.implementations.Source`).
    :param in_thread: set when not on the main thread (``check`` in a kernel). Default False.
    :param progress: called with each test's result as it completes. Default None.
    :param sealed: for a notebook or folder ``source``: run its code in a
        candidate host under bubblewrap (True), in a plain child process (False),
        or in this process (None). Default None.
    :param reference: where the reference side comes from (see
        :data:`roomkit.course.recording.ReferenceSource`). Default ``"live"``.
    :param hidden: run the hidden tests too. Default True; when False, each
        result counts them in ``hidden_at_grading``.
    """
    harness = Harness(course, source, progress, reference=reference, hidden=hidden)
    return run_harness(harness, exercises, in_thread=in_thread, sealed=sealed)


def run_harness(
    harness: Harness,
    exercises: Iterable[Exercise],
    *,
    in_thread: bool = False,
    sealed: bool | None = None,
) -> list[ExerciseResult]:
    """Run the tests of ``exercises`` under ``harness`` (see :func:`run_tests`).

    :param harness: the run's plugin: what to test, the reference side, hidden or not.
    :param exercises: which exercises.
    :param in_thread: see :func:`run_tests`. Default False.
    :param sealed: see :func:`run_tests`. Default None.
    """
    course = harness.course
    exercises = list(exercises)
    results = {exercise.id: ExerciseResult(exercise) for exercise in exercises}
    paths = []
    for exercise in exercises:
        path = course.test_path(exercise)
        if path.exists():
            paths.append(path)
        else:
            results[exercise.id].problem = f"no tests: {path} does not exist"
        hidden_path = course.hidden_test_path(exercise)
        if hidden_path is not None and hidden_path.exists():
            paths.append(hidden_path)
    if paths:
        host = None
        if sealed is not None and isinstance(harness.source, Path):
            # The host may import the test modules (hidden ones too) to build servers.
            host = harness.host = CandidateHost(paths, sealed=sealed)
        _purge_test_modules(course.tests_dir)
        try:
            # The plugin module goes in already registered: the exercise tests'
            # conftest names it too, and pytest would warn that it cannot rewrite
            # the asserts of a module imported before it started.
            status = pytest.main(
                _pytest_args(course, paths, in_thread), plugins=[pytest_plugin, harness]
            )
        finally:
            _purge_test_modules(course.tests_dir)
            if host is not None:
                host.close()  # also when pytest ended before unconfiguring the harness
        for test in harness.results.values():
            target = results.get(test.exercise_id)
            if target is not None:
                target.results.append(test)
        for exercise in exercises:
            result = results[exercise.id]
            if not harness.hidden:
                # A release has no hidden tests to count: its recordings say how many.
                result.hidden_at_grading = max(
                    harness.hidden_left_out.get(exercise.id, 0), hidden_count(course, exercise)
                )
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
    sandbox: SandboxMode = "auto",
    reference: ReferenceSource | None = None,
) -> SubmissionResult:
    """Grade one submission: a notebook file, or a folder of notebooks.

    The submission's code runs in a candidate host of its own (see
    :mod:`roomkit.course.remote`); the tests, the reference and the verdict stay
    in this process.

    :param course: the course.
    :param path: the submission.
    :param exercises: which exercises. Default: for a file, the exercises of
        that notebook; for a folder, every exercise of the course.
    :param progress: see :func:`run_tests`. Default None.
    :param sandbox: ``"auto"``: sealed by bubblewrap when it works here, else a
        plain child process (with a one-line warning on stderr, once);
        ``"require"``: sealed or refuse; ``"off"``: the submission's code in this
        process (for the course's own tests of the harness). Default ``"auto"``.
    :raises SandboxUnavailable: under ``"require"`` without a working bubblewrap.
    :param reference: where the reference side comes from. Default: live from
        ``solutions/`` when the course has it (the instructor's copy), else the
        recordings (a student release).
    """
    sealed = None if sandbox == "off" else resolve(sandbox)
    started = time.perf_counter()
    if exercises is None:
        exercises = course.exercises if path.is_dir() else course.in_notebook(path.name)
    if reference is None:
        reference = "live" if course.solutions_dir.is_dir() else "recorded"
    # Hidden tests are never recorded: they run against the live reference only.
    results = run_tests(
        course,
        exercises,
        path,
        progress=progress,
        sealed=sealed,
        reference=reference,
        hidden=reference == "live",
    )
    return SubmissionResult(str(path), results, time.perf_counter() - started)
