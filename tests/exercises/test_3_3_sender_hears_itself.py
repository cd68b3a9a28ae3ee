"""Exercise 3.3: spot the bug, a typing event sent back to its own sender."""

from __future__ import annotations

import socketio

from roomkit.course.implementations import Implementation
from roomkit.course.judge import check_against_reference
from roomkit.course.scenario import Stage

EXERCISE = "3.3"


def install(implementation: Implementation, sio: socketio.AsyncServer) -> None:
    implementation.register_room_events(sio)


async def enter(stage: Stage, name: str, *rooms: str) -> None:
    await stage.connect(name, "/chat")
    for room in rooms:
        await stage.call(name, "join room", room)


async def test_typing_reaches_the_others_only(
    impl: Implementation, reference: Implementation
) -> None:
    """typing reaches the room's other members, never the typist or other rooms"""

    async def scenario(stage: Stage) -> None:
        await enter(stage, "alice", "general")
        await enter(stage, "bob", "general")
        await enter(stage, "carol", "random")
        await stage.call("alice", "typing", "general")
        await stage.call("bob", "typing", "general")

    await check_against_reference(impl, reference, install, scenario)


async def test_topic_reaches_every_member(impl: Implementation, reference: Implementation) -> None:
    """a new topic reaches every member of the room, the one who set it included"""

    async def scenario(stage: Stage) -> None:
        await enter(stage, "alice", "general")
        await enter(stage, "bob", "general")
        await enter(stage, "carol", "random")
        await stage.call("alice", "set topic", {"room": "general", "topic": "Friday demo"})

    await check_against_reference(impl, reference, install, scenario)


async def test_non_members_are_refused(impl: Implementation, reference: Implementation) -> None:
    """typing or setting the topic of a room you are not in answers ok false, silently"""

    async def scenario(stage: Stage) -> None:
        await enter(stage, "alice", "general")
        await enter(stage, "carol", "random")
        await stage.call("carol", "typing", "general")
        await stage.call("carol", "set topic", {"room": "general", "topic": "hijacked"})

    await check_against_reference(impl, reference, install, scenario)


async def test_bad_payloads_are_refused(impl: Implementation, reference: Implementation) -> None:
    """payloads of the wrong shape answer ok false and deliver nothing"""

    async def scenario(stage: Stage) -> None:
        await enter(stage, "alice", "general")
        await enter(stage, "bob", "general")
        for bad in (7, None, {"room": "general"}):
            await stage.call("alice", "typing", bad)
        for bad in ("general", {"room": "general"}, {"room": "general", "topic": 5}):
            await stage.call("alice", "set topic", bad)

    await check_against_reference(impl, reference, install, scenario)
