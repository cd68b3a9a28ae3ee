"""Exercise 2.1: join room, leave room, and user joined / user left for the other members."""

from __future__ import annotations

import socketio

from roomkit.course.implementations import Implementation
from roomkit.course.judge import check_against_reference
from roomkit.course.scenario import Stage

EXERCISE = "2.1"
NOTICE_TIMEOUT = 2.0


def install(implementation: Implementation, sio: socketio.AsyncServer) -> None:
    implementation.register_rooms(sio)


async def enter(stage: Stage, name: str, *rooms: str) -> None:
    await stage.connect(name, "/chat")
    for room in rooms:
        await stage.call(name, "join room", room)


async def disconnect_and_listen(stage: Stage, name: str, *listeners: str) -> None:
    """``name`` disconnects; each listener waits (bounded) for its ``user left``.

    The server handles a disconnect on its own schedule: waiting for the notice
    is what orders it before the rest of the scenario. A server that sends no
    notice just costs the wait, and the comparison then says what is missing.
    """
    await stage.disconnect(name)
    for listener in listeners:
        await stage.await_event(listener, "user left", timeout=NOTICE_TIMEOUT)


async def test_joining_tells_the_other_members(
    impl: Implementation, reference: Implementation
) -> None:
    """a join is announced to the room's other members only: not the joiner, not other rooms"""

    async def scenario(stage: Stage) -> None:
        await enter(stage, "alice", "general")
        await enter(stage, "bob", "general")
        await enter(stage, "carol", "random")
        await enter(stage, "dave", "general")

    await check_against_reference(impl, reference, install, scenario)


async def test_joining_twice_changes_nothing(
    impl: Implementation, reference: Implementation
) -> None:
    """joining a room you are already in answers ok and announces nothing"""

    async def scenario(stage: Stage) -> None:
        await enter(stage, "alice", "general")
        await enter(stage, "bob", "general", "general")

    await check_against_reference(impl, reference, install, scenario)


async def test_leaving_tells_the_remaining_members(
    impl: Implementation, reference: Implementation
) -> None:
    """a leave is announced to the remaining members, and the leaver hears the room no more"""

    async def scenario(stage: Stage) -> None:
        await enter(stage, "alice", "general")
        await enter(stage, "bob", "general")
        await enter(stage, "carol", "general")
        await stage.call("bob", "leave room", "general")
        await enter(stage, "dave", "general")

    await check_against_reference(impl, reference, install, scenario)


async def test_leaving_a_room_you_are_not_in(
    impl: Implementation, reference: Implementation
) -> None:
    """leaving a room you are not in, or your own sid room, answers ok false, and nobody hears"""

    async def scenario(stage: Stage) -> None:
        await enter(stage, "alice", "general")
        await enter(stage, "bob", "random")
        await stage.call("bob", "leave room", "general")
        await stage.call("bob", "leave room", "nowhere")
        await stage.call("bob", "leave room", 42)
        await stage.call("bob", "leave room", stage.clients["bob"].sid)  # its own sid room

    await check_against_reference(impl, reference, install, scenario)


async def test_bad_room_names_are_refused(impl: Implementation, reference: Implementation) -> None:
    """bad room names (not a string, empty, another connection's sid) answer ok false"""

    async def scenario(stage: Stage) -> None:
        await enter(stage, "alice", "general")
        await stage.connect("bob", "/chat")
        for bad in (42, "", None, ["general"]):
            await stage.call("bob", "join room", bad)
        await stage.call("bob", "join room", stage.clients["alice"].sid)

    await check_against_reference(impl, reference, install, scenario)


async def test_disconnecting_tells_each_room(
    impl: Implementation, reference: Implementation
) -> None:
    """a disconnect is announced as user left in each room the connection was in"""

    async def scenario(stage: Stage) -> None:
        await enter(stage, "alice", "red", "blue")
        await enter(stage, "bob", "red")
        await enter(stage, "carol", "blue")
        await enter(stage, "dave", "green")
        await disconnect_and_listen(stage, "alice", "bob", "carol")

    await check_against_reference(impl, reference, install, scenario)
