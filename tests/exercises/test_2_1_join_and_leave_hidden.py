"""Exercise 2.1, hidden tests: run by ``roomkit grade``, never by ``await check``, never
shipped in a release (``hidden_tests`` in exercises.toml)."""

from __future__ import annotations

import socketio

from roomkit.course.implementations import Implementation
from roomkit.course.judge import check_against_reference
from roomkit.course.scenario import Stage

EXERCISE = "2.1"


def install(implementation: Implementation, sio: socketio.AsyncServer) -> None:
    implementation.register_rooms(sio)


async def test_rejoining_after_leaving_is_announced_again(
    impl: Implementation, reference: Implementation
) -> None:
    """leaving, then joining again, is announced again: the room forgot the leaver"""

    async def scenario(stage: Stage) -> None:
        for name in ("alice", "bob"):
            await stage.connect(name, "/chat")
            await stage.call(name, "join room", "general")
        await stage.call("bob", "leave room", "general")
        await stage.call("bob", "leave room", "general")
        await stage.call("bob", "join room", "general")

    await check_against_reference(impl, reference, install, scenario)


async def test_members_of_several_rooms_hear_each_room_once(
    impl: Implementation, reference: Implementation
) -> None:
    """a member of two rooms hears a join to each of them, once per room"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("alice", "/chat")
        await stage.call("alice", "join room", "red")
        await stage.call("alice", "join room", "blue")
        await stage.connect("bob", "/chat")
        await stage.call("bob", "join room", "red")
        await stage.call("bob", "join room", "blue")
        await stage.call("bob", "leave room", "red")

    await check_against_reference(impl, reference, install, scenario)
