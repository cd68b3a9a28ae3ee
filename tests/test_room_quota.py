"""One client address cannot fill the server's room quota (docs/security.md).

Before: one client with 200 connections creating 50 rooms each took all 10,000
rooms in 4.3 s, after which nobody could create a room. Now each address
creates at most ``room_creation_burst`` rooms back to back, then
``room_creations_per_minute``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from support import ADMIN_TOKEN

from roomkit import Limits, LoadLimits, Settings, create_app
from roomkit.app import STORE_KEY
from roomkit.testing import RecordingClient, RunningServer, connect, serve

QUOTA = 100  # max_rooms_total
BURST = 10
PER_MINUTE = 6.0
CONNECTIONS = 10


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    settings = Settings(
        admin_token=ADMIN_TOKEN,
        metrics_interval=0,
        limits=Limits(max_rooms_total=QUOTA),
        load=LoadLimits(room_creation_burst=BURST, room_creations_per_minute=PER_MINUTE),
    )
    async with serve(create_app(settings)) as running:
        yield running


async def test_one_address_cannot_fill_the_room_quota(server: RunningServer) -> None:
    clients: list[RecordingClient] = list(
        await asyncio.gather(*(connect(server.url, f"filler{i}") for i in range(CONNECTIONS)))
    )
    try:
        started = time.monotonic()
        # Each connection may be in 50 rooms: together they could take the quota.
        replies = await asyncio.gather(
            *(
                client.call("create room" if n % 2 else "join room", *room_args(i, n))
                for i, client in enumerate(clients)
                for n in range(QUOTA // CONNECTIONS)
            )
        )
        elapsed = time.monotonic() - started
        created = [reply for reply in replies if reply["ok"]]
        refused = {reply["error"] for reply in replies if not reply["ok"]}
        assert len(created) <= BURST + PER_MINUTE / 60 * elapsed + 1
        assert refused == {
            f"too many new rooms from your address (limit {PER_MINUTE:g} a minute); "
            "join an existing one or wait"
        }
        assert await server.app[STORE_KEY].room_count() == len(created) < QUOTA
        # Joining a room that exists creates nothing and stays allowed.
        existing = next(reply["room"] for reply in created)
        name = existing if isinstance(existing, str) else existing["name"]
        assert (await clients[-1].call("join room", name))["ok"]
    finally:
        await asyncio.gather(*(client.disconnect() for client in clients))


def room_args(client: int, n: int) -> list[object]:
    name = f"r{client}-{n}"
    return [{"name": name}] if n % 2 else [name]
