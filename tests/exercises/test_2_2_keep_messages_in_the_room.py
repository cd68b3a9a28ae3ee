"""Exercise 2.2: spot the bug, a room message sent to the whole namespace."""

from __future__ import annotations

import socketio

from roomkit.course.implementations import Implementation
from roomkit.course.judge import check_against_reference
from roomkit.course.scenario import Stage

EXERCISE = "2.2"


def install(implementation: Implementation, sio: socketio.AsyncServer) -> None:
    implementation.register_room_chat(sio)


async def enter(stage: Stage, name: str, *rooms: str) -> None:
    await stage.connect(name, "/chat")
    for room in rooms:
        await stage.call(name, "join room", room)


async def test_message_reaches_the_room_only(
    impl: Implementation, reference: Implementation
) -> None:
    """a message reaches the room's other members, and nobody in another room or in none"""

    async def scenario(stage: Stage) -> None:
        await enter(stage, "alice", "general")
        await enter(stage, "bob", "general")
        await enter(stage, "carol", "random")
        await enter(stage, "dave")
        await stage.call("alice", "message", {"room": "general", "text": "lunch at noon?"})

    await check_against_reference(impl, reference, install, scenario)


async def test_a_member_of_two_rooms_hears_both(
    impl: Implementation, reference: Implementation
) -> None:
    """a connection in two rooms hears each of them, and each room only its own messages"""

    async def scenario(stage: Stage) -> None:
        await enter(stage, "alice", "general")
        await enter(stage, "bob", "general", "random")
        await enter(stage, "carol", "random")
        await stage.call("alice", "message", {"room": "general", "text": "from general"})
        await stage.call("carol", "message", {"room": "random", "text": "from random"})

    await check_against_reference(impl, reference, install, scenario)


async def test_only_members_may_write(impl: Implementation, reference: Implementation) -> None:
    """writing to a room you are not in answers ok false and delivers nothing"""

    async def scenario(stage: Stage) -> None:
        await enter(stage, "alice", "general")
        await enter(stage, "carol", "random")
        await stage.call("carol", "message", {"room": "general", "text": "let me in"})

    await check_against_reference(impl, reference, install, scenario)


async def test_bad_messages_are_refused(impl: Implementation, reference: Implementation) -> None:
    """a message that is not {"room": str, "text": str} answers ok false and delivers nothing"""

    async def scenario(stage: Stage) -> None:
        await enter(stage, "alice", "general")
        await enter(stage, "bob", "general")
        for bad in ("hello", {"room": "general"}, {"room": "general", "text": 7}, None):
            await stage.call("alice", "message", bad)

    await check_against_reference(impl, reference, install, scenario)
