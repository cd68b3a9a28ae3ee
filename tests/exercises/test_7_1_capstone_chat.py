"""Exercise 7.1: the capstone's /chat side, end to end."""

from __future__ import annotations

import asyncio
import contextlib

import socketio

from roomkit.course.implementations import Implementation
from roomkit.course.judge import check_against_reference
from roomkit.course.scenario import CALL_TIMEOUT, Stage
from roomkit.errors import WaitTimeout

EXERCISE = "7.1"
CHAT = "/chat"
CLEANUP_TIMEOUT = 1.0


def install(implementation: Implementation, sio: socketio.AsyncServer) -> None:
    implementation.register_chat(sio)


async def chat(stage: Stage, *names: str) -> None:
    for name in names:
        await stage.connect(name, CHAT)


async def join(stage: Stage, name: str, *rooms: str) -> None:
    for room in rooms:
        await stage.call(name, "join room", room)


async def disconnect_and_watch(stage: Stage, name: str, observer: str) -> None:
    """``name`` disconnects; ``observer`` asks for the listing until it changes (bounded).

    For a disconnect nobody is told about: the observer's listing is what orders it
    before the rest of the scenario. These calls are not part of the comparison; a
    server that never updates its listing costs the wait, and the comparison says
    what is wrong.
    """
    client = stage.clients[observer]
    try:
        before = await client.call("list rooms", timeout=CALL_TIMEOUT)
    except WaitTimeout:  # no listing at all: the comparison says so
        before = None
    await stage.disconnect(name)
    deadline = asyncio.get_running_loop().time() + CLEANUP_TIMEOUT
    with contextlib.suppress(WaitTimeout):
        while before is not None and asyncio.get_running_loop().time() < deadline:
            if await client.call("list rooms", timeout=CALL_TIMEOUT) != before:
                return


async def test_messages_reach_the_rooms_members_only(
    impl: Implementation, reference: Implementation
) -> None:
    """a message reaches the other members of its room, and no one else"""

    async def scenario(stage: Stage) -> None:
        await chat(stage, "alice", "bob", "carol")
        await join(stage, "alice", "general")
        await join(stage, "bob", "general", "random")
        await join(stage, "carol", "random")
        await stage.call("alice", "message", {"room": "general", "text": "hi bob"})
        await stage.call("carol", "message", {"room": "random", "text": "anyone here?"})

    await check_against_reference(impl, reference, install, scenario)


async def test_joining_is_announced_and_counted(
    impl: Implementation, reference: Implementation
) -> None:
    """joining is announced to the room's members and answered with the member count"""

    async def scenario(stage: Stage) -> None:
        await chat(stage, "alice", "bob", "carol")
        await join(stage, "alice", "general")
        await join(stage, "bob", "general")
        await join(stage, "carol", "random")
        await join(stage, "carol", "general")

    await check_against_reference(impl, reference, install, scenario)


async def test_joining_twice_changes_nothing(
    impl: Implementation, reference: Implementation
) -> None:
    """joining a room twice changes nothing and is announced once"""

    async def scenario(stage: Stage) -> None:
        await chat(stage, "alice", "bob")
        await join(stage, "alice", "general")
        await join(stage, "bob", "general", "general")
        await stage.call("bob", "members", "general")

    await check_against_reference(impl, reference, install, scenario)


async def test_create_room_keeps_a_topic(impl: Implementation, reference: Implementation) -> None:
    """create room makes a room with a topic, once; list rooms shows it with its members"""

    async def scenario(stage: Stage) -> None:
        await chat(stage, "alice", "bob", "carol")
        await stage.call("alice", "create room", {"name": "tech", "topic": "python talk"})
        await stage.call("bob", "create room", {"name": "tech", "topic": "mine now"})
        await join(stage, "bob", "tech")
        await stage.call("carol", "create room", {"name": "music"})
        await join(stage, "carol", "general")
        await stage.call("carol", "list rooms")
        await stage.call("bob", "message", {"room": "tech", "text": "hello creator"})

    await check_against_reference(impl, reference, install, scenario)


async def test_members_lists_display_names(impl: Implementation, reference: Implementation) -> None:
    """members answers with the display names in the room, sorted"""

    async def scenario(stage: Stage) -> None:
        await chat(stage, "zoe", "mia", "alice", "ben")
        for name in ("zoe", "mia", "alice"):  # joining in reverse order: the answer is sorted
            await join(stage, name, "general")
        await join(stage, "ben", "random")
        await stage.call("ben", "members", "general")
        await stage.call("ben", "members", "random")
        await stage.call("ben", "members", "nowhere")

    await check_against_reference(impl, reference, install, scenario)


async def test_members_lists_each_connection(
    impl: Implementation, reference: Implementation
) -> None:
    """members lists a name once per connection: two connections under one name, twice"""

    async def scenario(stage: Stage) -> None:
        await chat(stage, "alice", "bob")
        await stage.connect("alice-phone", CHAT, auth={"name": "alice"})
        await join(stage, "alice", "general")
        await join(stage, "alice-phone", "general")
        await join(stage, "bob", "general")
        await stage.call("bob", "members", "general")
        await stage.call("bob", "list rooms")
        await stage.call("alice-phone", "leave room", "general")
        await stage.call("bob", "members", "general")

    await check_against_reference(impl, reference, install, scenario)


async def test_leaving_is_announced_and_empty_rooms_vanish(
    impl: Implementation, reference: Implementation
) -> None:
    """leaving is announced, stops the room's messages, and the last one out deletes the room"""

    async def scenario(stage: Stage) -> None:
        await chat(stage, "alice", "bob")
        await stage.call("alice", "create room", {"name": "tech", "topic": "python"})
        await join(stage, "bob", "tech")
        await stage.call("bob", "leave room", "tech")
        await stage.call("alice", "message", {"room": "tech", "text": "bob, still there?"})
        await stage.call("bob", "leave room", "tech")
        await stage.call("alice", "leave room", "tech")
        await stage.call("bob", "list rooms")
        await stage.call("bob", "members", "tech")
        await stage.call("bob", "join room", "tech")
        await stage.call("bob", "list rooms")

    await check_against_reference(impl, reference, install, scenario)


async def test_disconnecting_leaves_every_room(
    impl: Implementation, reference: Implementation
) -> None:
    """a disconnect is announced as 'user left' in each of the connection's rooms, and counts
    as leaving them: members and counts drop, and emptied rooms are deleted"""

    async def scenario(stage: Stage) -> None:
        await chat(stage, "alice", "bob", "carol")
        await join(stage, "alice", "general", "random")
        await join(stage, "bob", "general")
        await join(stage, "carol", "random")
        await stage.disconnect("alice")
        await stage.await_event("bob", "user left")
        await stage.await_event("carol", "user left")
        # ... and takes alice out of the index: counts, member lists, emptied rooms
        await stage.call("bob", "members", "general")
        await stage.call("carol", "list rooms")
        await disconnect_and_watch(stage, "carol", "bob")  # the last one out of random
        await stage.call("bob", "list rooms")

    await check_against_reference(impl, reference, install, scenario)


async def test_a_name_is_required(impl: Implementation, reference: Implementation) -> None:
    """/chat refuses a connection without a valid name, with 'invalid name'"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("anonymous", CHAT, auth={})
        await stage.connect("blank", CHAT, auth={"name": "   "})
        await stage.connect("number", CHAT, auth={"name": 42})
        await stage.connect("long", CHAT, auth={"name": "x" * 33})
        await stage.connect("alice", CHAT)

    await check_against_reference(impl, reference, install, scenario)


async def test_the_longest_allowed_values_are_accepted(
    impl: Implementation, reference: Implementation
) -> None:
    """a name of 32 characters, a room of 64, a topic of 200 and a text of 500 are accepted"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("longest", CHAT, auth={"name": "n" * 32})
        await stage.connect("bob", CHAT)
        await stage.call("longest", "create room", {"name": "r" * 64, "topic": "t" * 200})
        await join(stage, "bob", "r" * 64)
        await stage.call("bob", "message", {"room": "r" * 64, "text": "x" * 500})
        await stage.call("bob", "list rooms")

    await check_against_reference(impl, reference, install, scenario)


async def test_bad_rooms_are_refused_to_the_sender_only(
    impl: Implementation, reference: Implementation
) -> None:
    """bad room names and requests get ok false, and nobody hears anything"""

    async def scenario(stage: Stage) -> None:
        await chat(stage, "alice", "bob")
        await join(stage, "bob", "general")
        await stage.call("alice", "join room", 42)
        await stage.call("alice", "join room", "")
        await stage.call("alice", "join room", "   ")
        await stage.call("alice", "join room", "x" * 65)
        await stage.call("alice", "join room", ["general"])
        await stage.call("alice", "leave room", "general")
        await stage.call("alice", "leave room", ["general"])
        await stage.call("alice", "members", 42)
        await stage.call("alice", "create room", "general")
        await stage.call("alice", "create room", {"topic": "no name"})
        await stage.call("alice", "create room", {"name": "general"})
        await stage.call("alice", "create room", {"name": "tech", "topic": 7})
        await stage.call("alice", "create room", {"name": "tech", "topic": "t" * 201})
        await stage.call("alice", "list rooms")

    await check_against_reference(impl, reference, install, scenario)


async def test_bad_messages_are_refused_to_the_sender_only(
    impl: Implementation, reference: Implementation
) -> None:
    """bad messages get ok false, and nobody hears anything"""

    async def scenario(stage: Stage) -> None:
        await chat(stage, "alice", "bob")
        await join(stage, "alice", "general")
        await join(stage, "bob", "general", "random")
        await stage.call("alice", "message", "hi all")
        await stage.call("alice", "message", {"room": "general"})
        await stage.call("alice", "message", {"room": "general", "text": ""})
        await stage.call("alice", "message", {"room": "general", "text": 42})
        await stage.call("alice", "message", {"room": "general", "text": "x" * 501})
        await stage.call("alice", "message", {"room": "random", "text": "let me in"})
        await stage.call("alice", "message", {"room": ["general"], "text": "sneaky"})
        await stage.call("alice", "message", {"room": "general", "text": "this one is fine"})

    await check_against_reference(impl, reference, install, scenario)


async def test_a_connections_own_room_is_off_limits(
    impl: Implementation, reference: Implementation
) -> None:
    """a room named after a connection's session id is refused (enter_room would raise)"""

    async def scenario(stage: Stage) -> None:
        await chat(stage, "alice", "bob")
        bobs_room = stage.clients["bob"].sid
        await stage.call("alice", "join room", bobs_room)
        await stage.call("alice", "create room", {"name": bobs_room})
        await stage.call("alice", "list rooms")

    await check_against_reference(impl, reference, install, scenario)
