"""Exercise 5.1: a room directory with metadata, member counts and room creation."""

from __future__ import annotations

import asyncio
import contextlib

import socketio

from roomkit.course.implementations import Implementation
from roomkit.course.judge import check_against_reference
from roomkit.course.scenario import CALL_TIMEOUT, Stage
from roomkit.errors import WaitTimeout

EXERCISE = "5.1"
CLEANUP_TIMEOUT = 1.0


def install(implementation: Implementation, sio: socketio.AsyncServer) -> None:
    implementation.register_room_directory(sio)


async def disconnect_and_watch(stage: Stage, name: str, observer: str) -> None:
    """``name`` disconnects; ``observer`` asks for the listing until it changes (bounded).

    The server handles a disconnect on its own schedule and tells nobody here, so
    the observer's listing is what orders it before the rest of the scenario. These
    calls are not part of the comparison; a server that never updates its listing
    costs the wait, and the comparison then says what is wrong.
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


async def test_a_created_room_is_listed_with_its_metadata(
    impl: Implementation, reference: Implementation
) -> None:
    """create room answers the metadata, and list rooms shows the room, its topic and 1 member"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("alice", "/chat")
        await stage.call("alice", "list rooms")
        await stage.call("alice", "create room", {"name": "tech", "topic": "compilers"})
        await stage.call("alice", "create room", {"name": "random"})
        await stage.call("alice", "list rooms")

    await check_against_reference(impl, reference, install, scenario)


async def test_duplicate_names_are_refused(impl: Implementation, reference: Implementation) -> None:
    """a taken name is refused, and the room keeps its topic and creator"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("alice", "/chat")
        await stage.connect("bob", "/chat")
        await stage.call("alice", "create room", {"name": "tech", "topic": "compilers"})
        await stage.call("bob", "create room", {"name": "tech", "topic": "mine now"})
        await stage.call("bob", "list rooms")

    await check_against_reference(impl, reference, install, scenario)


async def test_counts_follow_joins_and_leaves(
    impl: Implementation, reference: Implementation
) -> None:
    """member counts follow joins and leaves, in the answers and in the listing"""

    async def scenario(stage: Stage) -> None:
        for name in ("alice", "bob", "carol"):
            await stage.connect(name, "/chat")
        await stage.call("alice", "create room", {"name": "tech", "topic": "compilers"})
        await stage.call("alice", "create room", {"name": "lobby", "topic": "say hi"})
        await stage.call("bob", "join room", "tech")
        await stage.call("carol", "join room", "tech")
        await stage.call("carol", "list rooms")
        await stage.call("bob", "leave room", "tech")
        await stage.call("carol", "list rooms")

    await check_against_reference(impl, reference, install, scenario)


async def test_an_emptied_room_is_deleted(impl: Implementation, reference: Implementation) -> None:
    """a room whose last member leaves is deleted: gone from the list, its name free again"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("alice", "/chat")
        await stage.connect("bob", "/chat")
        await stage.call("alice", "create room", {"name": "tech", "topic": "compilers"})
        await stage.call("alice", "leave room", "tech")
        await stage.call("bob", "list rooms")
        await stage.call("bob", "join room", "tech")
        await stage.call("bob", "create room", {"name": "tech", "topic": "new start"})
        await stage.call("alice", "list rooms")

    await check_against_reference(impl, reference, install, scenario)


async def test_the_listing_follows_disconnects(
    impl: Implementation, reference: Implementation
) -> None:
    """disconnecting counts as leaving: counts drop, and emptied rooms disappear"""

    async def scenario(stage: Stage) -> None:
        for name in ("alice", "bob", "carol"):
            await stage.connect(name, "/chat")
        await stage.call("alice", "create room", {"name": "tech", "topic": "compilers"})
        await stage.call("bob", "join room", "tech")
        await stage.call("bob", "create room", {"name": "random", "topic": "anything"})
        await stage.call("carol", "list rooms")
        await disconnect_and_watch(stage, "bob", "carol")
        await stage.call("carol", "list rooms")
        await disconnect_and_watch(stage, "alice", "carol")
        await stage.call("carol", "list rooms")

    await check_against_reference(impl, reference, install, scenario)


async def test_bad_requests_get_an_error(impl: Implementation, reference: Implementation) -> None:
    """bad requests are answered with an error: no name, a joined room that does not exist,
    leaving a room you are not in"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("alice", "/chat")
        await stage.connect("bob", "/chat")
        await stage.call("alice", "create room", {"topic": "no name"})
        await stage.call("alice", "create room", {"name": ""})
        await stage.call("alice", "create room", {"name": 42})
        await stage.call("alice", "join room", "nowhere")
        await stage.call("alice", "create room", {"name": "tech"})
        await stage.call("bob", "leave room", "tech")
        await stage.call("bob", "list rooms")

    await check_against_reference(impl, reference, install, scenario)


async def test_a_name_is_required(impl: Implementation, reference: Implementation) -> None:
    """no auth, or no name in it: the connection is refused with 'auth.name is required'"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("nobody", "/chat", auth={})
        await stage.connect("nameless", "/chat", auth={"topic": "?"})
        await stage.connect("empty", "/chat", auth={"name": ""})
        await stage.connect("alice", "/chat")

    await check_against_reference(impl, reference, install, scenario)
