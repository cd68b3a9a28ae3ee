"""Exercise 6.2: a member count that holds across servers, from a shared RoomStore."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator

import pytest
import socketio

from roomkit.course.implementations import Implementation
from roomkit.course.judge import check_cluster_against_reference
from roomkit.course.scenario import CALL_TIMEOUT, ObservedServer, Stage
from roomkit.errors import WaitTimeout
from roomkit.stores.redis import RedisStore

EXERCISE = "6.2"
CHAT = "/chat"
A, B = 0, 1

CLEANUP_TIMEOUT = 1.0

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


@contextlib.asynccontextmanager
async def build(
    implementation: Implementation, redis_url: str, name: str
) -> AsyncIterator[socketio.AsyncServer]:
    store = RedisStore(redis_url, node_id=f"node-{name}")
    await store.start()
    try:
        sio = ObservedServer()
        implementation.register_room_count(sio, store)
        yield sio
    finally:
        await store.close()


async def join(stage: Stage, name: str, server: int, *rooms: str) -> None:
    await stage.connect(name, CHAT, server=server)
    for room in rooms:
        await stage.call(name, "join room", room)


async def disconnect_and_watch(stage: Stage, name: str, observer: str, room: str) -> None:
    """``name`` disconnects; ``observer`` asks for ``room``'s count until it changes (bounded).

    The server handles a disconnect on its own schedule and tells nobody here, so
    the observer's count is what orders it before the rest of the scenario. These
    calls are not part of the comparison; a server that never updates its count
    costs the wait, and the comparison then says what is wrong.
    """
    client = stage.clients[observer]
    try:
        before = await client.call("count", room, timeout=CALL_TIMEOUT)
    except WaitTimeout:  # no count at all: the comparison says so
        before = None
    await stage.disconnect(name)
    deadline = asyncio.get_running_loop().time() + CLEANUP_TIMEOUT
    with contextlib.suppress(WaitTimeout):
        while before is not None and asyncio.get_running_loop().time() < deadline:
            if await client.call("count", room, timeout=CALL_TIMEOUT) != before:
                return


async def test_the_count_includes_every_server(
    impl: Implementation, reference: Implementation
) -> None:
    """count answers with the room's members on every server, asked on either"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "alice", A, "lobby")
        await join(stage, "bob", B, "lobby")
        await join(stage, "carol", B, "lobby")
        await join(stage, "dave", A)
        await stage.call("dave", "count", "lobby")
        await stage.call("bob", "count", "lobby")

    await check_cluster_against_reference(impl, reference, build, scenario)


async def test_leaving_lowers_the_count_everywhere(
    impl: Implementation, reference: Implementation
) -> None:
    """leaving on one server lowers the count seen on the other"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "alice", A, "lobby")
        await join(stage, "bob", B, "lobby")
        await stage.call("bob", "leave room", "lobby")
        await stage.call("alice", "count", "lobby")
        await stage.call("alice", "leave room", "lobby")
        await stage.call("bob", "count", "lobby")

    await check_cluster_against_reference(impl, reference, build, scenario)


async def test_rooms_are_counted_separately(
    impl: Implementation, reference: Implementation
) -> None:
    """each room has its own count; a connection in two rooms counts in both"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "alice", A, "lobby", "games")
        await join(stage, "bob", B, "games")
        await stage.call("bob", "count", "lobby")
        await stage.call("alice", "count", "games")

    await check_cluster_against_reference(impl, reference, build, scenario)


async def test_joining_twice_counts_once(impl: Implementation, reference: Implementation) -> None:
    """joining twice counts once, and a room nobody is in counts zero"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "alice", A, "lobby", "lobby")
        await join(stage, "bob", B, "lobby")
        await stage.call("bob", "count", "lobby")
        await stage.call("bob", "count", "nowhere")

    await check_cluster_against_reference(impl, reference, build, scenario)


async def test_a_disconnected_member_leaves_the_count(
    impl: Implementation, reference: Implementation
) -> None:
    """a member who disconnects leaves the count, on every server"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "alice", A, "lobby", "games")
        await join(stage, "bob", B, "lobby")
        await join(stage, "carol", B, "games")
        await disconnect_and_watch(stage, "alice", "bob", "lobby")
        await stage.call("bob", "count", "lobby")
        await stage.call("carol", "count", "games")

    await check_cluster_against_reference(impl, reference, build, scenario)
