"""Smoke test of the benchmark harness at its smallest size: it runs end to end
against real server processes and writes well-formed results and a docs page.

Timings are not asserted (they would only measure the machine)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent

pytest.importorskip("psutil")


def test_smallest_benchmark_run_writes_results_and_docs(tmp_path: Path) -> None:
    results_path, docs_path = tmp_path / "latest.json", tmp_path / "benchmarks.md"
    command = [sys.executable, "-m", "benchmarks", "--quick", "--scenarios", "fanout"]
    command += ["--servers", "bare,roomkit", "--sizes", "3", "--client", "frame"]
    command += ["--results", str(results_path), "--docs", str(docs_path)]
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=50, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]

    results = json.loads(results_path.read_text())
    assert results["client_kind"] == "frame"
    at_size = results["scenarios"]["fanout"]["sizes"]["3"]
    assert set(at_size["servers"]) == {"bare", "roomkit"}
    for name, figures in at_size["servers"].items():
        for run in figures["throughput"]["runs"] + figures["latency"]["runs"]:
            # Every receiver got every message of every burst, before the deadline.
            assert run["delivered"] == run["expected"] == run["messages"] * 3, name
            assert not run["timed_out"], name
        # Throughput bursts are counted in bulk, unless the server compresses
        # (the bare server accepts the clients' deflate); latency bursts never.
        bulk = [run["counted_in_bulk"] for run in figures["throughput"]["runs"]]
        if name == "roomkit":
            assert bulk == [run["delivered"] for run in figures["throughput"]["runs"]]
        else:
            assert not any(bulk), name
        assert not any(run["counted_in_bulk"] for run in figures["latency"]["runs"]), name
        assert figures["throughput"]["rate"] > 0, name
        assert 0 < figures["latency"]["p50_ms"] <= figures["latency"]["p99_ms"], name

    page = docs_path.read_text()
    assert "## Room fan-out" in page
    assert "| bare python-socketio (asyncio) |" in page
    assert "| roomkit serve (defaults) |" in page


def test_message_text_round_trips_burst_sequence_and_send_time() -> None:
    from benchmarks.wire import burst_text, parse_text

    assert parse_text(burst_text(7, 42, 123456789, padding=5)) == (7, 42, 123456789)
    assert parse_text("hello: not a benchmark message") is None


def test_profile_samples_are_classified_by_what_was_running() -> None:
    from benchmarks.profile import GARBAGE_COLLECTOR, SEND_CALLS, classify

    emit = ("AsyncManager.emit", "socketio/async_manager.py")
    write = ("_SelectorSocketTransport.write", "asyncio/selector_events.py")
    assert classify([emit, ("gc_collect_main", "libpython3.11.so.1.0")]) == GARBAGE_COLLECTOR
    assert classify([write, ("send", "libc.so.6")]) == SEND_CALLS
    assert classify([write, emit]).startswith("socket.io")


def test_latency_percentiles_pool_every_runs_deliveries() -> None:
    from benchmarks.harness import BurstResult
    from benchmarks.runs import latency_figures

    def run(latencies_us: list[int]) -> BurstResult:
        return BurstResult(
            len(latencies_us), len(latencies_us), len(latencies_us), 1.0, False, {}, latencies_us
        )

    # Two quiet runs and one with a late burst: a run's own p99 is its 99th value of 100.
    quiet = list(range(1_000, 1_100))
    figures = latency_figures([run(quiet), run(quiet), run([*quiet[:-5], *[9_000] * 5])])
    assert figures["deliveries"] == 300
    assert figures["p50_ms"] == 1.049
    assert figures["p99_ms"] == 9.0  # 5 of 300 deliveries were late: more than 1 %
    assert [summary["p99_ms"] for summary in figures["runs"]] == [1.098, 1.098, 9.0]
    assert latency_figures([])["deliveries"] == 0


@pytest.mark.parametrize(
    ("others", "seconds", "warned"),
    [(0.6, 1.0, True), (0.1, 1.0, False), (0.6, 0.05, False)],
    ids=["busy", "quiet", "too short to tell"],
)
def test_a_run_that_other_work_slowed_is_flagged(
    others: float, seconds: float, warned: bool
) -> None:
    from benchmarks.report_fanout import targets_section

    def figures(server: float, loadgen: float) -> dict[str, object]:
        run = {
            "seconds": seconds,
            "cpu": {"server:x:1": server, "loadgen:w": loadgen, "others": others},
        }
        return {"throughput": {"rate": 1000.0, "server_cpu": server, "runs": [run]}, "latency": {}}

    # The server waits for a saturated load generator: not a sign of a busy machine.
    fanout = {
        "sizes": {"100": {"servers": {"roomkit": figures(0.3, 1.0), "node": figures(1.0, 0.6)}}}
    }
    assert ("**Busy machine:**" in "\n".join(targets_section(fanout))) is warned


def test_the_two_server_projection_is_bound_by_the_busier_server() -> None:
    from benchmarks.harness import BurstResult
    from benchmarks.runs import projected_ratio, throughput_figures

    def run(**servers: float) -> BurstResult:
        cpu = {f"server:roomkit:{name}": share for name, share in servers.items()}
        return BurstResult(1_000, 100_000, 100_000, 1.0, False, cpu)

    one = throughput_figures([run(a=0.4)])
    # Together the two use less CPU per delivery than one (0.35 against 0.4 s),
    # but the sender's server is busy 0.25 s: 1.6x, not 2 x 0.4 / 0.35 = 2.29x.
    two = throughput_figures([run(a=0.25, b=0.1)])
    assert two["busiest_server_us_per_delivery"] == 2.5
    assert projected_ratio(one, two) == 1.6


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_smallest_scale_out_run_delivers_everything_in_each_setup(tmp_path: Path) -> None:
    results_path, docs_path = tmp_path / "latest.json", tmp_path / "benchmarks.md"
    command = [sys.executable, "-m", "benchmarks", "--quick", "--scenarios", "scaleout"]
    command += ["--results", str(results_path), "--docs", str(docs_path)]
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=50, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]

    scaleout = json.loads(results_path.read_text())["scenarios"]["scaleout"]
    for setup in ("one_server", "two_servers", "two_servers_spread"):
        for run in scaleout[setup]["runs"]:
            assert run["delivered"] == run["expected"] > 0, setup
            assert not run["timed_out"], setup
    page = docs_path.read_text()
    assert "| 2 servers + Redis, the sender on server 1 |" in page
    assert "| 2 servers + Redis, a sender on each |" in page


def _server_frame(burst: int, seq: int, extra: str = "") -> bytes:
    """A server's unmasked websocket text frame carrying one benchmark message."""
    payload = (
        f'42/chat,["message",{{"user":"u","name":"n","room":"r",{extra}'
        f'"text":"bm:{burst}:{seq}:123:xxxx"}}]'
    ).encode()
    assert len(payload) < 126
    return bytes([0x81, len(payload)]) + payload


async def _bulk_client(burst: int, expected: int, *, latency: bool = False) -> Any:
    from benchmarks.frame_client import FrameClient, _FrameProtocol
    from benchmarks.tally import Tally

    tally = Tally()
    tally.arm(burst, expected, keep_latency=latency)
    client = FrameClient("http://127.0.0.1:1", "reader", tally)
    client.protocol = _FrameProtocol(client)
    client.protocol.upgraded = True  # as after the handshake
    return client


async def test_a_burst_counted_in_bulk_is_confirmed_by_parsing() -> None:
    client = await _bulk_client(4, 3)
    stream = _server_frame(3, 9) + _server_frame(4, 0) + _server_frame(4, 1) + _server_frame(4, 2)
    cut = stream.rindex(b'"text":"bm:4:') + 5  # the last marker split between two reads
    client.protocol.data_received(stream[:cut])
    assert client.tally.bulk == 2
    assert not client.tally.complete.is_set()
    client.protocol.data_received(stream[cut:])
    assert client.tally.bulk == 3
    assert client.tally.complete.is_set()
    client.settle()
    assert client.tally.confirmed == 3
    assert client.tally.all_confirmed.is_set()
    assert client.tally.bulk_problem() is None


async def test_a_message_counted_twice_or_not_found_fails_the_burst() -> None:
    twice = await _bulk_client(4, 2)
    twice.protocol.data_received(_server_frame(4, 0) + _server_frame(4, 0))
    twice.settle()
    assert "arrived twice" in (twice.tally.bulk_problem() or "")

    # Two markers in one message: counted 2, parsed as 1.
    unfound = await _bulk_client(4, 2)
    unfound.protocol.data_received(_server_frame(4, 0, extra='"text":"bm:4:5:1:x",'))
    unfound.settle()
    assert unfound.tally.bulk == 2
    assert "2 messages counted in bulk, 1 found" in (unfound.tally.bulk_problem() or "")


async def test_latency_bursts_and_compressed_connections_count_each_message() -> None:
    import zlib

    timed = await _bulk_client(4, 1, latency=True)
    timed.protocol.data_received(_server_frame(4, 0))
    assert (timed.tally.bulk, timed.tally.received, len(timed.tally.latencies_us)) == (0, 1, 1)

    deflating = await _bulk_client(4, 1)
    deflating.protocol.inflater = zlib.decompressobj(-15)  # the server accepted deflate
    deflating.protocol.data_received(_server_frame(4, 0))  # an uncompressed frame
    assert (deflating.tally.bulk, deflating.tally.received) == (0, 1)
