"""Exercise 6.1: rooms that span two servers, through a Redis pub/sub manager."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator

import pytest
import socketio

from roomkit.course.implementations import Implementation
from roomkit.course.judge import check_cluster_against_reference
from roomkit.course.scenario import Stage

EXERCISE = "6.1"
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
    yield implementation.make_server(redis_url)


async def join(stage: Stage, name: str, server: int, *rooms: str) -> None:
    await stage.connect(name, CHAT, server=server)
    for room in rooms:
        await stage.call(name, "join room", room)


async def test_a_message_reaches_members_on_the_other_server(
    impl: Implementation, reference: Implementation
) -> None:
    """a message sent on server A reaches the room's members on server B"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "alice", A, "general")
        await join(stage, "bob", B, "general")
        await join(stage, "carol", B)
        await stage.call("alice", "message", {"room": "general", "text": "hi bob, on B"})
        await stage.await_event("bob", "message")

    await check_cluster_against_reference(impl, reference, build, scenario)


async def test_members_on_both_servers_hear_each_other(
    impl: Implementation, reference: Implementation
) -> None:
    """members on both servers hear each other, the sender never hears itself"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "alice", A, "general")
        await join(stage, "dave", A, "general")
        await join(stage, "bob", B, "general")
        await stage.call("bob", "message", {"room": "general", "text": "hello from B"})
        await stage.await_event("alice", "message")
        await stage.await_event("dave", "message")
        await stage.call("dave", "message", {"room": "general", "text": "hello from A"})
        await stage.await_event("bob", "message")

    await check_cluster_against_reference(impl, reference, build, scenario)


async def test_rooms_stay_separate_across_servers(
    impl: Implementation, reference: Implementation
) -> None:
    """a room's messages reach only that room, on every server"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "alice", A, "general", "random")
        await join(stage, "bob", B, "general")
        await join(stage, "carol", B, "random")
        await stage.call("bob", "message", {"room": "general", "text": "general only"})
        await stage.await_event("alice", "message")
        await stage.call("carol", "message", {"room": "random", "text": "random only"})
        await stage.await_event("alice", "message")

    await check_cluster_against_reference(impl, reference, build, scenario)


async def test_leaving_stops_messages_from_the_other_server(
    impl: Implementation, reference: Implementation
) -> None:
    """after leaving, messages from the other server stop"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "alice", A, "general")
        await join(stage, "bob", B, "general")
        await stage.call("bob", "leave room", "general")
        await stage.call("alice", "message", {"room": "general", "text": "bob, still there?"})

    await check_cluster_against_reference(impl, reference, build, scenario)
