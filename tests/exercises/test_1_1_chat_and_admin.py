"""Exercise 1.1: /chat and /admin on one server."""

from __future__ import annotations

import socketio

from roomkit.course.implementations import Implementation
from roomkit.course.judge import check_against_reference
from roomkit.course.scenario import Stage

EXERCISE = "1.1"
TOKEN = "s3cret-admin-token"
ADMIN = {"name": "root", "token": TOKEN}


def install(implementation: Implementation, sio: socketio.AsyncServer) -> None:
    implementation.register_namespaces(sio, TOKEN)


async def test_chat_message_reaches_the_other_chat_clients(
    impl: Implementation, reference: Implementation
) -> None:
    """a /chat message reaches the other /chat clients, not its sender"""

    async def scenario(stage: Stage) -> None:
        for name in ("alice", "bob", "carol"):
            await stage.connect(name, "/chat")
        await stage.call("alice", "message", "hi all")
        await stage.call("carol", "message", "hi alice")

    await check_against_reference(impl, reference, install, scenario)


async def test_chat_messages_stay_in_chat(impl: Implementation, reference: Implementation) -> None:
    """/chat messages stay in /chat: /admin connections do not receive them"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("root", "/admin", auth=ADMIN)
        await stage.connect("alice", "/chat")
        await stage.connect("bob", "/chat")
        await stage.call("alice", "message", "is anyone watching?")

    await check_against_reference(impl, reference, install, scenario)


async def test_admin_needs_the_token(impl: Implementation, reference: Implementation) -> None:
    """/admin refuses connections with no auth, no token or a wrong one, with 'Unauthorized'"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("nobody", "/admin", auth={})
        await stage.connect("eve", "/admin")
        await stage.connect("mallory", "/admin", auth={"name": "mallory", "token": "guess"})
        await stage.connect("root", "/admin", auth=ADMIN)

    await check_against_reference(impl, reference, install, scenario)


async def test_announcement_reaches_every_chat_client(
    impl: Implementation, reference: Implementation
) -> None:
    """an announcement sent on /admin reaches every /chat client"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("alice", "/chat")
        await stage.connect("bob", "/chat")
        await stage.connect("root", "/admin", auth=ADMIN)
        await stage.call("root", "announce", "maintenance at 17:00")

    await check_against_reference(impl, reference, install, scenario)


async def test_events_belong_to_their_namespace(
    impl: Implementation, reference: Implementation
) -> None:
    """events belong to their namespace: 'announce' on /chat and 'message' on /admin do nothing"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("alice", "/chat")
        await stage.connect("bob", "/chat")
        await stage.connect("root", "/admin", auth=ADMIN)
        await stage.emit("alice", "announce", "I am not an admin")
        await stage.emit("root", "message", "admins cannot chat here")

    await check_against_reference(impl, reference, install, scenario)
