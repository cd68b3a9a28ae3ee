"""Exercise 4.2: rooms that admit only the names listed for them."""

from __future__ import annotations

import socketio

from roomkit.course.implementations import Implementation
from roomkit.course.judge import check_against_reference
from roomkit.course.scenario import Stage

EXERCISE = "4.2"
ALLOWED = {"ops": {"alice", "bob"}, "hr": {"carol"}}


def install(implementation: Implementation, sio: socketio.AsyncServer) -> None:
    # A fresh copy per server: the two runs must not share one dict.
    implementation.register_private_rooms(
        sio, {room: set(names) for room, names in ALLOWED.items()}
    )


async def join(stage: Stage, name: str, *rooms: str) -> None:
    await stage.connect(name, "/chat")
    for room in rooms:
        await stage.call(name, "join room", room)


async def test_listed_names_join_and_talk(impl: Implementation, reference: Implementation) -> None:
    """listed names join a private room, hear who joined and hear each other"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "alice", "ops")
        await join(stage, "bob", "ops")
        await stage.call("bob", "message", {"room": "ops", "text": "db01 is down"})

    await check_against_reference(impl, reference, install, scenario)


async def test_an_unlisted_name_is_refused_quietly(
    impl: Implementation, reference: Implementation
) -> None:
    """an unlisted name gets an error, and nobody in the room hears anything"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "alice", "ops")
        await join(stage, "bob", "ops")
        await join(stage, "mallory", "ops")

    await check_against_reference(impl, reference, install, scenario)


async def test_a_refused_name_hears_nothing_and_cannot_post(
    impl: Implementation, reference: Implementation
) -> None:
    """after a refused join, the room's messages never reach mallory, and hers are refused"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "alice", "ops")
        await join(stage, "mallory", "ops")
        await stage.call("alice", "message", {"room": "ops", "text": "the vault code is 4711"})
        await stage.call("mallory", "message", {"room": "ops", "text": "let me in"})

    await check_against_reference(impl, reference, install, scenario)


async def test_each_room_has_its_own_list(impl: Implementation, reference: Implementation) -> None:
    """each private room has its own list: alice may use ops but not hr"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "carol", "hr")
        await join(stage, "alice", "ops", "hr")
        await stage.call("carol", "message", {"room": "hr", "text": "reviews are due"})

    await check_against_reference(impl, reference, install, scenario)


async def test_unlisted_rooms_are_open(impl: Implementation, reference: Implementation) -> None:
    """rooms that are not listed are open to every name"""

    async def scenario(stage: Stage) -> None:
        await join(stage, "alice", "lobby")
        await join(stage, "mallory", "lobby")
        await stage.call("mallory", "message", {"room": "lobby", "text": "hi all"})

    await check_against_reference(impl, reference, install, scenario)


async def test_a_name_is_required(impl: Implementation, reference: Implementation) -> None:
    """no auth, or no name in it: the connection is refused with 'auth.name is required'"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("nobody", "/chat", auth={})
        await stage.connect("nameless", "/chat", auth={"token": "whatever"})
        await stage.connect("empty", "/chat", auth={"name": ""})
        await stage.connect("numbered", "/chat", auth={"name": 7})
        await stage.connect("alice", "/chat")

    await check_against_reference(impl, reference, install, scenario)
