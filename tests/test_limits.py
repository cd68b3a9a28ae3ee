"""Every limit in roomkit.Limits, with real clients: a clear refusal, nothing broadcast.

The defaults are checked once (``test_default_limits``, the same table as
docs/security.md); behaviour is checked with small limits so the tests stay quick.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from serve_support import serving
from support import ADMIN_TOKEN

from roomkit import Limits, Settings, create_app
from roomkit.app import CHAT_KEY, STORE_KEY
from roomkit.cli import build_parser, serve_settings
from roomkit.testing import RecordingClient, RunningServer, connect, expect_silence, serve
from roomkit.tokens import USER_TOKEN_SECRET_ENV

RATE_LIMITED = {"ok": False, "error": "rate limit exceeded: slow down"}
# A refill so slow that no token comes back while a test runs: bucket arithmetic
# without timing.
NO_REFILL = 1e-6


def test_default_limits() -> None:
    assert Limits() == Limits(
        max_text_length=2000,
        max_payload_bytes=64 * 1024,
        max_room_name_length=64,
        max_topic_length=200,
        max_name_length=32,
        max_rooms_per_socket=50,
        max_rooms_total=10_000,
        rate_limit=True,
        rate_per_second=20.0,
        rate_burst=40,
        max_attachments=8,
        address_rate_per_second=200.0,
        address_burst=400,
        refusal_rate_per_second=2.0,
        refusal_burst=10,
        admin_attempts_per_second=0.1,
        admin_attempts_burst=5,
        max_poll_gap=10.0,
        log_interval=10.0,
        max_backlog_bytes=4 * 1024 * 1024,
        max_backlog_packets=5000,
    )


Pair = tuple[RunningServer, RecordingClient, RecordingClient]


@contextlib.asynccontextmanager
async def room_of_two(limits: Limits) -> AsyncIterator[Pair]:
    """A server with ``limits`` where alice and bob share room ``general``."""
    async with serve(create_app(Settings(metrics_interval=0, limits=limits))) as server:
        alice = await connect(server.url, "alice")
        bob = await connect(server.url, "bob")
        try:
            await alice.call("join room", "general")
            await bob.call("join room", "general")
            await alice.wait_for("user joined")
            yield server, alice, bob
        finally:
            await alice.disconnect()
            await bob.disconnect()


def disconnect_reason(client: RecordingClient) -> asyncio.Future[str]:
    """Resolves with the reason python-socketio gives when ``client`` is disconnected."""
    reason: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def record(why: Any = "") -> None:
        if not reason.done():
            reason.set_result(str(why))

    client.sio.on("disconnect", record, namespace=client.namespace)
    return reason


# -- payload size (engine.io) and text length (roomkit) ------------------------------------


@pytest.mark.parametrize("limit", [64 * 1024, 4096])
async def test_payload_limit_is_engineio_buffer_size(limit: int) -> None:
    app = create_app(Settings(metrics_interval=0, limits=Limits(max_payload_bytes=limit)))
    async with serve(app) as server:
        assert server.sio.eio.max_http_buffer_size == limit


async def test_oversized_packet_closes_only_the_senders_connection() -> None:
    async with room_of_two(Limits()) as (server, alice, bob):
        carol = await connect(server.url, "carol")
        await carol.call("join room", "general")
        await alice.wait_for("user joined")
        await bob.wait_for("user joined")
        alice_sid = alice.sid
        closed = disconnect_reason(alice)
        # 70 000 characters: over the 64 KiB packet limit, so engine.io drops
        # the connection before Socket.IO parses the packet (nothing can be acked).
        await alice.emit("message", {"room": "general", "text": "x" * 70_000})
        assert await asyncio.wait_for(closed, 3) == "transport error"
        for other in (bob, carol):
            assert await other.wait_for("user left") == alice_sid
        await expect_silence(bob, carol, event="message")
        # The others carry on; the server forgot the sender everywhere.
        assert await bob.call("message", {"room": "general", "text": "still up"}) == {"ok": True}
        assert (await carol.wait_for("message"))["text"] == "still up"
        assert alice_sid not in server.app[CHAT_KEY].connections
        members = await server.app[STORE_KEY].members("general")
        assert sorted(member.name for member in members) == ["bob", "carol"]
        await carol.disconnect()


@pytest.mark.parametrize("length", [2001, 50_000])
async def test_text_over_limit_but_under_packet_limit_gets_an_ack_error(length: int) -> None:
    async with room_of_two(Limits()) as (_, alice, bob):
        reply = await alice.call("message", {"room": "general", "text": "y" * length})
        assert reply == {"ok": False, "error": f"text is too long ({length} > 2000 characters)"}
        await expect_silence(bob)
        assert alice.connected


async def test_text_limit_is_configurable() -> None:
    async with room_of_two(Limits(max_text_length=10)) as (_, alice, bob):
        assert await alice.call("message", {"room": "general", "text": "0123456789"}) == {
            "ok": True
        }
        assert (await bob.wait_for("message"))["text"] == "0123456789"
        reply = await alice.call("message", {"room": "general", "text": "0123456789!"})
        assert reply == {"ok": False, "error": "text is too long (11 > 10 characters)"}
        await expect_silence(bob)


# -- names ------------------------------------------------------------------------------------

LONG_ROOM = "r" * 9
TOO_LONG = "room name is too long (9 > 8 characters)"


@pytest.mark.parametrize(
    ("event", "argument"),
    [
        ("join room", LONG_ROOM),
        ("leave room", LONG_ROOM),
        ("members", LONG_ROOM),
        ("create room", {"name": LONG_ROOM}),
        ("message", {"room": LONG_ROOM, "text": "hi"}),
        ("invite", {"room": LONG_ROOM, "name": "bob"}),
    ],
)
async def test_room_name_limit_on_every_event(event: str, argument: Any) -> None:
    async with room_of_two(Limits(max_room_name_length=8)) as (_, alice, bob):
        assert await alice.call(event, argument) == {"ok": False, "error": TOO_LONG}
        await alice.emit(event, argument)
        assert await alice.wait_for("error") == {"event": event, "error": TOO_LONG}
        await expect_silence(bob)


async def test_topic_limit() -> None:
    async with room_of_two(Limits(max_topic_length=5)) as (_, alice, bob):
        reply = await alice.call("create room", {"name": "tech", "topic": "gadgets"})
        assert reply == {"ok": False, "error": "topic is too long (7 > 5 characters)"}
        assert (await alice.call("list rooms"))["rooms"][0]["name"] == "general"
        await expect_silence(bob)


# -- rooms per socket, rooms in total -------------------------------------------------------


async def test_rooms_per_socket_counts_created_rooms_and_frees_on_leave() -> None:
    # alice is in "general" already: one more room fits (her personal room does not count).
    async with room_of_two(Limits(max_rooms_per_socket=2)) as (_, alice, bob):
        assert (await alice.call("create room", {"name": "tech"}))["ok"] is True
        full = {"ok": False, "error": "you are in too many rooms (limit 2); leave one first"}
        assert await alice.call("create room", {"name": "ops"}) == full
        assert await alice.call("join room", "random") == full
        assert (await alice.call("join room", "tech"))["ok"] is True  # already in: no cost
        await alice.call("leave room", "tech")
        assert (await alice.call("join room", "random"))["ok"] is True
        await expect_silence(bob)  # none of it happened in general


async def test_rooms_total_applies_to_create_and_join_of_new_rooms() -> None:
    async with room_of_two(Limits(max_rooms_total=2)) as (_, alice, bob):
        assert (await alice.call("create room", {"name": "tech"}))["ok"] is True
        full = {"ok": False, "error": "the server has too many rooms; join an existing one"}
        assert await bob.call("create room", {"name": "ops"}) == full
        assert await bob.call("join room", "ops") == full
        assert (await bob.call("join room", "tech"))["ok"] is True  # existing rooms stay open
        assert [room["name"] for room in (await bob.call("list rooms"))["rooms"]] == [
            "general",
            "tech",
        ]
        # An emptied room is deleted, which frees its place.
        await alice.call("leave room", "tech")
        await bob.call("leave room", "tech")
        assert (await bob.call("create room", {"name": "ops"}))["ok"] is True


# -- rate limit --------------------------------------------------------------------------------

# Arguments valid for every call of a burst; refused input spends tokens as well.
RATED_CALLS: dict[str, Any] = {
    "join room": lambda i: (f"room{i}",),
    "message": lambda i: ({"room": "general", "text": f"m{i}"},),
    "create room": lambda i: ({"name": f"new{i}"},),
    "invite": lambda i: ({"room": "general", "name": f"friend{i}"},),
    "list rooms": lambda i: (),
    "members": lambda i: ("general",),
}


@pytest.mark.parametrize("event", sorted(RATED_CALLS))
async def test_rate_limit_applies_to_each_rated_event(event: str) -> None:
    burst = 4
    limits = Limits(rate_burst=burst, rate_per_second=NO_REFILL)
    async with room_of_two(limits) as (_, alice, bob):
        # alice spent one token joining general; the rest of the bucket is hers.
        replies = [await alice.call(event, *RATED_CALLS[event](i)) for i in range(burst)]
        assert all(reply["ok"] for reply in replies[:-1]), replies
        assert replies[-1] == RATE_LIMITED
        await alice.emit(event, *RATED_CALLS[event](burst))
        assert await alice.wait_for("error") == {"event": event, **_without_ok(RATE_LIMITED)}
        before = len(bob.events("message"))
        await bob.sync()
        assert len(bob.events("message")) == before  # nothing from the refused calls


def _without_ok(reply: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in reply.items() if key != "ok"}


async def test_invalid_input_spends_tokens_too() -> None:
    limits = Limits(rate_burst=3, rate_per_second=NO_REFILL)
    async with room_of_two(limits) as (_, alice, bob):
        refused = [await alice.call("join room", 42), await alice.call("message", "junk")]
        assert [reply["error"] for reply in refused] == [
            "room name must be a string, not int",
            "message must be an object, not str",
        ]
        assert await alice.call("message", {"room": "general", "text": "hi"}) == RATE_LIMITED
        await expect_silence(bob)


async def test_unknown_and_malformed_events_spend_tokens_too() -> None:
    limits = Limits(rate_burst=3, rate_per_second=NO_REFILL)
    async with room_of_two(limits) as (_, alice, bob):
        # "join room" spent one token; an unknown event and a wrong argument count
        # spend the other two, so error replies are no free way to flood.
        assert (await alice.call("shout", "x"))["error"] == "unknown event 'shout'"
        assert (await alice.call("members"))["error"] == "'members' takes one argument, got 0"
        assert await alice.call("shout", "x") == RATE_LIMITED
        await expect_silence(bob)


async def test_concurrent_joins_respect_rooms_per_socket(redis_url: str) -> None:
    """Joins await the (Redis) store between their check and their change; joins
    sent at once from one connection must still not exceed the limit."""
    limits = Limits(max_rooms_per_socket=3, rate_limit=False)
    settings = Settings(metrics_interval=0, limits=limits, redis_url=redis_url)
    async with serve(create_app(settings)) as server:
        alice = await connect(server.url, "alice")
        replies = await asyncio.gather(*(alice.call("join room", f"room-{i}") for i in range(20)))
        assert sum(reply["ok"] for reply in replies) == 3
        listing = await alice.call("list rooms")
        assert len(listing["rooms"]) == 3
        await alice.disconnect()


async def test_rate_limit_off_admits_every_burst() -> None:
    limits = Limits(rate_limit=False, rate_burst=1, rate_per_second=NO_REFILL)
    async with room_of_two(limits) as (_, alice, bob):
        for i in range(30):
            assert await alice.call("message", {"room": "general", "text": str(i)}) == {"ok": True}
        for i in range(30):
            assert (await bob.wait_for("message"))["text"] == str(i)


def test_no_rate_limit_flag_turns_the_limit_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(USER_TOKEN_SECRET_ENV, raising=False)
    parser = build_parser()
    assert serve_settings(parser.parse_args(["serve"]), ADMIN_TOKEN).limits.rate_limit is True
    flagged = serve_settings(parser.parse_args(["serve", "--no-rate-limit"]), ADMIN_TOKEN)
    assert flagged.limits == Limits(rate_limit=False)


# -- roomkit serve's flags --------------------------------------------------------------------


def test_serve_has_a_flag_and_an_environment_variable_for_every_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(USER_TOKEN_SECRET_ENV, raising=False)
    monkeypatch.setenv("ROOMKIT_MAX_TEXT_LENGTH", "500")
    monkeypatch.setenv("ROOMKIT_RATE_PER_SECOND", "2.5")
    parser = build_parser()
    limits = serve_settings(parser.parse_args(["serve", "--rate-per-second", "4"]), ADMIN_TOKEN)
    # The environment sets a default; the flag wins over it.
    assert (limits.limits.max_text_length, limits.limits.rate_per_second) == (500, 4.0)
    for field in dataclasses.fields(Limits):
        if field.name == "rate_limit":  # --no-rate-limit
            continue
        flagged = parser.parse_args(["serve", "--" + field.name.replace("_", "-"), "3"])
        assert getattr(serve_settings(flagged, ADMIN_TOKEN).limits, field.name) == 3


@pytest.mark.parametrize(
    ("flags", "environment", "message"),
    [
        (["--max-text-length", "0"], {}, "max_text_length must be positive"),
        (["--rate-per-second", "nan"], {}, "rate_per_second must be positive"),
        (["--max-attachments", "-1"], {}, "max_attachments must not be negative"),
        ([], {"ROOMKIT_RATE_BURST": "lots"}, "ROOMKIT_RATE_BURST must be an integer, not 'lots'"),
    ],
    ids=["zero", "not a number", "negative", "bad environment"],
)
def test_serve_refuses_a_limit_that_makes_no_sense(
    monkeypatch: pytest.MonkeyPatch, flags: list[str], environment: dict[str, str], message: str
) -> None:
    monkeypatch.delenv(USER_TOKEN_SECRET_ENV, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit, match=re.escape(message)):
        serve_settings(build_parser().parse_args(["serve", *flags]), ADMIN_TOKEN)


def test_a_malformed_limit_variable_stops_serve_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: read while the parser was built, it stopped every roomkit command
    # (`roomkit grade`, `roomkit --help`) with a message about serve's limits.
    monkeypatch.delenv(USER_TOKEN_SECRET_ENV, raising=False)
    monkeypatch.setenv("ROOMKIT_MAX_TEXT_LENGTH", "abc")
    parser = build_parser()
    assert parser.parse_args(["grade", "solutions"]).command == "grade"
    with pytest.raises(SystemExit, match="ROOMKIT_MAX_TEXT_LENGTH must be an integer"):
        serve_settings(parser.parse_args(["serve"]), ADMIN_TOKEN)
    # A flag given on the command line wins without reading the variable.
    flagged = serve_settings(parser.parse_args(["serve", "--max-text-length", "9"]), ADMIN_TOKEN)
    assert flagged.limits.max_text_length == 9


async def test_a_limit_set_on_the_command_line_holds_in_the_running_server() -> None:
    async with serving("--max-text-length", "10") as served:
        alice = await connect(served.url, "alice")
        bob = await connect(served.url, "bob")
        try:
            for member in (alice, bob):
                assert (await member.call("join room", "general"))["ok"] is True
            reply = await alice.call("message", {"room": "general", "text": "0123456789!"})
            assert reply == {"ok": False, "error": "text is too long (11 > 10 characters)"}
            assert await alice.call("message", {"room": "general", "text": "0123456789"}) == {
                "ok": True
            }
            assert (await bob.wait_for("message"))["text"] == "0123456789"
        finally:
            await alice.disconnect()
            await bob.disconnect()
