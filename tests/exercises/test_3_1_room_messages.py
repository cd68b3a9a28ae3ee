"""Exercise 3.1: messages to one room, and cross-posts to several rooms at once."""

from __future__ import annotations

import socketio

from roomkit.course.implementations import Implementation
from roomkit.course.judge import check_against_reference
from roomkit.course.scenario import Stage

EXERCISE = "3.1"


def install(implementation: Implementation, sio: socketio.AsyncServer) -> None:
    implementation.register_room_messages(sio)


async def enter(stage: Stage, name: str, *rooms: str) -> None:
    await stage.connect(name, "/chat")
    for room in rooms:
        await stage.call(name, "join room", room)


async def test_message_reaches_the_other_members(
    impl: Implementation, reference: Implementation
) -> None:
    """a message reaches the room's other members: not the sender, not other rooms"""

    async def scenario(stage: Stage) -> None:
        await enter(stage, "alice", "general")
        await enter(stage, "bob", "general", "random")
        await enter(stage, "carol", "random")
        await stage.call("alice", "message", {"room": "general", "text": "hi general"})
        await stage.call("carol", "message", {"room": "random", "text": "hi random"})

    await check_against_reference(impl, reference, install, scenario)


async def test_cross_post_reaches_each_member_once(
    impl: Implementation, reference: Implementation
) -> None:
    """a cross-post reaches every other member of the listed rooms once, and nobody else"""

    async def scenario(stage: Stage) -> None:
        await enter(stage, "alice", "general")
        await enter(stage, "bob", "general", "random")
        await enter(stage, "carol", "general", "random")
        await enter(stage, "dave", "tech")
        await enter(stage, "erin")
        await stage.call("carol", "cross-post", {"rooms": ["general", "random"], "text": "both"})
        # "the list as sent": in its order, not sorted
        await stage.call("bob", "cross-post", {"rooms": ["random", "general"], "text": "back"})

    await check_against_reference(impl, reference, install, scenario)


async def test_cross_post_needs_every_room(impl: Implementation, reference: Implementation) -> None:
    """a cross-post to a room the sender is not in answers ok false and delivers nothing"""

    async def scenario(stage: Stage) -> None:
        await enter(stage, "alice", "general")
        await enter(stage, "bob", "random")
        await stage.call("alice", "cross-post", {"rooms": ["general", "random"], "text": "psst"})
        await stage.call("bob", "message", {"room": "general", "text": "let me in"})

    await check_against_reference(impl, reference, install, scenario)


async def test_an_empty_room_list_is_refused(
    impl: Implementation, reference: Implementation
) -> None:
    """a cross-post to an empty list of rooms is refused, not sent to the whole namespace"""

    async def scenario(stage: Stage) -> None:
        await enter(stage, "alice", "general")
        await enter(stage, "bob", "general")
        await enter(stage, "dave")
        await stage.call("alice", "cross-post", {"rooms": [], "text": "to nobody?"})

    await check_against_reference(impl, reference, install, scenario)


async def test_bad_payloads_are_refused(impl: Implementation, reference: Implementation) -> None:
    """payloads of the wrong shape answer ok false and deliver nothing"""

    async def scenario(stage: Stage) -> None:
        await enter(stage, "alice", "general")
        await enter(stage, "bob", "general")
        for bad in ("hi", {"room": "general"}, {"room": 1, "text": "x"}, None):
            await stage.call("alice", "message", bad)
        for bad in (
            {"rooms": "general", "text": "a string is not a list"},
            {"rooms": ["general", 7], "text": "x"},
            {"rooms": ["general"]},
            ["general"],
        ):
            await stage.call("alice", "cross-post", bad)

    await check_against_reference(impl, reference, install, scenario)
