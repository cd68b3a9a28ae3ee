"""Exercise 6.2: a member count that holds across servers, from a shared RoomStore."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator

import pytest
import socketio

from roomkit.course.implementations import Implementation
from roomkit.course.judge import check_cluster_against_reference
from roomkit.course.scenario import ObservedServer, Stage
from roomkit.stores.redis import RedisStore

EXERCISE = "6.2"
CHAT = "/chat"
A, B = 0, 1

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
