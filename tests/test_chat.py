"""The /chat protocol (docs/protocol.md), row by row, with real clients over websocket.

"Nobody else received it" is asserted after ``sync()``: a round trip on the
observer's own connection, which arrives only after everything the server sent
that observer before.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from support import Connect

from roomkit import Limits, Settings
from roomkit.app import CHAT_KEY, STORE_KEY
from roomkit.errors import ConnectRefused
from roomkit.stores.base import JoinResult, Member
from roomkit.testing import RecordingClient, RunningServer, connect, expect_silence

# -- join room ------------------------------------------------------------------------


async def test_join_creates_room_and_tells_only_the_others(client: Connect) -> None:
    alice, bob = await client("alice"), await client("bob")
    assert await alice.call("join room", "general") == {
        "ok": True,
        "room": "general",
        "members": 1,
    }
    assert await bob.call("join room", "general") == {"ok": True, "room": "general", "members": 2}
    assert await alice.wait_for("user joined") == bob.sid
    await expect_silence(bob, event="user joined")


async def test_join_twice_changes_nothing(client: Connect) -> None:
    alice, bob = await client("alice"), await client("bob")
    await alice.call("join room", "general")
    await bob.call("join room", "general")
    assert await bob.call("join room", "general") == {"ok": True, "room": "general", "members": 2}
    assert await alice.wait_for("user joined") == bob.sid
    await expect_silence(alice, event="user joined")


async def test_join_without_ack_works(client: Connect) -> None:
    alice, bob = await client("alice"), await client("bob")
    await alice.call("join room", "general")
    await bob.emit("join room", "general")  # as in the source's client example
    assert await alice.wait_for("user joined") == bob.sid


# -- leave room -----------------------------------------------------------------------


async def test_leave_tells_the_others(client: Connect) -> None:
    alice, bob = await client("alice"), await client("bob")
    await alice.call("join room", "general")
    await bob.call("join room", "general")
    assert await bob.call("leave room", "general") == {"ok": True, "room": "general"}
    assert await alice.wait_for("user left") == bob.sid
    members = await alice.call("members", "general")
    assert [m["name"] for m in members["members"]] == ["alice"]
    await expect_silence(bob, event="user left")


async def test_last_leave_deletes_the_room(client: Connect) -> None:
    alice = await client("alice")
    await alice.call("create room", {"name": "tech", "topic": "gadgets"})
    await alice.call("leave room", "tech")
    assert await alice.call("list rooms") == {"ok": True, "rooms": []}


# -- message --------------------------------------------------------------------------


async def test_message_reaches_the_room_but_not_the_sender_or_other_rooms(client: Connect) -> None:
    alice, bob, carol = await client("alice"), await client("bob"), await client("carol")
    await alice.call("join room", "general")
    await bob.call("join room", "general")
    await carol.call("join room", "random")
    assert await alice.call("message", {"room": "general", "text": "Hello!"}) == {"ok": True}
    assert await bob.wait_for("message") == {
        "user": alice.sid,
        "name": "alice",
        "room": "general",
        "text": "Hello!",
    }
    await expect_silence(alice, carol, event="message")


async def test_message_without_ack_works(client: Connect) -> None:
    alice, bob = await client("alice"), await client("bob")
    await alice.call("join room", "general")
    await bob.call("join room", "general")
    await alice.emit("message", {"room": "general", "text": "no ack"})
    assert (await bob.wait_for("message"))["text"] == "no ack"


async def test_personal_room_reaches_every_connection_of_a_name(
    server: RunningServer, client: Connect
) -> None:
    phone, laptop = await client("alice"), await client("alice")
    await server.sio.emit("ping", "direct", room="user:alice", namespace="/chat")
    assert await phone.wait_for("ping") == "direct"
    assert await laptop.wait_for("ping") == "direct"


# -- create room / list rooms / members ------------------------------------------------


async def test_create_room_returns_metadata_and_joins_creator(client: Connect) -> None:
    alice = await client("alice")
    reply = await alice.call("create room", {"name": "tech", "topic": "gadgets"})
    assert reply["ok"] is True
    room = reply["room"]
    assert room["name"] == "tech"
    assert room["topic"] == "gadgets"
    assert room["created_by"] == "alice"
    assert room["private"] is False
    assert isinstance(room["created_at"], float)
    listing = await alice.call("list rooms")
    assert listing == {
        "ok": True,
        "rooms": [{"name": "tech", "topic": "gadgets", "members": 1, "private": False}],
    }


async def test_create_existing_room_is_refused(client: Connect) -> None:
    alice, bob = await client("alice"), await client("bob")
    await alice.call("create room", {"name": "tech"})
    assert await bob.call("create room", {"name": "tech"}) == {
        "ok": False,
        "error": "room 'tech' already exists",
    }


async def test_list_rooms_shows_chat_rooms_only_with_counts(client: Connect) -> None:
    alice, bob = await client("alice"), await client("bob")
    await alice.call("join room", "general")
    await bob.call("join room", "general")
    await bob.call("join room", "random")
    reply = await alice.call("list rooms")
    assert reply == {
        "ok": True,
        "rooms": [
            {"name": "general", "topic": "", "members": 2, "private": False},
            {"name": "random", "topic": "", "members": 1, "private": False},
        ],
    }  # no sid rooms, no user:<name> rooms


async def test_members_lists_names(client: Connect) -> None:
    alice, bob = await client("alice"), await client("bob")
    await alice.call("join room", "general")
    await bob.call("join room", "general")
    reply = await bob.call("members", "general")
    assert reply == {
        "ok": True,
        "room": "general",
        "members": [{"user": alice.sid, "name": "alice"}, {"user": bob.sid, "name": "bob"}],
    }


# -- private rooms and invites ------------------------------------------------------------


async def test_private_room_is_invisible_and_closed_to_outsiders(client: Connect) -> None:
    alice, bob, eve = await client("alice"), await client("bob"), await client("eve")
    await alice.call("create room", {"name": "ops", "private": True})
    assert await eve.call("list rooms") == {"ok": True, "rooms": []}
    assert await eve.call("members", "ops") == {"ok": False, "error": "no such room: 'ops'"}
    refusal = await eve.call("join room", "ops")
    assert refusal["ok"] is False
    assert "private" in refusal["error"]
    refusal = await eve.call("message", {"room": "ops", "text": "let me in"})
    assert refusal["ok"] is False

    assert await alice.call("invite", {"room": "ops", "name": "bob"}) == {
        "ok": True,
        "room": "ops",
        "name": "bob",
    }
    assert await bob.wait_for("invited") == {"room": "ops", "by": "alice"}
    assert (await bob.call("join room", "ops"))["ok"] is True
    assert (await bob.call("list rooms"))["rooms"][0]["name"] == "ops"
    await expect_silence(alice, bob, eve, event="message")
    await expect_silence(eve, event="invited")


async def test_invite_requires_membership(client: Connect) -> None:
    alice, eve = await client("alice"), await client("eve")
    await alice.call("create room", {"name": "ops", "private": True})
    reply = await eve.call("invite", {"room": "ops", "name": "eve"})
    assert reply == {"ok": False, "error": "join room 'ops' before inviting to it"}


# -- disconnect -----------------------------------------------------------------------------


async def test_disconnect_leaves_every_room(client: Connect) -> None:
    alice, bob, carol = await client("alice"), await client("bob"), await client("carol")
    await alice.call("join room", "general")
    await carol.call("join room", "random")
    await bob.call("join room", "general")
    await bob.call("join room", "random")
    bob_sid = bob.sid
    await bob.disconnect()
    assert await alice.wait_for("user left") == bob_sid
    assert await carol.wait_for("user left") == bob_sid
    listing = await alice.call("list rooms")
    assert [(r["name"], r["members"]) for r in listing["rooms"]] == [
        ("general", 1),
        ("random", 1),
    ]


# -- bad input ----------------------------------------------------------------------------

BAD_INPUT: list[tuple[str, tuple[Any, ...], str]] = [
    ("join room", (42,), "room name must be a string, not int"),
    ("join room", ({"room": "general"},), "room name must be a string, not dict"),
    ("join room", ("",), "room name must not be empty"),
    ("join room", ("x" * 65,), "room name is too long (65 > 64 characters)"),
    ("join room", ("user:bob",), "room names starting with 'user:' are reserved"),
    ("join room", ("a\nb",), "room name must contain only printable characters"),
    ("join room", (), "'join room' takes one argument, got 0"),
    ("join room", ("a", "b"), "'join room' takes one argument, got 2"),
    ("leave room", ("random",), "you are not in room 'random'"),
    ("leave room", (None,), "room name must be a string, not null"),
    ("message", ("hello",), "message must be an object, not str"),
    ("message", ({"room": "general"},), "missing field 'text'"),
    ("message", ({"text": "hi"},), "missing field 'room'"),
    ("message", ({"room": "general", "text": 3},), "text must be a string, not int"),
    ("message", ({"room": "random", "text": "hi"},), "join room 'random' before sending to it"),
    ("message", ({"room": "nowhere", "text": "hi"},), "join room 'nowhere' before sending to it"),
    ("create room", ("tech",), "room must be an object, not str"),
    ("create room", ({"name": "t", "private": 1},), "private must be true or false, not int"),
    ("members", ("nowhere",), "no such room: 'nowhere'"),
    ("members", (5,), "room name must be a string, not int"),
    ("list rooms", ("extra",), "'list rooms' takes no arguments, got 1"),
    ("shout", ("hi",), "unknown event 'shout'"),
]


@pytest.fixture
async def room_with_bystander(client: Connect) -> tuple[RecordingClient, RecordingClient]:
    """alice (the sender) and bob share "general"; bob must never hear refused events."""
    alice, bob = await client("alice"), await client("bob")
    await alice.call("join room", "general")
    await bob.call("join room", "general")
    await alice.wait_for("user joined")
    return alice, bob


@pytest.mark.parametrize(("event", "args", "reason"), BAD_INPUT)
async def test_bad_input_gets_ack_error_and_is_never_broadcast(
    room_with_bystander: tuple[RecordingClient, RecordingClient],
    event: str,
    args: tuple[Any, ...],
    reason: str,
) -> None:
    alice, bob = room_with_bystander
    assert await alice.call(event, *args) == {"ok": False, "error": reason}
    await expect_silence(bob)
    # the connection survives: a valid event still works
    assert await alice.call("message", {"room": "general", "text": "still here"}) == {"ok": True}
    assert (await bob.wait_for("message"))["text"] == "still here"


@pytest.mark.parametrize(("event", "args", "reason"), BAD_INPUT)
async def test_bad_input_without_ack_gets_error_event(
    room_with_bystander: tuple[RecordingClient, RecordingClient],
    event: str,
    args: tuple[Any, ...],
    reason: str,
) -> None:
    alice, bob = room_with_bystander
    await alice.emit(event, *args)
    assert await alice.wait_for("error") == {"event": event, "error": reason}
    await expect_silence(bob)


# -- limits and connect-time checks ------------------------------------------------------


@pytest.fixture
def settings() -> Settings:
    limits = Limits(max_rooms_per_socket=2, max_rooms_total=3, rate_burst=5, rate_per_second=0.5)
    return Settings(admin_token="t", metrics_interval=0, limits=limits)


async def test_rooms_per_socket_limit(client: Connect) -> None:
    alice = await client("alice")
    await alice.call("join room", "a")
    await alice.call("join room", "b")
    reply = await alice.call("join room", "c")
    assert reply == {"ok": False, "error": "you are in too many rooms (limit 2); leave one first"}


async def test_rooms_total_limit(client: Connect) -> None:
    alice, bob = await client("alice"), await client("bob")
    await alice.call("join room", "a")
    await alice.call("join room", "b")
    await bob.call("join room", "c")
    reply = await bob.call("join room", "d")
    assert reply == {"ok": False, "error": "the server has too many rooms; join an existing one"}
    assert (await bob.call("join room", "a"))["ok"] is True  # existing rooms stay open


async def test_rate_limit_refuses_bursts_without_broadcasting(client: Connect) -> None:
    alice, bob = await client("alice"), await client("bob")
    await alice.call("join room", "general")  # 1 token
    await bob.call("join room", "general")
    replies = [await alice.call("message", {"room": "general", "text": str(i)}) for i in range(6)]
    refused = [reply for reply in replies if not reply["ok"]]
    assert refused, "a burst beyond the bucket must be refused"
    assert refused[0] == {"ok": False, "error": "rate limit exceeded: slow down"}
    await bob.sync()
    assert len(bob.events("message")) == len(replies) - len(refused)


@pytest.mark.parametrize(
    ("auth", "reason"),
    [
        ({"name": ""}, "invalid auth.name: name must not be empty"),
        ({"name": 7}, "invalid auth.name: name must be a string, not int"),
        ({"name": "n" * 33}, "invalid auth.name: name is too long (33 > 32 characters)"),
    ],
)
async def test_bad_display_name_is_refused_at_connect(
    server: RunningServer, auth: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ConnectRefused) as refused:
        await connect(server.url, "x", auth=auth)
    assert refused.value.reason == reason


async def test_no_name_gets_a_guest_name(server: RunningServer) -> None:
    guest = await connect(server.url, "guest", auth={})
    await guest.call("join room", "general")
    members = (await guest.call("members", "general"))["members"]
    assert members[0]["name"] == f"guest-{(guest.sid or '')[:6]}"
    await guest.disconnect()


async def test_a_connection_id_is_not_a_room_name(client: Connect) -> None:
    alice, bob = await client("alice"), await client("bob")
    bob_sid = bob.sid
    for event, payload in (("join room", bob_sid), ("create room", {"name": bob_sid})):
        reply = await alice.call(event, payload)
        assert reply == {"ok": False, "error": f"room name {bob_sid!r} is taken by a connection"}
    assert await alice.call("list rooms") == {"ok": True, "rooms": []}
    await expect_silence(bob)


async def test_disconnect_while_the_store_adds_a_member_leaves_no_ghost(
    server: RunningServer, client: Connect
) -> None:
    """A join whose store call finishes after its connection disconnected must
    take the late membership back out (the disconnect already cleaned up)."""
    store, chat = server.app[STORE_KEY], server.app[CHAT_KEY]
    store_reached, release, undone = asyncio.Event(), asyncio.Event(), asyncio.Event()
    join, forget, leave = store.join, store.forget, store.leave
    forgotten = asyncio.Event()

    async def held_join(name: str, member: Member) -> JoinResult | None:
        store_reached.set()
        await release.wait()
        return await join(name, member)

    async def noted_forget(sid: str) -> list[str]:
        try:
            return await forget(sid)
        finally:
            forgotten.set()

    async def noted_leave(name: str, sid: str) -> int | None:
        try:
            return await leave(name, sid)
        finally:
            undone.set()

    store.join, store.forget, store.leave = held_join, noted_forget, noted_leave  # type: ignore[method-assign]
    alice = await client("alice")
    await alice.emit("join room", "general")
    await asyncio.wait_for(store_reached.wait(), 3)
    await alice.disconnect()
    await asyncio.wait_for(forgotten.wait(), 3)
    release.set()
    await asyncio.wait_for(undone.wait(), 3)
    assert await store.list_rooms() == []
    assert chat.connections == {}
