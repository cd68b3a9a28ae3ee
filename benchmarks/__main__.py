"""``python -m benchmarks``: run the benchmarks, write the results JSON and the docs page.

``make bench`` runs it with the defaults (about 15 minutes on two cores).
``--quick`` runs every scenario at toy sizes in well under a minute, for
trying changes; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.config import Config
from benchmarks.scenarios import client_cost, fanout, memory, scaleout
from benchmarks.servers import REPO, SERVER_KINDS, node_available

__all__ = ["SCENARIOS", "main", "run"]

logger = logging.getLogger("benchmarks")

SCENARIOS = (
    "client-cost",
    "fanout",
    "memory",
    "scaleout",
    "profile",
    "feedback",
    "sealed-grading",
    "grading",
)
DEFAULT_RESULTS = REPO / "benchmarks" / "results" / "latest.json"
DEFAULT_DOCS = REPO / "docs" / "benchmarks.md"


def _version(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    return (done.stdout or done.stderr).strip().splitlines()[0] if done.returncode == 0 else "?"


def _package(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _node_socketio() -> str:
    package = REPO / "node_modules" / "socket.io" / "package.json"
    try:
        return str(json.loads(package.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return "not installed"


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu_model = platform.processor()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "versions": {
            "roomkit": _package("roomkit"),
            "python-socketio": _package("python-socketio"),
            "python-engineio": _package("python-engineio"),
            "aiohttp": _package("aiohttp"),
            "uvloop": _package("uvloop"),
            "node": _version(["node", "--version"]),
            "socket.io (node)": _node_socketio(),
            "redis-server": _version(["redis-server", "--version"]),
        },
    }


def _raise_open_files_limit(wanted: int = 16_384) -> None:
    # Every client is a file descriptor here and in the server; children inherit this.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


async def _guarded(
    name: str, scenario: Callable[[], Awaitable[dict[str, Any]]], results: dict[str, Any]
) -> None:
    """Run one scenario; a failure or a stall is recorded, not raised."""
    logger.info("scenario %s ...", name)
    started = time.monotonic()
    try:
        results[name] = await scenario()
    except Exception as error:
        logger.exception("scenario %s failed", name)
        results[name] = {"available": False, "error": f"{type(error).__name__}: {error}"}
    results[name]["seconds"] = round(time.monotonic() - started, 1)
    logger.info("scenario %s done in %.1f s", name, results[name]["seconds"])


async def run(config: Config, scenarios: list[str], client_kind: str | None) -> dict[str, Any]:
    """Run ``scenarios`` and return the results document."""
    from benchmarks.feedback import feedback
    from benchmarks.grading import grading
    from benchmarks.profile import profile
    from benchmarks.sealed_grading import sealed_grading

    started = time.monotonic()
    results: dict[str, Any] = {
        "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine(),
        "config": {
            "sizes": config.sizes,
            "runs": config.runs,
            "deliveries": config.deliveries,
            "latency_load": config.latency_load,
            "latency_seconds": config.latency_seconds,
            "servers": [kind.name for kind in config.kinds()],
            "workers": config.workers,
            "server_cpu": config.server_cpu,
            "loadgen_cpu": config.loadgen_cpu,
            "node_available": node_available(),
        },
        "scenarios": {},
    }
    done: dict[str, Any] = results["scenarios"]
    kind = client_kind or "frame"
    if "client-cost" in scenarios:
        await _guarded("client-cost", lambda: client_cost(config), done)
        if client_kind is None:
            kind = done["client-cost"].get("chosen", kind)
    results["client_kind"] = kind
    logger.info("load generator clients: %s", kind)
    plan: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
        "fanout": lambda: fanout(config, kind),
        "memory": lambda: memory(config, kind),
        "scaleout": lambda: scaleout(config, kind),
        "profile": lambda: profile(config, kind),
        "feedback": lambda: feedback(config),
        "sealed-grading": lambda: sealed_grading(config),
        "grading": lambda: grading(config),
    }
    for name, scenario in plan.items():
        if name in scenarios:
            await _guarded(name, scenario, done)
    results["seconds"] = round(time.monotonic() - started, 1)
    return results


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="toy sizes, for trying changes")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated subset of {','.join(SCENARIOS)} (all)",
    )
    parser.add_argument(
        "--servers",
        default=",".join(SERVER_KINDS),
        help=f"comma-separated subset of {','.join(SERVER_KINDS)} (all available)",
    )
    parser.add_argument("--sizes", help="room sizes for fan-out and latency (100,200,500)")
    parser.add_argument(
        "--runs",
        type=int,
        help="runs per figure; the median is reported (3; scale-out: twice as many, plus one)",
    )
    parser.add_argument("--client", choices=("frame", "raw", "socketio"), help="client kind")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results JSON")
    parser.add_argument("--docs", type=Path, default=DEFAULT_DOCS, help="page to rewrite")
    parser.add_argument("--no-docs", action="store_true", help="write the JSON only")
    parser.add_argument(
        "--from-results", action="store_true", help="only regenerate the docs from --results"
    )
    return parser


def _config(args: argparse.Namespace) -> Config:
    config = Config(log_dir=Path(tempfile.mkdtemp(prefix="roomkit-bench-")))
    if args.quick:
        config.sizes = [10, 20]
        config.burst_messages = {}
        config.runs = 1
        config.deliveries = 400
        config.latency_load = 200.0
        config.latency_seconds = 0.25
        config.memory_clients = 20
        config.scaleout_receivers = 10
        config.scaleout_deliveries = 400
        config.client_receivers = 10
        config.client_deliveries = 200
        config.profile_seconds = 1.0
        config.class_size = 6
        config.sealing_size = 2
        config.timeout = 30.0
    if args.sizes:
        config.sizes = [int(size) for size in args.sizes.split(",")]
    if args.runs:
        config.runs = args.runs
    config.servers = [name for name in args.servers.split(",") if name]
    unknown = set(config.servers) - set(SERVER_KINDS)
    if unknown:
        raise SystemExit(f"unknown servers: {', '.join(sorted(unknown))}")
    return config


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    from benchmarks.report import clean, write_docs

    if args.from_results:
        write_docs(json.loads(args.results.read_text()), args.docs)
        return 0
    scenarios = [name for name in args.scenarios.split(",") if name]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))}")
    config = _config(args)
    _raise_open_files_limit()
    if config.loadgen_cpu is not None:
        # This process sends every message; it shares the load generator's core.
        os.sched_setaffinity(0, {config.loadgen_cpu})
    results = asyncio.run(run(config, scenarios, args.client))
    if any("error" in found for found in results["scenarios"].values()):
        logger.info("server logs kept in %s", config.log_dir)
    else:
        shutil.rmtree(config.log_dir, ignore_errors=True)
    results["config"]["quick"] = args.quick
    given = argv if argv is not None else sys.argv[1:]
    results["config"]["command"] = " ".join(["python -m benchmarks", *given])
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(clean(results), indent=1) + "\n")
    logger.info("results written to %s (%.0f s)", args.results, results["seconds"])
    if not args.no_docs:
        write_docs(results, args.docs)
        logger.info("docs written to %s", args.docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
