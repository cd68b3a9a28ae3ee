"""The /admin namespace: token middleware, system messages, metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from support import ADMIN_TOKEN, Connect

from roomkit import Settings, create_app
from roomkit.errors import ConnectRefused
from roomkit.testing import RunningServer, connect, expect_silence, serve


@pytest.mark.parametrize(
    "auth",
    [
        {},
        {"token": "wrong"},
        {"token": ""},
        {"token": None},
        {"token": 12345},
        {"name": "x"},
        {"token": "\ud800"},  # a lone surrogate: valid JSON, not valid UTF-8
    ],
)
async def test_wrong_or_missing_token_is_unauthorized(
    server: RunningServer, auth: dict[str, Any]
) -> None:
    with pytest.raises(ConnectRefused) as refused:
        await connect(server.url, "mallory", namespace="/admin", auth=auth)
    assert refused.value.reason == "Unauthorized"


async def test_refusal_never_echoes_the_token(server: RunningServer) -> None:
    attempt = ADMIN_TOKEN[:-1] + "X"
    with pytest.raises(ConnectRefused) as refused:
        await connect(server.url, "mallory", namespace="/admin", auth={"token": attempt})
    assert attempt not in refused.value.reason
    assert ADMIN_TOKEN not in refused.value.reason


async def test_system_message_reaches_every_chat_socket(
    server: RunningServer, client: Connect
) -> None:
    alice, bob, lurker = await client("alice"), await client("bob"), await client("lurker")
    await alice.call("join room", "general")
    await bob.call("join room", "random")
    admin = await connect(server.url, "admin", namespace="/admin", auth={"token": ADMIN_TOKEN})
    assert await admin.call("system message", "maintenance at 5") == {"ok": True}
    for each in (alice, bob, lurker):  # every room, and sockets in no room
        assert await each.wait_for("system message") == {"text": "maintenance at 5"}
    await expect_silence(admin, event="system message")  # admins are not chat users
    await admin.disconnect()


async def test_bad_system_message_is_refused(server: RunningServer, client: Connect) -> None:
    alice = await client("alice")
    admin = await connect(server.url, "admin", namespace="/admin", auth={"token": ADMIN_TOKEN})
    assert await admin.call("system message", {"text": "x"}) == {
        "ok": False,
        "error": "system message must be a string, not dict",
    }
    await admin.emit("system message", "")
    assert await admin.wait_for("error") == {
        "event": "system message",
        "error": "system message must not be empty",
    }
    await expect_silence(alice)
    await admin.disconnect()


async def test_chat_clients_cannot_reach_admin_events(client: Connect) -> None:
    alice, bob = await client("alice"), await client("bob")
    reply = await alice.call("system message", "I am root")
    assert reply == {"ok": False, "error": "unknown event 'system message'"}
    await expect_silence(bob)


@pytest.fixture
async def metrics_server() -> AsyncIterator[RunningServer]:
    async with serve(create_app(Settings(admin_token=ADMIN_TOKEN, metrics_interval=0.05))) as s:
        yield s


async def test_admins_receive_metrics(metrics_server: RunningServer) -> None:
    chat = await connect(metrics_server.url, "alice")
    await chat.call("join room", "general")
    admin = await connect(
        metrics_server.url, "admin", namespace="/admin", auth={"token": ADMIN_TOKEN}
    )
    metrics = await admin.wait_for("metrics", where=lambda m: m["rooms"] == 1)
    assert metrics["connections"] == 1
    assert set(metrics) == {"node", "connections", "rooms", "messages_per_second"}
    await chat.disconnect()
    await admin.disconnect()
