"""Exercise 7.2: the capstone's /admin side, system messages for every chat user."""

from __future__ import annotations

from typing import Any

import socketio

from roomkit.course.code_checks import require_call
from roomkit.course.implementations import Implementation
from roomkit.course.judge import check_against_reference
from roomkit.course.scenario import Stage

EXERCISE = "7.2"
TOKEN = "capstone-test-token"
ADMIN = {"name": "root", "token": TOKEN}


def accept_chat(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
    """/chat accepts everyone: the chat side is exercise 7.1, not under test here."""


def install(implementation: Implementation, sio: socketio.AsyncServer) -> None:
    sio.on("connect", accept_chat, namespace="/chat")
    implementation.register_admin(sio, TOKEN)


async def test_admin_needs_the_token(impl: Implementation, reference: Implementation) -> None:
    """/admin refuses no auth, a wrong token or one that is not a string, with 'Unauthorized'"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("nobody", "/admin", auth={})
        await stage.connect("eve", "/admin")
        await stage.connect("mallory", "/admin", auth={"name": "mallory", "token": "guess"})
        await stage.connect("trudy", "/admin", auth={"token": 12345})
        await stage.connect("oscar", "/admin", auth={"token": "clé-" + TOKEN})
        await stage.connect("root", "/admin", auth=ADMIN)

    await check_against_reference(impl, reference, install, scenario)


async def test_system_message_reaches_every_chat_user(
    impl: Implementation, reference: Implementation
) -> None:
    """a system message reaches every /chat connection, and no admin"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("alice", "/chat")
        await stage.connect("bob", "/chat")
        await stage.connect("root", "/admin", auth=ADMIN)
        await stage.connect("ops", "/admin", auth={"name": "ops", "token": TOKEN})
        await stage.call("root", "system message", "maintenance at 17:00")
        await stage.call("ops", "system message", "back at 17:05")
        await stage.call("root", "system message", "x" * 500)  # the longest allowed

    await check_against_reference(impl, reference, install, scenario)


async def test_bad_system_messages_are_refused_to_the_sender_only(
    impl: Implementation, reference: Implementation
) -> None:
    """a bad system message gets ok false, and no chat user receives anything"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("alice", "/chat")
        await stage.connect("root", "/admin", auth=ADMIN)
        await stage.call("root", "system message", 42)
        await stage.call("root", "system message", "")
        await stage.call("root", "system message", "   ")
        await stage.call("root", "system message", "x" * 501)
        await stage.call("root", "system message", {"text": "wrapped"})

    await check_against_reference(impl, reference, install, scenario)


async def test_chat_users_cannot_send_system_messages(
    impl: Implementation, reference: Implementation
) -> None:
    """'system message' belongs to /admin: sent on /chat it does nothing"""

    async def scenario(stage: Stage) -> None:
        await stage.connect("alice", "/chat")
        await stage.connect("bob", "/chat")
        await stage.connect("root", "/admin", auth=ADMIN)
        await stage.emit("alice", "system message", "I am the admin now")

    await check_against_reference(impl, reference, install, scenario)


async def test_the_token_is_compared_in_constant_time(impl: Implementation) -> None:
    """the token is compared in constant time, with hmac.compare_digest"""
    require_call(
        impl,
        "register_admin",
        "compare_digest",
        rule="compare the token in constant time (hmac.compare_digest on bytes)",
        call=lambda: impl.register_admin(socketio.AsyncServer(async_mode="aiohttp"), TOKEN),
    )
