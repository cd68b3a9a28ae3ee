"""Soak: thousands of short connections, ended every way a connection can end.

Each cycle connects a real client, joins one to three rooms (sometimes creates a
private one, sends a message, leaves a room) and then ends in one of four ways:

* ``disconnect``: a polite Socket.IO disconnect;
* ``engine.io close``: the engine.io CLOSE packet with no Socket.IO disconnect
  (``client.sio.eio.disconnect(abort=True)``);
* ``tcp shutdown``: the TCP connection is shut down under the websocket, with no
  close frame at all (a crashed browser tab, a dropped laptop lid);
* ``abort mid-call``: an event is sent and the TCP connection shut down before
  its answer arrives.

Afterwards the server must hold nothing of them: no connection, no membership
in the store, no room in python-socketio's manager, no engine.io socket, no task
still running, and memory that does not grow with the number of cycles.

``make test`` runs the default 200 cycles; ``make soak`` runs 2000
(``--soak-cycles``, see tests/conftest.py). The numbers are printed at the end
(``pytest -s`` shows them).
"""

from __future__ import annotations

import asyncio
import collections
import gc
import random
import socket
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from redis_fixtures import redis_url_for_test
from support import rooms_of

from roomkit import Limits, LoadLimits, Settings, create_app
from roomkit.app import CHAT_KEY, STORE_KEY
from roomkit.testing import RecordingClient, RunningServer, connect, expect_silence, serve

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ENDINGS = ("disconnect", "engine.io close", "tcp shutdown", "abort mid-call")
ROOMS = [f"room{i}" for i in range(12)]
WORKERS = 8  # cycles in flight at once
SEED = 20240611
# engine.io pings every ping_interval; a closed socket's ping task sleeps that
# long before it notices and ends. 1 s instead of 25 s keeps the final wait short.
PING_INTERVAL = 1.0
# Memory that may stay allocated after the warm-up, however many cycles ran:
# mostly bounded caches in yarl and aiohttp (128 entries each) that the clients'
# one-off URLs fill: measured about 380 KiB after 200 cycles, 480 KiB after 2000.
MEMORY_ALLOWANCE = 768 * 1024
# Memory that may stay allocated per cycle after the warm-up. A real leak of
# one connection's state (session, handshake, rooms, buffers) is several KiB.
MEMORY_PER_CYCLE = 256
# Tasks engine.io starts and ends all the time for live connections (a read in
# flight, the next ping) may be counted a moment before or after their successor.
TASK_SLACK = 4


@pytest.fixture
def cycles(request: pytest.FixtureRequest) -> int:
    return int(request.config.getoption("--soak-cycles"))


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def soak_server(request: pytest.FixtureRequest) -> AsyncIterator[RunningServer]:
    """A server with the rate limit off (the soak is fast on purpose), on the
    in-memory store or on a real Redis (store and Socket.IO manager)."""
    # Every cycle comes from 127.0.0.1 and rooms are recreated all the time:
    # neither the rate limit nor the per-address room creation limit applies.
    settings = Settings(
        metrics_interval=0,
        limits=Limits(rate_limit=False),
        load=LoadLimits(room_creations_per_minute=1e9, room_creation_burst=10**9),
    )
    if request.param == "memory":
        async with serve(create_app(settings)) as running:
            running.sio.eio.ping_interval = PING_INTERVAL
            yield running
        return
    async with redis_url_for_test() as url:
        settings = replace(settings, redis_url=url)
        async with serve(create_app(settings)) as running:
            running.sio.eio.ping_interval = PING_INTERVAL
            yield running


def _shut_down_tcp(client: RecordingClient) -> None:
    """End the client's TCP connection under its websocket: no close frame, no
    engine.io or Socket.IO goodbye."""
    raw: socket.socket | None = client.sio.eio.ws.get_extra_info("socket")
    if raw is not None:
        raw.shutdown(socket.SHUT_RDWR)


async def _one_cycle(url: str, rng: random.Random, index: int) -> str:
    client = await connect(url, f"soak{index % 40}")
    try:
        joined = rng.sample(ROOMS, rng.randint(1, 3))
        for room in joined:
            assert (await client.call("join room", room))["ok"] is True
        if rng.random() < 0.2:
            created = await client.call("create room", {"name": f"private{index}", "private": True})
            assert created["ok"] is True
        if rng.random() < 0.5:
            await client.call("message", {"room": joined[0], "text": f"cycle {index}"})
        if rng.random() < 0.5:
            await client.call("leave room", joined[-1])
        ending = rng.choice(ENDINGS)
        if ending == "engine.io close":
            await client.sio.eio.disconnect(abort=True)
        elif ending == "tcp shutdown":
            _shut_down_tcp(client)
        elif ending == "abort mid-call":
            await client.emit("join room", rng.choice(ROOMS))
            _shut_down_tcp(client)
        return ending
    finally:
        # The polite disconnect for "disconnect"; for the others it only closes
        # what is left on the client side (its HTTP session).
        await client.disconnect()


async def _run_cycles(url: str, rng: random.Random, first: int, count: int) -> list[str]:
    """``count`` cycles, ``WORKERS`` at a time; returns how each one ended."""
    indexes = iter(range(first, first + count))
    endings: list[str] = []

    async def worker() -> None:
        for index in indexes:
            endings.append(await _one_cycle(url, rng, index))

    await asyncio.gather(*(worker() for _ in range(WORKERS)))
    return endings


async def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait, checking every 20 ms, until ``condition()``: server-side cleanup that
    no client event announces. Bounded by ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout:g} s still: {what}")
        await asyncio.sleep(0.02)


def _rss_bytes() -> int | None:
    """This process's resident memory (Linux), for the report only."""
    statm = Path("/proc/self/statm")
    if not statm.exists():
        return None
    return int(statm.read_text().split()[1]) * 4096


@dataclass
class SoakNumbers:
    store: str
    cycles: int
    warm_up: int
    seconds: float
    endings: dict[str, int]
    retained_bytes: int
    rss_before: int | None
    rss_after: int | None

    def __str__(self) -> str:
        rss = ""
        if self.rss_before is not None and self.rss_after is not None:
            rss = f", RSS {self.rss_before / 2**20:.1f} -> {self.rss_after / 2**20:.1f} MiB"
        return (
            f"soak[{self.store}]: {self.cycles} cycles in {self.seconds:.1f} s "
            f"({self.cycles / self.seconds:.0f}/s), endings {self.endings}, "
            f"memory retained over the {self.cycles - self.warm_up} cycles after warm-up "
            f"{self.retained_bytes / 1024:.1f} KiB "
            f"({self.retained_bytes / max(1, self.cycles - self.warm_up):.0f} B/cycle){rss}"
        )


def _task_kinds() -> collections.Counter[str]:
    return collections.Counter(task.get_coro().__qualname__ for task in asyncio.all_tasks())


async def test_soak_leaves_no_trace(
    soak_server: RunningServer, cycles: int, request: pytest.FixtureRequest
) -> None:
    server = soak_server
    store = server.app[STORE_KEY]
    rng = random.Random(SEED)
    # Two bystanders in a room the soak never touches: they must hear nothing,
    # and still talk to each other at the end.
    watcher = await connect(server.url, "watcher")
    peer = await connect(server.url, "peer")
    try:
        await watcher.call("join room", "lobby")
        await peer.call("join room", "lobby")
        await watcher.wait_for("user joined")
        numbers = await _soak(server, rng, cycles, {watcher.sid, peer.sid})
        numbers.store = request.node.callspec.id
        print(numbers)
        # The store holds the bystanders and nothing else.
        summaries = await store.list_rooms()
        assert [(s.room.name, s.members) for s in summaries] == [("lobby", 2)]
        for sid in (watcher.sid, peer.sid):
            assert await rooms_of(store, sid or "") == ["lobby"]
        # They heard nothing of the soak, and still talk.
        await expect_silence(watcher, peer)
        assert await watcher.call("message", {"room": "lobby", "text": "after"}) == {"ok": True}
        assert (await peer.wait_for("message"))["text"] == "after"
    finally:
        await watcher.disconnect()
        await peer.disconnect()
    assert sum(numbers.endings.values()) == cycles
    if cycles >= 40:
        assert set(numbers.endings) == set(ENDINGS)
    measured = cycles - numbers.warm_up
    assert numbers.retained_bytes < MEMORY_ALLOWANCE + MEMORY_PER_CYCLE * measured, numbers


async def _soak(
    server: RunningServer, rng: random.Random, cycles: int, kept: set[str | None]
) -> SoakNumbers:
    """Run the cycles and wait (bounded) until the server is back to ``kept`` alone."""
    chat, sio = server.app[CHAT_KEY], server.sio
    bystander_rooms = {"lobby", *(f"user:{c.name}" for c in chat.connections.values())}

    def leftovers() -> list[str]:
        found = []
        stray = set(chat.connections) - kept
        if stray:
            found.append(f"{len(stray)} chat connections")
        if len(sio.eio.sockets) != len(kept):
            found.append(f"{len(sio.eio.sockets) - len(kept)} engine.io sockets")
        manager_rooms = sio.manager.rooms.get("/chat", {})
        extra = set(manager_rooms) - kept - bystander_rooms - {None}
        if extra:
            found.append(f"manager rooms {sorted(extra)[:5]}")
        if len(manager_rooms.get(None, {})) != len(kept):
            found.append("manager connections")
        return found

    # The tasks two idle connections and the server keep running; engine.io
    # replaces some of them as it goes, so they are compared by count.
    baseline = _task_kinds()
    warm_up = max(1, min(100, cycles // 5))
    started = time.monotonic()
    endings = await _run_cycles(server.url, rng, 0, warm_up)
    await _until(lambda: not leftovers(), 10, "warm-up not cleaned up")
    gc.collect()
    rss_before = _rss_bytes()
    tracemalloc.start()
    try:
        endings += await _run_cycles(server.url, rng, warm_up, cycles - warm_up)
        await _until(lambda: not leftovers(), 10, "; ".join(leftovers()))

        def extra_tasks() -> collections.Counter[str]:
            return _task_kinds() - baseline

        await _until(
            lambda: sum(extra_tasks().values()) <= TASK_SLACK,
            PING_INTERVAL + 10,
            f"tasks beyond the idle server's: {extra_tasks()}",
        )
        gc.collect()
        retained, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return SoakNumbers(
        store="",
        cycles=cycles,
        warm_up=warm_up,
        seconds=time.monotonic() - started,
        endings=dict(collections.Counter(endings)),
        retained_bytes=retained,
        rss_before=rss_before,
        rss_after=_rss_bytes(),
    )
