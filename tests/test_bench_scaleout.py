"""The scale-out benchmark: its projection, its smallest run end to end, and the
CPU quotas that give each server a core's worth on a machine with two cores.

Timings are not asserted; a quota's effect is checked as CPU time against
elapsed time of one process, with a wide margin."""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.cpu_quota import CpuQuota, quota_unavailable
from benchmarks.harness import BurstResult
from benchmarks.runs import projected_ratio, throughput_figures

REPO = Path(__file__).resolve().parent.parent
SETUPS = ("one_server", "two_servers", "two_servers_spread")

pytest.importorskip("psutil")
needs_quotas = pytest.mark.skipif(
    quota_unavailable() is not None, reason=f"CPU quotas: {quota_unavailable()}"
)


def test_the_two_server_projection_is_bound_by_the_busier_server() -> None:
    def run(**servers: float) -> BurstResult:
        cpu = {f"server:roomkit:{name}": share for name, share in servers.items()}
        return BurstResult(1_000, 100_000, 100_000, 1.0, False, cpu)

    one = throughput_figures([run(a=0.4)])
    # Together the two use less CPU per delivery than one (0.35 against 0.4 s),
    # but the sender's server is busy 0.25 s: 1.6x, not 2 x 0.4 / 0.35 = 2.29x.
    two = throughput_figures([run(a=0.25, b=0.1)])
    assert two["busiest_server_us_per_delivery"] == 2.5
    assert projected_ratio(one, two) == 1.6


@needs_quotas
def test_a_quota_holds_a_busy_process_to_its_share() -> None:
    before = _children_cpu_seconds()
    started = time.monotonic()
    # A fixed amount of work: about 0.3 s of CPU on this machine.
    busy = subprocess.Popen([sys.executable, "-c", "sum(range(12_000_000))"])
    with CpuQuota(f"roomkit-test-{busy.pid}", 0.1) as quota:
        quota.add(busy.pid)
        busy.wait(timeout=60)
        throttled = quota.throttled_seconds()
    elapsed = time.monotonic() - started
    used = _children_cpu_seconds() - before  # the busy process's, once waited for
    assert not quota.path.exists()
    assert throttled > 0, "the kernel never held the process back"
    # At 0.1 of a core, elapsed time is about 10 times the CPU time; far above 2x.
    assert elapsed > 2 * used, (elapsed, used)


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@needs_quotas
def test_leaving_a_quota_moves_its_processes_out() -> None:
    idle = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        with CpuQuota(f"roomkit-test-{idle.pid}", 0.5) as quota:
            quota.add(idle.pid)
            assert str(idle.pid) in (quota.path / "cgroup.procs").read_text().split()
        assert not quota.path.exists()
    finally:
        assert idle.stdin is not None
        idle.stdin.close()
        idle.wait(timeout=30)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_smallest_scale_out_run_delivers_everything_in_each_setup(tmp_path: Path) -> None:
    results_path, docs_path = tmp_path / "latest.json", tmp_path / "benchmarks.md"
    command = [sys.executable, "-m", "benchmarks", "--quick", "--scenarios", "scaleout"]
    command += ["--results", str(results_path), "--docs", str(docs_path)]
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=90, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]

    scaleout = json.loads(results_path.read_text())["scenarios"]["scaleout"]
    capped = scaleout["capped"]
    measured = [scaleout] + ([capped] if capped["available"] else [])
    for where in measured:
        for setup in SETUPS:
            for run in where[setup]["runs"]:
                assert run["delivered"] == run["expected"] > 0, setup
                assert not run["timed_out"], setup
    page = docs_path.read_text()
    assert "| 2 servers + Redis, the sender on server 1 |" in page
    assert "| 2 servers + Redis, a sender on each |" in page
    if capped["available"]:
        assert "**Measured with a core's worth each.**" in page
        # One ratio per run of each two-server setup, each over its own run of one server.
        runs_of = {"two_servers": "ratio_runs", "two_servers_spread": "spread_ratio_runs"}
        for setup, key in runs_of.items():
            pairs = zip(capped[setup]["runs"], capped["one_server"]["runs"], strict=True)
            paired = [mine["rate"] / one["rate"] for mine, one in pairs]
            assert capped[key] == pytest.approx(paired, rel=1e-3)
