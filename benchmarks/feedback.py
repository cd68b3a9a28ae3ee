"""Feedback speed: how long a learner waits for ``await check(...)`` and ``roomkit grade``.

``await check(id)`` runs in a separate Python process (like a fresh Jupyter
kernel) against each exercise's reference solution, in course order, twice: the
first pass includes the imports a learner's first check pays for, the second
is what every later check costs. ``roomkit grade solutions/`` is timed as a
command. Both come from the course machinery (``roomkit.check``,
``roomkit grade``); where they are missing the scenario says "not available".

``python -m benchmarks.feedback`` is the probe process: it prints one JSON line.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import io
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.scenarios import Config
from benchmarks.servers import REPO

__all__ = ["feedback", "probe_checks"]

CHECK_DEADLINE = 90.0  # per check, on top of check's own 60 s limit
GRADE_DEADLINE = 600.0


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


async def _run(argv: list[str], deadline: float) -> tuple[int | None, str, float]:
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
    deadline = min(config.timeout * 10, 60.0 + CHECK_DEADLINE * 2 * len(exercises))
    status, output, _ = await _run([sys.executable, "-m", "benchmarks.feedback"], deadline)
    if status != 0:
        return {"available": False, "reason": f"the check probe failed: {output[-500:]}"}
    checks = json.loads(output.strip().splitlines()[-1])
    out: dict[str, Any] = {"available": True, "checks": checks}
    roomkit = shutil.which("roomkit", path=str(Path(sys.executable).parent)) or "roomkit"
    status, output, _ = await _run([roomkit, "grade", "--help"], 30.0)
    if status != 0:
        out["grade"] = {"available": False, "reason": "`roomkit grade` does not exist yet"}
        return out
    solutions = REPO / "solutions"
    notebooks = sorted(solutions.glob("*.ipynb"))
    with tempfile.TemporaryDirectory(prefix="roomkit-grade-") as scratch:
        report = Path(scratch) / "grade.json"
        status, output, seconds = await _run(
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
