"""Exercise 3.2: direct messages through personal rooms user:<name>."""

from __future__ import annotations

import socketio

from roomkit.course.implementations import Implementation
from roomkit.course.judge import check_against_reference
from roomkit.course.scenario import Stage

EXERCISE = "3.2"


def install(implementation: Implementation, sio: socketio.AsyncServer) -> None:
    implementation.register_direct_messages(sio)


async def test_reaches_every_connection_of_the_recipient(
    impl: Implementation, reference: Implementation
) -> None:
    """a direct message reaches every connection of the recipient, and nobody else"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("alice", "/chat")
        await stage.connect("bob", "/chat")
        await stage.connect("bob-phone", "/chat", auth={"name": "bob"})
        await stage.connect("carol", "/chat")
        await stage.call("alice", "direct message", {"to": "bob", "text": "got a minute?"})
        await stage.call("bob-phone", "direct message", {"to": "alice", "text": "sure"})

    await check_against_reference(impl, reference, install, scenario)


async def test_unknown_recipient_is_an_error(
    impl: Implementation, reference: Implementation
) -> None:
    """a direct message to a name nobody is connected under answers ok false"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("alice", "/chat")
        await stage.connect("bob", "/chat")
        await stage.call("alice", "direct message", {"to": "zoe", "text": "hello?"})
        await stage.call("alice", "direct message", {"to": "", "text": "anyone?"})

    await check_against_reference(impl, reference, install, scenario)


async def test_a_name_is_required(impl: Implementation, reference: Implementation) -> None:
    """connections without a name are refused with 'a name is required'"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("nobody", "/chat", auth={})
        await stage.connect("number", "/chat", auth={"name": 42})
        await stage.connect("empty", "/chat", auth={"name": ""})
        await stage.connect("alice", "/chat")

    await check_against_reference(impl, reference, install, scenario)


async def test_a_note_to_yourself_reaches_all_your_connections(
    impl: Implementation, reference: Implementation
) -> None:
    """a direct message to your own name reaches all your connections, the sending one too"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("alice", "/chat")
        await stage.connect("alice-phone", "/chat", auth={"name": "alice"})
        await stage.connect("bob", "/chat")
        await stage.call("alice", "direct message", {"to": "alice", "text": "buy milk"})

    await check_against_reference(impl, reference, install, scenario)


async def test_bad_payloads_are_refused(impl: Implementation, reference: Implementation) -> None:
    """payloads of the wrong shape answer ok false and deliver nothing"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("alice", "/chat")
        await stage.connect("bob", "/chat")
        for bad in ("bob", {"to": "bob"}, {"to": ["bob"], "text": "x"}, None):
            await stage.call("alice", "direct message", bad)

    await check_against_reference(impl, reference, install, scenario)
