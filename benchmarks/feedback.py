"""Feedback speed: how long a learner waits for ``await check(...)`` and ``roomkit grade``.

``await check(id)`` runs in a separate Python process (like a fresh Jupyter
kernel) against each exercise's reference solution, in course order, twice: the
first pass includes the imports a learner's first check pays for, the second
is what every later check costs. ``roomkit grade solutions/`` is timed as a
command.

What a learner waits for in JupyterLab is measured in real kernels
(:func:`kernel_checks`): a fresh kernel runs the notebook's setup cells and the
exercise's reference cell, then ``await check(id)`` *cold* (at once, or after
the warm-up the setup cell starts has finished), then again *warm*. Both come
from the course machinery (``roomkit.check``, ``roomkit grade``); where they
are missing the scenario says "not available".

``python -m benchmarks.feedback`` is the probe process: it prints one JSON line.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.config import Config
from benchmarks.kernel import Kernel, running_kernel
from benchmarks.servers import REPO

__all__ = ["feedback", "kernel_checks", "probe_checks", "run_to_end"]

CHECK_DEADLINE = 90.0  # per check, on top of check's own 60 s limit
GRADE_DEADLINE = 600.0
KERNEL_EXERCISES = ("0.1", "2.1", "7.1")  # the smallest, a typical and the largest
KERNEL_RUNS = 3  # fresh kernels per exercise and case; the median is reported
_TIMED_CHECK = (
    "import time as _bench_time\n"
    "_bench_started = _bench_time.perf_counter()\n"
    "_bench_report = await check({exercise!r})\n"
    "print('roomkit-bench', _bench_time.perf_counter() - _bench_started, _bench_report.passed)"
)


async def probe_checks() -> dict[str, Any]:
    """Run every exercise's check against its reference, twice; timings in seconds."""
    from roomkit.check import check
    from roomkit.course.implementations import reference
    from roomkit.course.manifest import load_course

    course = load_course()
    passes: list[dict[str, Any]] = []
    for _ in range(2):
        timings: dict[str, Any] = {}
        for exercise in course.exercises:
            names = reference(course, exercise).names
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                report = await check(exercise.id, namespace=names)
            timings[exercise.id] = {
                "seconds": round(time.perf_counter() - started, 3),
                "passed": report.passed,
                "tests": report.tests,
            }
        passes.append(timings)
    return {"first_pass": passes[0], "second_pass": passes[1]}


def _exercise_cells(notebook: Path, exercise_id: str) -> list[str]:
    """The sources of the setup cells and the exercise's cells, in notebook order."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    wanted = {"setup", f"exercise-{exercise_id}"}
    return [
        "".join(cell["source"])
        for cell in cells
        if cell["cell_type"] == "code" and wanted & set(cell["metadata"].get("tags", []))
    ]


def _timed_check(kernel: Kernel, exercise_id: str) -> tuple[float, bool]:
    run = kernel.run(_TIMED_CHECK.format(exercise=exercise_id), timeout=CHECK_DEADLINE)
    for line in reversed(run.output.splitlines()):
        if line.startswith("roomkit-bench "):
            _, seconds, passed = line.split()
            return float(seconds), passed == "True"
    raise RuntimeError(f"check {exercise_id} in a kernel printed no timing: {run.traceback}")


def kernel_checks(runs: int = KERNEL_RUNS) -> dict[str, Any]:
    """Seconds of ``await check`` in fresh kernels, median of ``runs``, per exercise.

    :param runs: fresh kernels per exercise and case. Default :data:`KERNEL_RUNS`.
    """
    from roomkit.course.manifest import load_course

    course = load_course()
    out: dict[str, Any] = {"exercises": {}}
    for exercise_id in KERNEL_EXERCISES:
        exercise = course.exercise(exercise_id)
        cells = _exercise_cells(course.solutions_dir / exercise.notebook, exercise_id)
        times: dict[str, list[float]] = {"setup": [], "at_once": [], "warmed": [], "warm": []}
        passed = True
        for _ in range(runs):
            for case in ("at_once", "warmed"):
                with running_kernel(REPO / "notebooks") as kernel:
                    started = time.perf_counter()
                    for source in cells:
                        ran = kernel.run(source, timeout=60)
                        if ran.error is not None:
                            raise RuntimeError(f"a cell of {exercise_id} raised {ran.error}")
                    times["setup"].append(time.perf_counter() - started)
                    if case == "warmed":
                        kernel.run("import roomkit.course.check as _c\n_c.warmed.wait(60)")
                    seconds, ok = _timed_check(kernel, exercise_id)
                    times[case].append(seconds)
                    if case == "at_once":
                        warm, warm_ok = _timed_check(kernel, exercise_id)
                        times["warm"].append(warm)
                        ok = ok and warm_ok
                    passed = passed and ok
        out["exercises"][exercise_id] = {
            "passed": passed,
            "runs": runs,
            **{case: round(statistics.median(values), 3) for case, values in times.items()},
        }
    return out


async def run_to_end(argv: list[str], deadline: float) -> tuple[int | None, str, float]:
    """Run ``argv`` in the repository to its end; (status, output, seconds).

    A command that runs to completion and whose output is the result, unlike the
    long-lived children of :mod:`roomkit.processes`; None and "timed out" when it
    takes longer than ``deadline`` seconds (it is killed).
    """
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=REPO,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), deadline)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        return None, "timed out", time.perf_counter() - started
    return process.returncode, output.decode(errors="replace"), time.perf_counter() - started


async def feedback(config: Config) -> dict[str, Any]:
    """Time every exercise check and a full grade; see the module docstring."""
    if importlib.util.find_spec("roomkit.check") is None:
        return {"available": False, "reason": "roomkit.check does not exist yet"}
    from roomkit.course.manifest import load_course

    exercises = load_course().exercises
    # Other work on the machine slows every figure here: say how busy it was.
    load_average = round(os.getloadavg()[0], 2)
    deadline = min(config.timeout * 10, 60.0 + CHECK_DEADLINE * 2 * len(exercises))
    status, output, _ = await run_to_end([sys.executable, "-m", "benchmarks.feedback"], deadline)
    if status != 0:
        return {"available": False, "reason": f"the check probe failed: {output[-500:]}"}
    checks = json.loads(output.strip().splitlines()[-1])
    out: dict[str, Any] = {"available": True, "load_average": load_average, "checks": checks}
    out["kernel"] = await asyncio.to_thread(kernel_checks, 1 if config.runs == 1 else KERNEL_RUNS)
    roomkit = shutil.which("roomkit", path=str(Path(sys.executable).parent)) or "roomkit"
    status, output, _ = await run_to_end([roomkit, "grade", "--help"], 30.0)
    if status != 0:
        out["grade"] = {"available": False, "reason": "`roomkit grade` does not exist yet"}
        return out
    solutions = REPO / "solutions"
    notebooks = sorted(solutions.glob("*.ipynb"))
    with tempfile.TemporaryDirectory(prefix="roomkit-grade-") as scratch:
        report = Path(scratch) / "grade.json"
        status, output, seconds = await run_to_end(
            [
                *(roomkit, "grade", "--quiet", "--json", str(report), str(solutions)),
                *("--results", str(Path(scratch) / "grade.jsonl")),
            ],
            min(GRADE_DEADLINE, config.timeout * 10),
        )
        graded = json.loads(report.read_text()) if report.exists() else {}
    out["grade"] = {
        "available": True,
        "command": "roomkit grade --quiet --json FILE solutions/",
        "notebooks": len(notebooks),
        "exercises": len(exercises),
        "seconds": round(seconds, 2),
        "status": status if status is not None else "timed out",
        "result": {key: graded.get(key) for key in ("passed", "total", "score", "max_score")},
    }
    return out


def main() -> None:
    """Print the check timings as one JSON line."""
    with contextlib.redirect_stdout(io.StringIO()):
        timings = asyncio.run(probe_checks())
    print(json.dumps(timings))


if __name__ == "__main__":
    main()
