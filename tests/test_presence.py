"""Presence events within a room's budget, and the ``presence`` summary past it
(docs/protocol.md), with real clients on a real server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from support import ADMIN_TOKEN

from roomkit import LoadLimits, Settings, create_app
from roomkit.testing import RecordingClient, RunningServer, connect, expect_silence, serve

# One packet per second: the first join into a room of one member fits, the
# next ones are summed up.
BUDGET = 1


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    load = LoadLimits(presence_fanout_per_second=BUDGET, presence_interval=0.2)
    async with serve(
        create_app(Settings(admin_token=ADMIN_TOKEN, metrics_interval=0, load=load))
    ) as running:
        yield running


async def test_past_the_budget_joins_and_leaves_are_summed_up(server: RunningServer) -> None:
    clients: list[RecordingClient] = []
    try:
        for name in ["ann", "ben", "cat", "dan"]:
            clients.append(await connect(server.url, name))
        ann, ben, cat, dan = clients
        await ann.call("join room", "hall")
        await ben.call("join room", "hall")  # costs 1 packet (ann): within the budget
        assert await ann.wait_for("user joined") == ben.sid
        await cat.call("join room", "hall")  # would cost 2: summed up
        await dan.call("join room", "hall")
        await dan.call("leave room", "hall")
        summary = {"room": "hall", "joined": 2, "left": 1}
        for client in (ann, ben, cat):
            assert await client.wait_for("presence") == summary
        # Nothing was announced one by one once the room was being summed up,
        # and nobody else heard anything.
        await expect_silence(ann, event="user joined")
        await expect_silence(ann, ben, cat, event="user left")
        await expect_silence(dan, event="presence")
    finally:
        for client in clients:
            await client.disconnect()
