"""Class-run speed: ``roomkit grade`` over a generated class, one worker process per submission.

The class is generated here: ``class_size`` submission folders, each holding
notebook 00 (exercise 0.1, two tests), alternately the solved notebook from
``solutions/`` and the learner's unsolved one from ``notebooks/``. It is graded
twice, with ``--jobs 1`` and ``--jobs 2``, and a smaller class (``sealing_size``
submissions, ``--jobs 1``) once unsealed (``--no-sandbox``) and once sealed
(``--require-sandbox``; "not available" where grading cannot be sealed), for the
seconds per submission each costs.

``python -m benchmarks.grading [--quick]`` runs this scenario alone and merges it
into ``benchmarks/results/latest.json`` and ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.config import Config
from benchmarks.servers import REPO

__all__ = ["grading", "main"]

NOTEBOOK = "00_start_here.ipynb"
EXERCISE = "0.1"


def make_class(folder: Path, size: int) -> list[str]:
    """Write ``size`` submissions into ``folder``, alternately solved and unsolved."""
    names = []
    for number in range(size):
        name = f"student{number:03d}"
        source = REPO / ("solutions" if number % 2 == 0 else "notebooks") / NOTEBOOK
        (folder / name).mkdir(parents=True)
        shutil.copyfile(source, folder / name / NOTEBOOK)
        names.append(name)
    return names


def _every_core() -> None:
    """In the child, before it runs: allow every core (undoing the parent's pinning)."""
    os.sched_setaffinity(0, range(os.cpu_count() or 1))


async def _grade(folder: Path, names: list[str], *options: str, deadline: float) -> dict[str, Any]:
    """Time one ``roomkit grade`` run over ``names`` in ``folder``."""
    results = folder / f"results-{time.monotonic_ns()}.jsonl"
    report = folder / f"grades-{time.monotonic_ns()}.json"
    command = [
        sys.executable, "-m", "roomkit", "grade", *names,
        "--root", str(REPO), "--exercise", EXERCISE, "--quiet",
        "--results", str(results), "--json", str(report), *options,
    ]  # fmt: skip
    load = os.getloadavg()[0]
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=folder,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        # The benchmark pins itself to the load generator's core; a class run must
        # have every core, or --jobs 2 measures one core twice.
        preexec_fn=_every_core,
    )
    try:
        _, error = await asyncio.wait_for(process.communicate(), deadline)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        return {"available": False, "reason": f"did not finish within {deadline:g} s"}
    seconds = time.perf_counter() - started
    if process.returncode not in (0, 1) or not report.exists():
        reason = error.decode(errors="replace").strip()[-500:]
        return {"available": False, "reason": f"exit status {process.returncode}: {reason}"}
    document = json.loads(report.read_text())
    rows = document.get("submissions", [document])
    return {
        "available": True,
        "options": " ".join(options),
        "submissions": len(rows),
        "seconds": round(seconds, 1),
        "seconds_per_submission": round(seconds / len(rows), 2),
        "passed": sum(row["passed"] == row["total"] for row in rows),
        "load_average_at_start": round(load, 2),
    }


async def grading(config: Config) -> dict[str, Any]:
    """Grade a generated class with ``--jobs 1`` and ``--jobs 2``, and unsealed vs sealed."""
    from roomkit.course.sandbox import why_unsealed

    deadline = max(config.timeout, 60.0) * 10 + 30.0 * config.class_size
    out: dict[str, Any] = {
        "available": True,
        "class_size": config.class_size,
        "sealing_size": config.sealing_size,
        "exercise": EXERCISE,
        "cpus": os.cpu_count(),
        "runs": {},
        "sealing": {},
    }
    with tempfile.TemporaryDirectory(prefix="roomkit-bench-class-") as scratch:
        folder = Path(scratch)
        names = make_class(folder, config.class_size)
        for jobs in (1, 2):
            out["runs"][f"jobs {jobs}"] = await _grade(
                folder, names, "--jobs", str(jobs), deadline=deadline
            )
        few = names[: config.sealing_size]
        out["sealing"]["unsealed"] = await _grade(
            folder, few, "--jobs", "1", "--no-sandbox", deadline=deadline
        )
        why = why_unsealed()
        if why is None:
            out["sealing"]["sealed"] = await _grade(
                folder, few, "--jobs", "1", "--require-sandbox", deadline=deadline
            )
        else:
            out["sealing"]["sealed"] = {"available": False, "reason": why}
    return out


def main(argv: list[str] | None = None) -> int:
    """Run this scenario alone; merge it into the results JSON and the docs page."""
    from benchmarks.__main__ import DEFAULT_DOCS, DEFAULT_RESULTS
    from benchmarks.report import clean, render

    parser = argparse.ArgumentParser(prog="python -m benchmarks.grading", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a class of 6, for trying changes")
    parser.add_argument("--size", type=int, help="submissions in the class (200)")
    args = parser.parse_args(argv)
    config = Config()
    if args.quick:
        config.class_size, config.sealing_size = 6, 2
    if args.size:
        config.class_size = args.size
    started = time.monotonic()
    found = asyncio.run(grading(config))
    found["seconds"] = round(time.monotonic() - started, 1)
    found["generated"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    found["quick"] = args.quick
    results = json.loads(DEFAULT_RESULTS.read_text()) if DEFAULT_RESULTS.exists() else {}
    results.setdefault("scenarios", {})["grading"] = found
    DEFAULT_RESULTS.write_text(json.dumps(clean(results), indent=1) + "\n")
    # The other scenarios' plot stays as it was drawn (make bench redraws it).
    image = DEFAULT_DOCS.with_name("benchmarks.png")
    DEFAULT_DOCS.write_text(render(clean(results), image.name if image.exists() else None))
    print(json.dumps(found, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
