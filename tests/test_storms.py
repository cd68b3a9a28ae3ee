"""Join storms against a real ``roomkit serve``: N raw websocket clients join
one room at once, the server is stopped with SIGTERM, started again on the same
port, and every client reconnects and rejoins (what the chat page does after a
restart).

Before: every join and every leave went to every other member (N²/2 packets:
3,000 joins made 4.5 M packets and took the server to 1 GB; SIGTERM with 2,500
members took 36.6 s). The presence budget (roomkit.presence) bounds both.

``make test`` runs 300 clients; ``make soak`` runs 3,000 (``--storm-members``,
see tests/conftest.py). The numbers are printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from raw_clients import RawChatClient
from serve_support import rss_bytes, rss_peak, serving

pytestmark = pytest.mark.timeout(600)

ROOM = "storm"
BUDGET = 2_000  # --presence-fanout-per-second: small, so the bound bites at 300 clients
INTERVAL = 0.5  # --presence-interval
CONNECTING = 100  # clients connecting at once
# Growth of the server's RSS over the storm (peak minus before), written down in
# docs/security.md: 16 MiB + 16 KiB per member. Measured: under 1 MiB at 300
# clients, 7 MiB at 3,000.
RSS_BOUND_PER_MEMBER = 16 * 1024
RSS_ALLOWANCE = 16 * 1024 * 1024
SIGTERM_BOUND = 5.0  # seconds from SIGTERM to exit (the acceptance bound)


@pytest.fixture
def members(request: pytest.FixtureRequest) -> int:
    count: int = request.config.getoption("--storm-members")
    return count


def serve_flags() -> list[str]:
    # The storm's clients all come from 127.0.0.1, whose one shared bucket (400
    # events back to back) would refuse most of 3,000 joins; real ones come
    # from many addresses. (roomkit serve has no flag for that bucket alone.)
    return [
        "--no-rate-limit",
        "--presence-fanout-per-second",
        str(BUDGET),
        "--presence-interval",
        str(INTERVAL),
    ]


@contextlib.asynccontextmanager
async def raw_clients(url: str, count: int) -> AsyncIterator[list[RawChatClient]]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        clients = [RawChatClient(session, url, f"m{i}") for i in range(count)]
        try:
            await connect_all(clients)
            yield clients
        finally:
            await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)


async def connect_all(clients: list[RawChatClient]) -> None:
    for start in range(0, len(clients), CONNECTING):
        await asyncio.gather(*(client.open() for client in clients[start : start + CONNECTING]))


def presence_packets(clients: list[RawChatClient], *events: str) -> int:
    return sum(client.counts[event] for client in clients for event in (*events, "presence"))


async def storm(clients: list[RawChatClient]) -> float:
    """Every client joins ROOM at once; returns the seconds until the first
    client heard of every other one (by ``user joined`` or ``presence``)."""
    observer = clients[0]
    assert (await observer.call("join room", ROOM))["ok"]
    started = time.monotonic()
    replies = await asyncio.gather(*(client.call("join room", ROOM) for client in clients[1:]))
    assert all(reply["ok"] for reply in replies)

    def heard() -> int:
        return observer.counts["user joined"] + sum(s["joined"] for s in observer.summaries)

    await observer.wait_until(lambda: heard() >= len(clients) - 1, timeout=30)
    return time.monotonic() - started


def bound(seconds: float, members: int) -> float:
    """Presence packets the budget allows in ``seconds``: the budget itself,
    one full second of it up front, and one summary per member per interval."""
    return BUDGET * (seconds + 1) + members * (seconds / INTERVAL + 2)


async def test_join_storm_sigterm_and_restart(members: int) -> None:
    async with serving(*serve_flags(), stop_timeout=SIGTERM_BOUND) as server:
        assert server.pid is not None
        async with raw_clients(server.url, members) as clients:
            before = rss_bytes(server.pid)
            async with rss_peak(server.pid) as peak:
                took = await storm(clients)
            joined = presence_packets(clients, "user joined")
            growth = peak.peak - before
            after = rss_bytes(server.pid)
            print(
                f"\njoin storm, {members} clients: {took:.2f} s, {joined} presence packets "
                f"(bound {bound(took, members):.0f}; unbounded {members * (members - 1) // 2}), "
                f"RSS {before / 2**20:.0f} -> peak {peak.peak / 2**20:.0f} -> "
                f"after {after / 2**20:.0f} MiB"
            )
            assert joined <= bound(took, members)
            assert growth <= RSS_ALLOWANCE + members * RSS_BOUND_PER_MEMBER
            assert not any(client.closed.is_set() for client in clients), "dropped clients"

            for client in clients:
                client.counts.clear()
            stopping = time.monotonic()
            # SIGTERM; SIGKILL (a status of -9) after SIGTERM_BOUND seconds.
            assert await server.stop() == 0
            stopped = time.monotonic() - stopping
            left = presence_packets(clients, "user left")
            print(f"SIGTERM with {members} in one room: exit after {stopped:.2f} s, {left} packets")
            assert left <= bound(stopped, members)

    # The chat page rejoins its rooms after a reconnect: a second storm.
    async with (
        serving(*serve_flags(), port=server.port) as server,
        raw_clients(server.url, members) as clients,
    ):
        took = await storm(clients)
        reply = await clients[0].call("list rooms")
        assert reply["rooms"] == [{"name": ROOM, "topic": "", "members": members, "private": False}]
        print(f"restart and rejoin storm: {took:.2f} s")
