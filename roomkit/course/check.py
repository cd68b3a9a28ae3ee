"""``await check("1.1")``: test an exercise against the definitions in the notebook's kernel.

::

    from roomkit.check import check
    await check("1.1")

The names the exercise defines are taken from the caller's namespace when
``check`` is called (the IPython user namespace in a notebook, else the
calling module's globals), or from ``namespace`` when given. The tests run in a
worker thread (``asyncio.to_thread``) with an event loop of its own, so they
cannot deadlock against servers the notebook started on the kernel's loop.
``check`` reports by printing and never raises: a failed check leaves the rest
of the notebook runnable (under nbval too). It returns a :class:`CheckReport`.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from roomkit.course.manifest import Exercise, load_course
from roomkit.course.reports import render_check
from roomkit.errors import RoomkitError

__all__ = ["CHECK_TIMEOUT", "CheckReport", "check"]

CHECK_TIMEOUT = 60.0


_running = threading.Lock()  # one check at a time, even if an earlier one overran
_failures: dict[str, int] = {}  # failed checks per exercise, to reveal one more hint each time


@dataclass
class CheckReport:
    """What one ``check`` found.

    :param exercise_id: the exercise checked.
    :param text: the report as printed.
    :param passed: whether every test passed.
    :param tests: how many tests ran.
    :param failed: how many of them did not pass.
    :param seconds: wall time of the check.
    """

    exercise_id: str
    text: str
    passed: bool = False
    tests: int = 0
    failed: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        return self.text

    def _ipython_display_(self) -> None:
        """Show nothing: :func:`check` printed the report already (``print(report)``
        shows it again)."""


def _caller_namespace(depth: int) -> Mapping[str, Any]:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None:
        namespace: Mapping[str, Any] = shell.user_ns
        return namespace
    return sys._getframe(depth + 1).f_globals


def check(
    exercise_id: str, namespace: Mapping[str, Any] | None = None
) -> Coroutine[Any, Any, CheckReport]:
    """Test exercise ``exercise_id`` against the live definitions; await the result.

    :param exercise_id: e.g. ``"1.1"``.
    :param namespace: where to find the names the exercise defines. Default:
        looked up now, in the IPython user namespace or the caller's globals.
    :returns: a coroutine; awaiting it prints the report and returns a :class:`CheckReport`.
    """
    if namespace is None:
        namespace = _caller_namespace(1)
    return _check(exercise_id, namespace)


def _run_locked(exercise: Exercise, names: dict[str, Any]) -> Any:
    from roomkit.course.grading import run_tests  # imports pytest: only when a check runs
    from roomkit.course.recording import check_source

    if not _running.acquire(blocking=False):
        return None
    try:
        course = load_course()
        # Against the recorded reference, without the hidden tests (they are counted).
        reference = check_source(course, exercise)
        return run_tests(
            course, [exercise], names, in_thread=True, reference=reference, hidden=False
        )[0]
    finally:
        _running.release()


async def _check(exercise_id: str, namespace: Mapping[str, Any]) -> CheckReport:
    started = time.perf_counter()
    try:
        exercise = load_course().exercise(exercise_id)
    except RoomkitError as error:
        return _report(CheckReport(exercise_id, f"check: {error}"))
    # The names as they are now: a later redefinition does not leak into this check.
    names = {name: namespace[name] for name in exercise.defines if name in namespace}
    try:
        result = await asyncio.wait_for(
            asyncio.to_thread(_run_locked, exercise, names), CHECK_TIMEOUT
        )
    except asyncio.TimeoutError:
        return _report(
            CheckReport(
                exercise_id,
                f"Exercise {exercise.id}: timed out after {CHECK_TIMEOUT:g} s. Is a handler "
                "blocking the event loop (time.sleep, a busy loop)? Use await asyncio.sleep.",
                seconds=time.perf_counter() - started,
            )
        )
    if result is None:
        return _report(
            CheckReport(
                exercise_id,
                "check: an earlier check is still running (a handler may be blocking); "
                "restart the kernel if this persists",
            )
        )
    seconds = time.perf_counter() - started
    if result.passed:
        _failures.pop(exercise.id, None)
        revealed = 0
    else:
        _failures[exercise.id] = _failures.get(exercise.id, 0) + 1
        revealed = min(_failures[exercise.id], len(exercise.hints))
    report = CheckReport(
        exercise_id,
        render_check(result, seconds, hints=revealed),
        passed=result.passed,
        tests=result.tests,
        failed=result.failed,
        seconds=seconds,
    )
    return _report(report)


def _report(report: CheckReport) -> CheckReport:
    print(report.text, flush=True)
    return report
