"""Hostile input from real clients: property-based (hypothesis) and hand-picked.

The properties, for arbitrary events, argument counts and JSON-like payloads
(None, booleans, integers up to engine.io's 100-digit cap, floats with NaN and
infinities, strings with control characters, lone surrogates and any Unicode,
bytes, lists, objects, nested):

* the server answers every event that asked for an ack: ``{"ok": true, ...}``
  exactly when a small model of the protocol (``ChatModel``) says the input is
  valid in the current state, otherwise ``{"ok": false, "error": "<reason>"}``;
  without an ack, a refusal is one ``error`` event and an accepted event none;
* a bystander in a room with the sender receives nothing from a refused event;
* the connection survives: a valid call works after every example, and the
  server's rooms agree with the model.

hypothesis drives a synchronous test, and every example runs its async body on
one event loop in a helper thread (``LoopThread``) that holds the server and its
clients for the whole module: hypothesis' ``@given`` cannot wrap an async test,
and one server for all examples keeps a hundred examples to a second or two.
Examples are derandomized under CI (``CI`` set) and random otherwise.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import unicodedata
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from support import ADMIN_TOKEN, rooms_of

from roomkit import Limits, LoadLimits, Settings, create_app
from roomkit.app import CHAT_KEY, STORE_KEY
from roomkit.errors import ConnectRefused
from roomkit.testing import (
    SYNC_EVENT,
    RecordingClient,
    RunningServer,
    connect,
    expect_silence,
    start_server,
)
from roomkit.testing import serve as serve_app

T = TypeVar("T")

FUZZ = settings(
    # ROOMKIT_FUZZ_EXAMPLES=2000 for a longer hunt than `make test` affords.
    max_examples=int(os.environ.get("ROOMKIT_FUZZ_EXAMPLES", "100")),
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# The limits the model below assumes; the rate limit is off so that a hundred
# calls in a row are judged on their content (tests/test_limits.py covers it),
# and so are wrong admin tokens (tests/test_admin.py covers their throttle).
# A packet may declare more binary attachments than the default 8 (up to 3
# arguments of 12 leaves each): past the limit the server closes the connection,
# which tests/test_engine.py covers, and the fuzzing would lose its clients.
LIMITS = Limits(
    rate_limit=False,
    max_rooms_per_socket=10_000,
    admin_attempts_burst=10**9,
    max_attachments=64,
)
CALL_TIMEOUT = 5.0

# -- arbitrary JSON-like payloads ---------------------------------------------------------

CONTROL = st.sampled_from(["\x00", "\n", "\t", "\r", "\x1b", "\x7f", "\u202e", "\ufeff"])
CHARACTERS = st.one_of(
    st.characters(),
    st.characters(categories=["Cs"]),  # lone surrogates: valid in JSON, not in UTF-8
    CONTROL,
)
TEXT = st.text(CHARACTERS, max_size=80)
JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    # engine.io's JSON decoder refuses integers of more than 100 digits
    # (see test_integers_beyond_engineio_cap_are_dropped).
    st.integers(min_value=-(10**99) + 1, max_value=10**99 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
)


def nested(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``leaves`` and lists and objects of them, nested."""
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
        max_leaves=12,
    )


# Event arguments may carry bytes (Socket.IO sends them as binary attachments);
# the connect payload may not (python-socketio refuses to send binary there).
JSON = nested(st.one_of(JSON_LEAVES, st.binary(max_size=16)))
PURE_JSON = nested(JSON_LEAVES)


def often(common: st.SearchStrategy[Any], *rare: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``common`` about two thirds of the time, else one of ``rare``."""
    choices = [common] * (2 * len(rare)) + list(rare)
    return st.sampled_from(choices).flatmap(lambda chosen: chosen)


# Valid and near-valid shapes reach deeper into the checks than random values
# do, and valid ones change the server's state, which later examples build on.
# Each list holds valid values first, then the edge cases just past the rules.
ROOMISH = often(
    st.sampled_from(
        [
            *["general", "general", "random", "tech", "ops", "café ☕", "x" * 64],
            *["user:bob", "user:", "", "  ", "x" * 65, "a\nb", "tab\t", "\u2028"],
        ]
    ),
    TEXT,
    JSON,
)
NAMEISH = often(st.sampled_from(["bob", "alice", "carol", "", " ", "n" * 33, "a\x00"]), TEXT, JSON)
TEXTISH = often(
    st.sampled_from(["hi", "hello there", "t" * 2000, "line\nbreak", "", " \n", "t" * 2001]),
    TEXT,
    JSON,
)
# The shape each event wants, filled with valid and near-valid values.
SHAPES: dict[str, st.SearchStrategy[Any]] = {
    "join room": ROOMISH,
    "leave room": ROOMISH,
    "members": ROOMISH,
    "message": st.fixed_dictionaries({"room": ROOMISH, "text": TEXTISH}, optional={"extra": JSON}),
    "create room": st.fixed_dictionaries(
        {"name": ROOMISH},
        optional={
            "topic": often(st.sampled_from(["", "gadgets"]), TEXT, JSON, st.just("p" * 201)),
            "private": often(st.booleans(), JSON),
        },
    ),
    "invite": st.fixed_dictionaries({"room": ROOMISH, "name": NAMEISH}),
    "system message": TEXTISH,
}
CHAT_EVENTS = [
    "join room",
    "leave room",
    "message",
    "create room",
    "invite",
    "list rooms",
    "members",
]
ODD_EVENTS = ["system message", "connect", "disconnect", "error", "user joined", "message "]
EVENT_NAMES = often(
    st.sampled_from(CHAT_EVENTS),
    st.sampled_from(ODD_EVENTS),
    TEXT.filter(lambda name: name != SYNC_EVENT),
)


def arguments_for(name: str) -> st.SearchStrategy[list[Any]]:
    """Arguments for event ``name``: mostly its own shape, sometimes anything."""
    shape = SHAPES.get(name, JSON)
    usual = st.just([]) if name == "list rooms" else st.tuples(shape).map(list)
    return often(usual, st.lists(often(shape, JSON), max_size=3))


def calls(names: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[str, list[Any]]]:
    """``(event name, arguments)`` pairs."""
    return names.flatmap(lambda name: st.tuples(st.just(name), arguments_for(name)))


# -- the model --------------------------------------------------------------------------------


def _room_ok(value: Any) -> bool:
    return (
        isinstance(value, str)
        and bool(value.strip())
        and len(value) <= LIMITS.max_room_name_length
        and value.isprintable()
        and not value.startswith("user:")
    )


def _canonical_name(value: Any) -> str | None:
    """The name the server keeps for ``value``, or None when it must refuse it:
    printable, not blank, short enough before and after NFKC with spaces
    collapsed, and not mixing Latin, Greek and Cyrillic letters."""
    if not (
        isinstance(value, str)
        and bool(value.strip())
        and len(value) <= LIMITS.max_name_length
        and value.isprintable()
    ):
        return None
    name = " ".join(unicodedata.normalize("NFKC", value).split())
    scripts = {unicodedata.name(char, "?").split()[0] for char in name if char.isalpha()} & {
        "LATIN",
        "GREEK",
        "CYRILLIC",
    }
    if not name or not name.isprintable() or len(name) > LIMITS.max_name_length:
        return None
    return name if len(scripts) <= 1 else None


def _name_ok(value: Any) -> bool:
    return _canonical_name(value) is not None


def _text_ok(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and len(value) <= LIMITS.max_text_length


@dataclass
class ChatModel:
    """What the server should do with alice's events: alice and bob share
    ``general``; bob never moves, so a room exists when alice is in it or it is
    ``general``, and every room alice can name she either created or may join."""

    rooms: set[str] = field(default_factory=lambda: {"general"})

    def exists(self, name: str) -> bool:
        return name in self.rooms or name == "general"

    def accepts(self, event: str, args: list[Any]) -> bool:
        """Whether the server must accept ``event(*args)``; records its effect."""
        if event not in CHAT_EVENTS:
            return False
        if event == "list rooms":
            return not args
        if len(args) != 1:
            return False
        (value,) = args
        if event in {"join room", "leave room", "members"}:
            if not _room_ok(value):
                return False
            if event == "join room":
                self.rooms.add(value)
                return True
            if event == "leave room":
                if value not in self.rooms:
                    return False
                self.rooms.discard(value)
                return True
            return self.exists(value)
        if not isinstance(value, dict):
            return False
        if event == "message":
            return (
                {"room", "text"} <= value.keys()
                and _room_ok(value["room"])
                and _text_ok(value["text"])
                and value["room"] in self.rooms
            )
        if event == "invite":
            return (
                {"room", "name"} <= value.keys()
                and _room_ok(value["room"])
                and _name_ok(value["name"])
                and value["room"] in self.rooms
            )
        # create room
        topic = value.get("topic", "")
        valid = (
            "name" in value
            and _room_ok(value["name"])
            and isinstance(topic, str)
            and len(topic) <= LIMITS.max_topic_length
            and topic.isprintable()
            and isinstance(value.get("private", False), bool)
            and not self.exists(value["name"])
        )
        if valid:
            self.rooms.add(value["name"])
        return valid


# -- one event loop in a thread for the whole module ------------------------------------------


class LoopThread:
    """An event loop running in a daemon thread; ``run`` blocks on a coroutine."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    @staticmethod
    async def _cancel_the_rest() -> None:
        # engine.io's ping tasks of closed sockets end only when cancelled.
        rest = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)

    def close(self) -> None:
        self.run(self._cancel_the_rest())
        self.run(self.loop.shutdown_asyncgens())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass
class World:
    """A server with alice (who sends everything), bob (the bystander in
    ``general``) and an admin, all living on ``runner``'s loop."""

    runner: LoopThread
    server: RunningServer
    alice: RecordingClient
    bob: RecordingClient
    admin: RecordingClient
    model: ChatModel = field(default_factory=ChatModel)

    def run(self, make: Callable[[], Awaitable[T]]) -> T:
        async def body() -> T:
            return await make()

        return self.runner.run(body())


async def _build_world(runner: LoopThread) -> World:
    # Every example creates rooms from 127.0.0.1: no per-address creation limit.
    load = LoadLimits(room_creations_per_minute=1e9, room_creation_burst=10**9)
    app = create_app(
        Settings(admin_token=ADMIN_TOKEN, metrics_interval=0, limits=LIMITS, load=load)
    )
    server = await start_server(app)
    alice = await connect(server.url, "alice")
    bob = await connect(server.url, "bob")
    admin = await connect(server.url, "admin", namespace="/admin", auth={"token": ADMIN_TOKEN})
    await alice.call("join room", "general")
    await bob.call("join room", "general")
    await alice.wait_for("user joined")
    return World(runner, server, alice, bob, admin)


async def _tear_down(world: World) -> None:
    for client in (world.alice, world.bob, world.admin):
        await client.disconnect()
    await world.server.stop()


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    runner = LoopThread()
    built = runner.run(_build_world(runner))
    try:
        yield built
    finally:
        runner.run(_tear_down(built))
        runner.close()


def _outcome(accepted: bool) -> str:
    return "accepted" if accepted else "refused"


def _is_refusal(answer: Any) -> bool:
    return (
        isinstance(answer, dict)
        and set(answer) == {"ok", "error"}
        and answer["ok"] is False
        and isinstance(answer["error"], str)
        and bool(answer["error"])
    )


async def _send(client: RecordingClient, event: str, args: list[Any], ack: bool) -> bool:
    """Send ``event``; return whether the server accepted it, checking the answer's form."""
    if ack:
        answer = await client.call(event, *args, timeout=CALL_TIMEOUT)
        if isinstance(answer, dict) and answer.get("ok") is True:
            return True
        assert _is_refusal(answer), f"{event!r} {args!r} answered {answer!r}"
        return False
    await client.emit(event, *args)
    await client.sync(CALL_TIMEOUT)
    errors = client.unclaimed("error")
    client.clear()
    if not errors:
        return True
    assert len(errors) == 1, errors
    assert set(errors[0].data) == {"event", "error"}
    assert errors[0].data["event"] == event
    assert isinstance(errors[0].data["error"], str)
    assert errors[0].data["error"]
    return False


async def _after(world: World, accepted: bool, listeners: list[RecordingClient]) -> None:
    """Bystanders heard nothing from a refusal; forget what an accepted event sent them."""
    if accepted:
        for listener in listeners:
            await listener.sync(CALL_TIMEOUT)
            listener.clear()
    else:
        await expect_silence(*listeners, timeout=CALL_TIMEOUT)


# -- the properties --------------------------------------------------------------------------


@FUZZ
@given(call=calls(EVENT_NAMES), ack=st.booleans())
def test_chat_events_from_a_real_client(
    world: World, call: tuple[str, list[Any]], ack: bool
) -> None:
    name, args = call

    async def check() -> bool:
        expected = world.model.accepts(name, args)
        accepted = await _send(world.alice, name, args, ack)
        assert accepted == expected, f"{name!r} {args!r}: accepted={accepted}"
        await _after(world, accepted, [world.bob])
        # The connection survives and the server's rooms are the model's.
        assert (await world.alice.call("list rooms"))["ok"] is True
        store = world.server.app[STORE_KEY]
        assert set(await rooms_of(store, world.alice.sid)) == world.model.rooms
        assert await rooms_of(store, world.bob.sid) == ["general"]
        world.alice.clear()
        return accepted

    accepted = world.run(check)
    # `pytest --hypothesis-show-statistics` shows how often each case came up.
    event(f"{name if name in CHAT_EVENTS else 'other event'}: {_outcome(accepted)}")


@FUZZ
@given(call=calls(often(st.just("system message"), EVENT_NAMES)), ack=st.booleans())
@example(call=("system message", [[b"attachment"] * 9]), ack=False)
def test_admin_events_from_a_real_client(
    world: World, call: tuple[str, list[Any]], ack: bool
) -> None:
    name, args = call

    async def check() -> bool:
        expected = name == "system message" and len(args) == 1 and _text_ok(args[0])
        accepted = await _send(world.admin, name, args, ack)
        assert accepted == expected, f"{name!r} {args!r}: accepted={accepted}"
        if accepted:
            assert await world.bob.wait_for("system message") == {"text": args[0]}
        await _after(world, accepted, [world.alice, world.bob])
        assert (await world.admin.call("system message", "still here"))["ok"] is True
        await _after(world, True, [world.alice, world.bob])
        return accepted

    event(f"{name if name == 'system message' else 'other event'}: {_outcome(world.run(check))}")


@FUZZ
@given(
    auth=st.one_of(
        # Socket.IO's CONNECT payload is an object; lists, strings and booleans
        # are off-spec but parse. (A bare number does not: see below.)
        PURE_JSON.filter(lambda value: not isinstance(value, (int, float))),
        st.fixed_dictionaries(
            {"name": often(st.sampled_from(["bob", "", "n" * 33]), TEXT, PURE_JSON)},
            optional={"token": PURE_JSON},
        ),
    )
)
def test_arbitrary_auth_payloads_at_connect(world: World, auth: Any) -> None:
    async def attempt(namespace: str) -> tuple[RecordingClient | None, str | None]:
        client = RecordingClient("fuzz", namespace)
        try:
            await client.sio.connect(
                world.server.url,
                namespaces=[namespace],
                auth=auth,
                transports=["websocket"],
                wait_timeout=CALL_TIMEOUT,
            )
        except Exception:  # python-socketio raises its ConnectionError on refusal
            await client.disconnect()
            return None, client.refusal
        return client, None

    async def check() -> None:
        name = auth.get("name") if isinstance(auth, dict) else None
        client, refusal = await attempt("/chat")
        if name is None or _name_ok(name):
            assert client is not None, refusal
            await client.call("join room", "lobby")
            members = (await client.call("members", "lobby"))["members"]
            expected = (
                _canonical_name(name) if name is not None else f"guest-{(client.sid or '')[:6]}"
            )
            assert [member["name"] for member in members] == [expected]
            await client.disconnect()
        else:
            assert client is None
            assert refusal is not None
            assert refusal.startswith("invalid auth.name: ")
        admin, refusal = await attempt("/admin")  # never the token, so always refused
        assert admin is None
        assert refusal == "Unauthorized"
        await expect_silence(world.alice, world.bob, timeout=CALL_TIMEOUT)
        assert set(world.server.app[CHAT_KEY].connections) == {world.alice.sid, world.bob.sid}

    world.run(check)


# -- hand-picked hostile input ------------------------------------------------------------------


async def test_a_bare_number_as_connect_payload_gets_no_namespace(server: RunningServer) -> None:
    # python-socketio reads the digits after "40/chat," as an ack id and then
    # fails on the rest (".5"), so the attempt is never answered; the client
    # gives up after its wait_timeout and the server holds nothing for it.
    client = RecordingClient("number", "/chat")
    with pytest.raises(Exception, match="connection error"):
        await client.sio.connect(
            server.url, namespaces=["/chat"], auth=1.5, transports=["websocket"], wait_timeout=1
        )
    await client.disconnect()
    assert server.app[CHAT_KEY].connections == {}


@pytest.fixture
async def pair(client: Any) -> tuple[RecordingClient, RecordingClient]:
    alice, bob = await client("alice"), await client("bob")
    await alice.call("join room", "general")
    await bob.call("join room", "general")
    await alice.wait_for("user joined")
    return alice, bob


@pytest.mark.parametrize("event", ["connect", "disconnect"])
@pytest.mark.parametrize(
    "args",
    [(), ("x",), ({"HTTP_HOST": "evil"}, {"name": "admin"}), ("io server disconnect",)],
)
async def test_client_events_named_like_the_life_cycle_change_nothing(
    server: RunningServer, pair: tuple[RecordingClient, RecordingClient], event: str, args: tuple
) -> None:
    alice, bob = pair
    assert await alice.call(event, *args) == {"ok": False, "error": f"unknown event {event!r}"}
    await expect_silence(bob)
    # alice is still alice, still in general, on the server and in the store.
    assert await alice.call("message", {"room": "general", "text": "still me"}) == {"ok": True}
    assert await bob.wait_for("message") == {
        "user": alice.sid,
        "name": "alice",
        "room": "general",
        "text": "still me",
    }
    chat = server.app[CHAT_KEY]
    assert chat.connections[alice.sid or ""].rooms == {"general"}
    assert await rooms_of(server.app[STORE_KEY], alice.sid or "") == ["general"]


async def test_a_forged_connect_does_not_refill_the_rate_limit() -> None:
    limits = Limits(rate_burst=2, rate_per_second=1e-6)
    app = create_app(Settings(metrics_interval=0, limits=limits))
    server = await start_server(app)
    try:
        alice = await connect(server.url, "alice")
        await alice.call("join room", "a")
        await alice.call("join room", "b")
        assert (await alice.call("join room", "c"))["error"] == "rate limit exceeded: slow down"
        await alice.call("connect", {}, {"name": "alice"})
        assert (await alice.call("join room", "c"))["error"] == "rate limit exceeded: slow down"
        await alice.disconnect()
    finally:
        await server.stop()


async def test_non_string_event_names_are_refused(
    pair: tuple[RecordingClient, RecordingClient],
) -> None:
    alice, bob = pair
    for name in (7, 1.5, True, None):
        answer = await alice.sio.call(name, "x", namespace="/chat", timeout=CALL_TIMEOUT)
        assert answer == {
            "ok": False,
            "error": f"event names must be strings, not {type(name).__name__}",
        }
    await expect_silence(bob)


async def test_unhashable_event_names_do_not_break_the_connection(
    pair: tuple[RecordingClient, RecordingClient],
) -> None:
    # python-socketio looks the name up in a dict before roomkit sees it; with
    # a catch-all handler registered (as roomkit.testing does) that lookup
    # fails, so no answer comes, but nothing breaks.
    alice, bob = pair
    await alice.sio.emit(["a", "list"], "x", namespace="/chat")
    await alice.sio.emit({"an": "object"}, "x", namespace="/chat")
    await expect_silence(bob)
    assert (await alice.call("list rooms"))["ok"] is True


async def test_integers_beyond_engineio_cap_are_dropped(
    pair: tuple[RecordingClient, RecordingClient],
) -> None:
    # engine.io's JSON decoder refuses integers of more than 100 digits (their
    # parsing is quadratic), so the packet is dropped before roomkit sees it:
    # no ack, no broadcast, and the connection stays up.
    alice, bob = pair
    answered: list[Any] = []
    await alice.sio.emit(
        "message",
        {"room": "general", "text": "big", "n": 10**150},
        namespace="/chat",
        callback=lambda *reply: answered.append(reply),
    )
    await alice.sync()
    await expect_silence(bob)
    assert answered == []
    assert await alice.call("message", {"room": "general", "text": "after"}) == {"ok": True}
    assert (await bob.wait_for("message"))["text"] == "after"


async def _raw_socket(server: RunningServer, http: aiohttp.ClientSession) -> Any:
    """A raw engine.io websocket, connected to /chat as "raw"."""
    url = server.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    ws = await http.ws_connect(url)
    opened = await ws.receive_str(timeout=CALL_TIMEOUT)
    assert opened.startswith("0{")
    await ws.send_str('40/chat,{"name":"raw"}')
    accepted = await ws.receive_str(timeout=CALL_TIMEOUT)
    assert accepted.startswith("40/chat,{"), accepted
    return ws


async def until(condition: Callable[[], bool], timeout: float = CALL_TIMEOUT) -> None:
    """Wait until ``condition()`` holds, checking every 10 ms, for at most ``timeout`` s.

    For server-side bookkeeping that no client event announces.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition still false after {timeout:g} s")
        await asyncio.sleep(0.01)


RAW_PACKETS = [
    "42/chat,not json",
    "42/chat,{}",
    "42/chat,[]",
    '42/chat,"just a string"',
    "42/chat,[null]",
    '42/chat,[["list"]]',
    '42/chat,12[{"dict": "as name"}]',
    "43/chat,99[]",  # an ack for nothing
    "44/chat,{}",  # CONNECT_ERROR from a client
    "47/chat,[]",  # no such packet type
    '451-/chat,["message",{"_placeholder":true,"num":9}]',  # attachment never sent
    "4",
    "9",
    "42/chat," + json.dumps(["message", {"room": "general", "text": "x"}]) + "]]",
    # Not an engine.io packet: roomkit's transport closes the connection
    # (python-engineio's own loop lingered until the ping timeout).
    "",
]


@pytest.mark.parametrize("raw", RAW_PACKETS)
async def test_malformed_packets_leave_the_server_serving(raw: str) -> None:
    app = create_app(Settings(metrics_interval=0))
    async with serve_app(app) as server:
        # Short heartbeats so that a connection engine.io stopped reading is
        # reaped within the test (the defaults are 25 s + 20 s).
        server.sio.eio.ping_interval, server.sio.eio.ping_timeout = 0.5, 1.0
        alice, bob = await connect(server.url, "alice"), await connect(server.url, "bob")
        await alice.call("join room", "general")
        await bob.call("join room", "general")
        async with aiohttp.ClientSession() as http:
            ws = await _raw_socket(server, http)
            await ws.send_str(raw)
            await ws.close()
        chat = server.app[CHAT_KEY]
        await until(lambda: len(chat.connections) == 2)
        assert {connection.name for connection in chat.connections.values()} == {"alice", "bob"}
        await expect_silence(bob, event="message")
        assert await alice.call("message", {"room": "general", "text": "fine"}) == {"ok": True}
        assert (await bob.wait_for("message"))["text"] == "fine"
        await alice.disconnect()
        await bob.disconnect()


async def test_refused_connection_attempts_leave_no_trace(server: RunningServer) -> None:
    for auth in ({"name": ""}, {"name": 5}, {"name": "x" * 100}):
        with pytest.raises(ConnectRefused):
            await connect(server.url, "bad", auth=auth)
    assert server.app[CHAT_KEY].connections == {}
    assert await server.app[STORE_KEY].room_count() == 0
