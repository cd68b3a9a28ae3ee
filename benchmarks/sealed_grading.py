"""Sealed grading: what running each submission's code in a sandboxed candidate host costs.

One submission (the course's ``solutions/``, every exercise) is graded, in a
fresh Python process, three ways: its code in the grading process (``sandbox="off"``,
what grading did before), in a plain child process (what ``roomkit grade`` does
without bubblewrap), and sealed by bubblewrap (the default where it works). One
unmeasured grade first pays the imports. Each way runs ``config.runs`` times (at
most 3); the median is reported. Apart, the median time to start a candidate
host and get its first answer (5 starts each, plain and sealed).

``python -m benchmarks.sealed_grading [RUNS]`` is the probe process: it prints
one JSON line.
"""

from __future__ import annotations

import contextlib
import io
import json
import statistics
import sys
import time
from typing import Any

from benchmarks.config import Config
from benchmarks.feedback import run_to_end
from benchmarks.servers import REPO

__all__ = ["probe", "sealed_grading", "section"]

DEADLINE = 900.0
# (label, run_tests' sealed argument)
MODES: tuple[tuple[str, bool | None], ...] = (
    ("in the grading process (no isolation)", None),
    ("plain child process (no bubblewrap)", False),
    ("sealed by bubblewrap", True),
)


def probe(runs: int) -> dict[str, Any]:
    """Grade ``solutions/`` ``runs`` times each way; seconds per submission."""
    from roomkit.course.grading import run_tests
    from roomkit.course.manifest import load_course
    from roomkit.course.sandbox import find_bwrap

    course = load_course(REPO)
    solutions = course.solutions_dir
    with contextlib.redirect_stderr(io.StringIO()):
        run_tests(course, course.exercises, solutions)  # the imports, unmeasured
    modes = []
    for label, sealed in MODES:
        if sealed and find_bwrap() is None:
            modes.append({"mode": label, "available": False})
            continue
        seconds, passed = [], 0
        for _ in range(runs):
            started = time.perf_counter()
            with contextlib.redirect_stderr(io.StringIO()):
                results = run_tests(course, course.exercises, solutions, sealed=sealed)
            seconds.append(time.perf_counter() - started)
            passed = sum(result.passed for result in results)
        modes.append(
            {
                "mode": label,
                "available": True,
                "seconds": round(statistics.median(seconds), 2),
                "passed": passed,
            }
        )
    tests = sum(1 for _ in course.tests_dir.glob("test_*.py"))
    return {
        "exercises": len(course.exercises),
        "test_modules": tests,
        "runs": runs,
        "modes": modes,
        "host_start": {
            "plain": _host_start(sealed=False),
            "sealed": _host_start(sealed=True) if find_bwrap() is not None else None,
        },
    }


def _host_start(*, sealed: bool, starts: int = 5) -> float:
    """Median seconds from spawning a candidate host to its first answer."""
    from roomkit.course.remote import CandidateHost

    seconds = []
    for _ in range(starts):
        host = CandidateHost([], sealed=sealed)
        started = time.perf_counter()
        host.request_now({"op": "ping"})
        seconds.append(time.perf_counter() - started)
        host.close()
    return round(statistics.median(seconds), 3)


async def sealed_grading(config: Config) -> dict[str, Any]:
    """Run the probe in a fresh process; see the module docstring."""
    runs = max(1, min(config.runs, 3))
    argv = [sys.executable, "-m", "benchmarks.sealed_grading", str(runs)]
    status, output, _ = await run_to_end(argv, min(DEADLINE, config.timeout * 30))
    if status != 0:
        return {"available": False, "reason": f"the probe failed: {output[-500:]}"}
    return {"available": True, **json.loads(output.strip().splitlines()[-1])}


def section(result: dict[str, Any]) -> list[str]:
    """The docs page's section for ``result``."""
    out = ["## Sealed grading", ""]
    if not result.get("available"):
        reason = result.get("reason") or result.get("error") or "not run"
        return [*out, f"Not available: {reason}.", ""]
    out += [
        f"Seconds to grade one submission (`solutions/`: {result['exercises']} exercises, "
        f"every test), median of {result['runs']}, in a fresh process after one unmeasured "
        "grade. Sealed, the learner's code runs in a candidate host under bubblewrap and "
        "the grader drives it over Unix sockets (docs/instructors.md, *Each submission "
        "sealed*).",
        "",
        "| where the learner's code runs | seconds per submission | exercises passed |",
        "|---|---|---|",
    ]
    for mode in result["modes"]:
        if mode.get("available"):
            out.append(f"| {mode['mode']} | {mode['seconds']:.2f} | {mode['passed']} |")
        else:
            out.append(f"| {mode['mode']} | not available | |")
    start = result.get("host_start") or {}
    if start:
        sealed = start.get("sealed")
        out += [
            "",
            f"Starting a candidate host (to its first answer), median of 5: plain "
            f"{start.get('plain')} s, sealed {sealed if sealed is not None else 'n/a'} s. A "
            "submission pays it once, plus once per test after which its host was killed "
            "(it exited, timed out or left processes behind).",
        ]
    if result.get("measured"):
        out += ["", f"Measured {result['measured']}."]
    return [*out, ""]


def main() -> None:
    """Print the probe's result as one JSON line."""
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    print(json.dumps(probe(runs)))


if __name__ == "__main__":
    main()
