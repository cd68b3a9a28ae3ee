"""Exercise 5.2: presence by display name, across join, leave and disconnect."""

from __future__ import annotations

import socketio

from roomkit.course.implementations import Implementation
from roomkit.course.judge import check_against_reference
from roomkit.course.scenario import Stage

EXERCISE = "5.2"
NOTICE_TIMEOUT = 1.0


def install(implementation: Implementation, sio: socketio.AsyncServer) -> None:
    implementation.register_presence(sio)


async def join(stage: Stage, client: str, room: str, name: str | None = None) -> None:
    """Connect ``client`` (as display name ``name``, default: the client's) and join ``room``."""
    await stage.connect(client, "/chat", auth={"name": name or client})
    await stage.call(client, "join room", room)


async def disconnect_and_listen(stage: Stage, name: str, *listeners: str) -> None:
    """``name`` disconnects; each listener waits (bounded) for its next ``presence``.

    The server handles a disconnect on its own schedule: waiting for the update
    is what orders it before the rest of the scenario. A server that sends none
    just costs the wait, and the comparison then says what is missing.
    """
    for listener in listeners:
        client = stage.clients[listener]
        while client.unclaimed("presence"):  # updates so far: not the one to wait for
            await client.wait_for("presence")
    await stage.disconnect(name)
    for listener in listeners:
        await stage.await_event(listener, "presence", timeout=NOTICE_TIMEOUT)


async def test_joining_updates_everyone_in_the_room(
    impl: Implementation, reference: Implementation
) -> None:
    """after a join, everyone in the room, the joiner included, receives the sorted names"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "carol", "tech")
        await join(stage, "alice", "tech")
        await join(stage, "bob", "tech")

    await check_against_reference(impl, reference, install, scenario)


async def test_members_answers_with_names(impl: Implementation, reference: Implementation) -> None:
    """members answers the room's names; a room nobody is in has none"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "bob", "tech")
        await join(stage, "alice", "tech")
        await join(stage, "carol", "lobby")
        await stage.call("carol", "members", "tech")
        await stage.call("carol", "members", "nowhere")

    await check_against_reference(impl, reference, install, scenario)


async def test_leaving_updates_the_others(impl: Implementation, reference: Implementation) -> None:
    """after a leave, the members still there receive the names without the leaver"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "alice", "tech")
        await join(stage, "bob", "tech")
        await join(stage, "carol", "tech")
        await stage.call("bob", "leave room", "tech")
        await stage.call("alice", "members", "tech")
        await stage.call("bob", "leave room", "tech")

    await check_against_reference(impl, reference, install, scenario)


async def test_disconnecting_updates_the_others(
    impl: Implementation, reference: Implementation
) -> None:
    """after a disconnect, the members of its rooms receive the names without it"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "alice", "tech")
        await join(stage, "bob", "tech")
        await stage.call("bob", "join room", "lobby")
        await join(stage, "carol", "lobby")
        await disconnect_and_listen(stage, "bob", "alice", "carol")
        await stage.call("alice", "members", "tech")
        await stage.call("carol", "members", "lobby")

    await check_against_reference(impl, reference, install, scenario)


async def test_two_connections_one_name(impl: Implementation, reference: Implementation) -> None:
    """a name with two connections is listed once, and stays until its last connection goes"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "alice", "tech")
        await join(stage, "alice-phone", "tech", name="alice")
        await join(stage, "bob", "tech")
        await disconnect_and_listen(stage, "alice-phone", "alice", "bob")
        await stage.call("bob", "members", "tech")
        await stage.call("alice", "leave room", "tech")
        await stage.call("bob", "members", "tech")

    await check_against_reference(impl, reference, install, scenario)


async def test_an_unchanged_list_is_still_sent(
    impl: Implementation, reference: Implementation
) -> None:
    """presence is sent after every join and leave, even when the names did not change"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "alice", "tech")
        await join(stage, "bob", "tech")
        await join(stage, "alice-phone", "tech", name="alice")
        await stage.call("alice-phone", "leave room", "tech")
        await stage.call("bob", "members", "tech")

    await check_against_reference(impl, reference, install, scenario)


async def test_rooms_do_not_hear_each_other(
    impl: Implementation, reference: Implementation
) -> None:
    """presence updates stay in their room"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "alice", "tech")
        await join(stage, "carol", "lobby")
        await join(stage, "bob", "tech")
        await stage.call("bob", "leave room", "tech")

    await check_against_reference(impl, reference, install, scenario)


async def test_a_name_is_required(impl: Implementation, reference: Implementation) -> None:
    """no auth, or no name in it: the connection is refused with 'auth.name is required'"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("nobody", "/chat", auth={})
        await stage.connect("nameless", "/chat", auth={"token": "x"})
        await stage.connect("numbered", "/chat", auth={"name": 5})
        await stage.connect("alice", "/chat")

    await check_against_reference(impl, reference, install, scenario)
