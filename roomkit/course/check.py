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
of the notebook runnable (under nbval too), and an interrupted one says so in a
line instead of a ``CancelledError``. It returns a :class:`CheckReport`.

A :class:`~roomkit.course.watchdog.LoopWatch` watches the worker thread: a
handler that blocks its event loop (``time.sleep``, a busy loop) fails the
check with the line that blocked, and a long block is broken so that the check
ends within its tests' time limits and the next check can run.

Importing :mod:`roomkit.check` in a Jupyter kernel (the setup cell) runs
:func:`warm_up`: the stop button then interrupts a check at once, and the first
check finds pytest and the course imported, the reference solutions loaded and
pytest run once.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any

from roomkit.course.interrupts import wake_loop_on_signals
from roomkit.course.manifest import Exercise, load_course
from roomkit.course.reports import render_check
from roomkit.course.results import ExerciseResult
from roomkit.course.watchdog import Block, LoopWatch
from roomkit.errors import RoomkitError

__all__ = [
    "CHECK_TIMEOUT",
    "LOCK_WAIT",
    "CheckReport",
    "PendingCheck",
    "check",
    "pytest_lock",
    "warm_up",
    "warmed",
]

CHECK_TIMEOUT = 60.0
# How long a check waits for the warm-up or an earlier check (interrupted, its
# blocking handler being broken) to finish before saying one is still running.
LOCK_WAIT = 20.0

# One pytest run at a time in this process (checks, progress, the warm-up):
# pytest.main is not thread-safe.
pytest_lock = threading.Lock()
_watches: list[LoopWatch] = []  # the running check's watch, to hurry it on an interrupt
warmed = threading.Event()  # set when warm_up has finished (or was never started)
warmed.set()
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


class PendingCheck:
    """What :func:`check` returns: awaiting it runs the check.

    Shown without ``await`` (``check("0.1")`` alone in a cell), it says how to run it,
    where a coroutine would show only its repr; it runs nothing until awaited.

    :param exercise_id: the exercise to check.
    :param namespace: where to find the names the exercise defines.
    """

    def __init__(self, exercise_id: str, namespace: Mapping[str, Any]) -> None:
        self.exercise_id = exercise_id
        self.namespace = namespace

    def __await__(self) -> Generator[Any, None, CheckReport]:
        return _check(self.exercise_id, self.namespace).__await__()

    def __repr__(self) -> str:
        return (
            f'check("{self.exercise_id}") has not run: write '
            f'await check("{self.exercise_id}"), with await, to run it'
        )


def check(exercise_id: str, namespace: Mapping[str, Any] | None = None) -> PendingCheck:
    """Test exercise ``exercise_id`` against the live definitions; await the result.

    :param exercise_id: e.g. ``"1.1"``.
    :param namespace: where to find the names the exercise defines. Default:
        looked up now, in the IPython user namespace or the caller's globals.
    :returns: an awaitable; awaiting it prints the report and returns a :class:`CheckReport`.
    """
    if namespace is None:
        namespace = _caller_namespace(1)
    return PendingCheck(exercise_id, namespace)


def _run_locked(
    exercise: Exercise, names: dict[str, Any]
) -> tuple[ExerciseResult, list[Block]] | None:
    from roomkit.course.grading import run_tests  # imports pytest: only when a check runs
    from roomkit.course.recording import check_source

    if not pytest_lock.acquire(timeout=LOCK_WAIT):
        return None
    try:
        course = load_course()
        # Against the recorded reference, without the hidden tests (they are counted).
        reference = check_source(course, exercise)
        with LoopWatch(threading.get_ident()) as watch:
            _watches.append(watch)
            try:
                result = run_tests(
                    course, [exercise], names, in_thread=True, reference=reference, hidden=False
                )[0]
            finally:
                _watches.remove(watch)
        return result, watch.blocks
    finally:
        pytest_lock.release()


def _blocked(blocks: list[Block]) -> str:
    """The diagnosis of the blocks a check saw, for the top of its report."""
    first = blocks[0]
    stopped = " (the check interrupted it there)" if first.broken else ""
    more = f", and {len(blocks) - 1} more time(s)" if len(blocks) > 1 else ""
    return (
        f"your code blocked the event loop for {first.seconds:.1f} s{stopped}{more}:\n"
        f"        {first.where}\n"
        "      While a handler blocks, the server answers no one. Never call time.sleep "
        "or loop without awaiting in a handler: use await asyncio.sleep(...)."
    )


def _warm(exercise: Exercise) -> None:
    try:
        # The imports, the course and the reference solutions a check needs, and
        # one pytest run: the reference's own check of the first exercise.
        from roomkit.course.grading import run_tests
        from roomkit.course.implementations import reference

        with pytest_lock:
            course = load_course()
            run_tests(course, [exercise], None, in_thread=True)
        # Outside the lock: a check that comes now loads its own reference.
        for each in course.exercises:
            reference(course, each)
    except Exception:  # warming is an optimisation: the check itself reports problems
        pass
    finally:
        warmed.set()


def warm_up() -> None:
    """Prepare checks, only in a Jupyter kernel: make its stop button reach a running
    check at once (:mod:`roomkit.course.interrupts`), and warm the first check in a
    background thread (once)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or getattr(shell, "kernel", None) is None:
        return
    with contextlib.suppress(RuntimeError):  # no running loop: imported outside a cell
        wake_loop_on_signals(asyncio.get_running_loop())
    if not warmed.is_set():
        return
    try:
        exercise = load_course().exercises[0]
    except (RoomkitError, IndexError):
        return
    warmed.clear()
    threading.Thread(target=_warm, args=(exercise,), name="roomkit-warm-up", daemon=True).start()


async def _check(exercise_id: object, namespace: Mapping[str, Any]) -> CheckReport:
    started = time.perf_counter()
    if not isinstance(exercise_id, str):  # check(2.1): a float would lose "2.10"'s zero
        return _report(
            CheckReport(
                str(exercise_id),
                f'check: write the exercise id as a string in quotes: await check("{exercise_id}")',
            )
        )
    try:
        exercise = load_course().exercise(exercise_id)
    except RoomkitError as error:
        return _report(CheckReport(exercise_id, f"check: {error}"))
    # The names as they are now: a later redefinition does not leak into this check.
    names = {name: namespace[name] for name in exercise.defines if name in namespace}
    try:
        outcome = await asyncio.wait_for(
            asyncio.to_thread(_run_locked, exercise, names), CHECK_TIMEOUT
        )
    except asyncio.CancelledError:
        # The learner interrupted the cell: the worker ends its tests on its own
        # (a blocking handler broken at once), and the next check waits for it.
        for watch in _watches:
            watch.hurry()
        return _report(
            CheckReport(
                exercise_id,
                f"Exercise {exercise.id}: check interrupted.",
                seconds=time.perf_counter() - started,
            )
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
    if outcome is None:
        return _report(
            CheckReport(
                exercise_id,
                f"check: an earlier check is still running after {LOCK_WAIT:g} s (a handler "
                "may be stuck in time.sleep); restart the kernel if this persists",
            )
        )
    result, blocks = outcome
    if blocks:
        result.problem = _blocked(blocks)
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
