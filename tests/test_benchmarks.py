"""Smoke test of the benchmark harness at its smallest size: it runs end to end
against real server processes and writes well-formed results and a docs page.

Timings are not asserted (they would only measure the machine)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import aiohttp
import pytest

from benchmarks.frame_client import FrameClient, _FrameProtocol
from benchmarks.raw_client import RawClient
from benchmarks.tally import Tally
from benchmarks.wire import burst_text

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


# -- the frame client: counting a throughput burst in bulk, checked after ----------------

BULK_ROOM = "bulk"


@contextlib.asynccontextmanager
async def _bulk_room(
    server: str, log_dir: Path, receivers: int
) -> AsyncIterator[tuple[Tally, list[FrameClient], RawClient]]:
    """A real server of kind ``server`` on 127.0.0.1 with ``receivers`` frame
    clients sharing one tally, and a sender, all in the room."""
    from benchmarks.servers import SERVER_KINDS, ServerProcess

    process = await ServerProcess.start(SERVER_KINDS[server], cpu=None, log_dir=log_dir)
    tally = Tally()
    clients = [FrameClient(process.url, f"r{index}", tally) for index in range(receivers)]
    try:
        async with aiohttp.ClientSession() as session:
            sender = RawClient(session, process.url, "sender", Tally())
            try:
                for client in clients:
                    await client.connect(timeout=10.0)
                    await client.join(BULK_ROOM, timeout=10.0)
                await sender.connect(timeout=10.0)
                await sender.join(BULK_ROOM, timeout=10.0)
                yield tally, clients, sender
            finally:
                await sender.close()
    finally:
        for client in clients:
            await client.close()
        await process.stop()


def _arm(tally: Tally, burst: int, receivers: int, messages: int) -> None:
    """Arm a throughput burst as the load generator does."""
    text_bytes = len(burst_text(burst, 0, 0, padding=40))
    tally.arm(burst, receivers * messages, False, messages=messages, text_bytes=text_bytes)


async def _send_burst(sender: RawClient, burst: int, sequence: list[int]) -> None:
    for seq in sequence:
        await sender.send_message(BULK_ROOM, burst_text(burst, seq, time.monotonic_ns(), 40))


@pytest.mark.parametrize(
    ("server", "in_bulk"),
    [("roomkit", True), ("roomkit-deflate", False)],
    ids=["uncompressed: counted in bulk", "deflate accepted: parsed frame by frame"],
)
async def test_frame_client_counts_a_real_burst_in_bulk_and_its_check_passes(
    tmp_path: Path, server: str, in_bulk: bool
) -> None:
    receivers, messages = 4, 300
    async with _bulk_room(server, tmp_path, receivers) as (tally, clients, sender):
        _arm(tally, 1, receivers, messages)
        await _send_burst(sender, 1, list(range(messages)))
        await asyncio.wait_for(tally.complete.wait(), 20.0)
        assert tally.received == receivers * messages
        if in_bulk:
            # Counted from the bytes alone: nothing parsed until the check.
            assert [(client.counted, client.found) for client in clients] == [(messages, 0)] * 4
        assert await tally.verify(timeout=10.0) is None
        expected_found = messages if in_bulk else 0
        assert [client.found for client in clients] == [expected_found] * receivers

        # A latency burst on the same connections is parsed frame by frame.
        tally.arm(2, receivers * 5, keep_latency=True)
        await _send_burst(sender, 2, list(range(5)))
        await asyncio.wait_for(tally.complete.wait(), 20.0)
        assert len(tally.latencies_us) == receivers * 5
        assert await tally.verify(timeout=10.0) is None
        assert [client.found for client in clients] == [expected_found] * receivers


async def test_bulk_check_fails_on_a_missing_or_corrupted_message(tmp_path: Path) -> None:
    receivers = 3
    async with _bulk_room("roomkit", tmp_path, receivers) as (tally, clients, sender):
        # The sender skips message 5: every receiver counts 9 of 9 sent, with a gap.
        _arm(tally, 1, receivers, 9)
        await _send_burst(sender, 1, [seq for seq in range(10) if seq != 5])
        await asyncio.wait_for(tally.complete.wait(), 20.0)
        problem = await tally.verify(timeout=10.0) or ""
        assert "r0: message 6 arrived where 5 was due" in problem

        # Bytes of one receiver changed after they were counted, before the check:
        # message 4 turned into one of another burst, so one counted message is not found.
        _arm(tally, 2, receivers, 10)
        await _send_burst(sender, 2, list(range(10)))
        await asyncio.wait_for(tally.complete.wait(), 20.0)
        protocol = clients[1].protocol
        assert protocol is not None
        assert protocol.buffer.count(b'"text":"bm:2:4:') == 1
        protocol.buffer = protocol.buffer.replace(b'"text":"bm:2:4:', b'"text":"bm:7:4:')
        problem = await tally.verify(timeout=10.0) or ""
        assert "r1: 10 messages counted, 9 found by parsing" in problem
        assert not any(other in problem for other in ("r0:", "r2:"))


class _Socket:
    """Keeps the receive low-water mark the protocol sets."""

    def __init__(self) -> None:
        self.watermark = self.highest = 1

    def setsockopt(self, level: int, option: int, value: int, /) -> None:
        assert (level, option) == (socket.SOL_SOCKET, socket.SO_RCVLOWAT)
        self.watermark, self.highest = value, max(self.highest, value)


class _Transport:
    """What the protocol writes to, kept (for feeding it bytes without a server)."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.socket = _Socket()

    def get_extra_info(self, name: str, default: object = None) -> object:
        return self.socket if name == "socket" else default

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        pass


def _server_frame(payload: bytes, opcode: int = 1) -> bytes:
    """An unmasked server frame (payloads under 65,536 bytes)."""
    length = len(payload)
    head = bytes([0x80 | opcode, length]) if length < 126 else bytes([0x80 | opcode, 126])
    return head + (length.to_bytes(2, "big") if length >= 126 else b"") + payload


def _message(burst: int, seq: int) -> bytes:
    text = burst_text(burst, seq, 123, padding=40)
    body = {"user": "u", "name": "n", "room": BULK_ROOM, "text": text}
    return _server_frame(f'42/chat,["message",{json.dumps(body, separators=(",", ":"))}]'.encode())


def _fed_client(tally: Tally) -> tuple[FrameClient, _FrameProtocol, _Transport]:
    """A frame client past its websocket upgrade, on a transport that only keeps
    what it writes: its protocol is fed bytes by hand."""
    client = FrameClient("http://127.0.0.1:1", "fed", tally)
    transport = _Transport()
    protocol = client.protocol = _FrameProtocol(client)
    protocol.connection_made(cast(asyncio.Transport, transport))
    protocol.data_received(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
    return client, protocol, transport


@pytest.mark.parametrize("read_size", [1, 2, 5, 13, 14, 15, 100, 4096])
async def test_bulk_count_holds_however_the_bytes_are_split(read_size: int) -> None:
    tally = Tally()
    client, protocol, transport = _fed_client(tally)
    messages = 20
    frames = [_message(3, seq) for seq in range(messages)]
    frames.insert(5, _server_frame(b"2"))  # an engine.io ping, amid the burst
    stream = b"".join(frames)
    _arm(tally, 3, 1, messages)
    # The last message's final bytes arrive only after the check started.
    held_back = 3
    end = len(stream) - held_back
    for start in range(0, end, read_size):
        protocol.data_received(stream[start : min(start + read_size, end)])
        # The kernel is never told to wait for more than is still to come.
        assert transport.socket.watermark <= max(1, len(stream) - start - read_size)
    assert transport.socket.watermark == 1
    if read_size < end:
        assert transport.socket.highest > 1  # reads were spared
    assert tally.complete.is_set()
    assert (client.counted, client.found, transport.written) == (messages, 0, [])

    # What the load generator does every few seconds of a long burst: the ping
    # is answered, and every whole message checked.
    tally.parse_kept()
    assert client.found == messages - 1
    assert len(transport.written) == 1
    assert transport.written[0].startswith(b"\x81\x81")  # the pong: text, masked, 1 byte

    asyncio.get_running_loop().call_soon(protocol.data_received, stream[end:])
    assert await tally.verify(timeout=5.0) is None
    assert client.found == messages


async def test_bulk_check_fails_on_a_marker_outside_any_message() -> None:
    tally = Tally()
    _, protocol, _ = _fed_client(tally)
    _arm(tally, 4, 1, 2)
    # A websocket ping frame whose payload holds the marker: counted, not a message.
    protocol.data_received(_message(4, 0) + _server_frame(b'"text":"bm:4:', opcode=9))
    assert tally.complete.is_set()  # the count alone is fooled
    problem = await tally.verify(timeout=5.0) or ""
    assert "fed: 2 messages counted, 1 found by parsing" in problem


@pytest.mark.parametrize(
    ("senders", "order", "problem"),
    [
        # Two senders taking turns (even and odd numbers), on two servers: each
        # one's messages in order, the two interleaved as the servers delivered them.
        (2, (1, 0, 2, 3, 5, 4), None),
        (1, (1, 0, 2, 3, 5, 4), "fed: message 1 arrived where 0 was due"),
        (1, (0, 1, 1), "fed: message 1 arrived where 2 was due"),
    ],
    ids=["two senders interleaved", "one sender out of order", "a message twice"],
)
async def test_bulk_check_wants_each_message_once_in_its_senders_order(
    senders: int, order: tuple[int, ...], problem: str | None
) -> None:
    tally = Tally()
    _, protocol, _ = _fed_client(tally)
    tally.arm(5, len(order), False, messages=len(order), senders=senders)
    protocol.data_received(b"".join(_message(5, seq) for seq in order))
    assert tally.complete.is_set()
    found = await tally.verify(timeout=5.0)
    assert (found is None) if problem is None else (problem in (found or ""))


@pytest.mark.parametrize("timed_out", [False, True])
async def test_a_counted_message_that_never_arrives_whole(timed_out: bool) -> None:
    tally = Tally()
    _, protocol, _ = _fed_client(tally)
    _arm(tally, 6, 1, 3)
    stream = b"".join(_message(6, seq) for seq in range(3))
    protocol.data_received(stream[:-3])  # the rest never comes
    assert tally.received == 3
    problem = await tally.verify(timeout=0.05, timed_out=timed_out)
    if timed_out:  # a burst already reported incomplete: it is not counted
        assert problem is None
        assert (tally.received, tally.counted_in_bulk) == (2, 2)
    else:  # a complete burst's count would be wrong
        assert problem is not None
        assert "1 counted message(s) never arrived whole" in problem
