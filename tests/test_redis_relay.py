"""The relay's own Redis reading and writing, against a real ``redis-server``:
the messages it publishes are python-socketio's, its own come back and are
dropped undecoded, an emit nobody waits on does not wait for Redis, a silent
Redis is pinged and left, and replies are read many at a time."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from typing import Any

import pytest
import socketio
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from redis_fixtures import listening_manager
from support import LogWaiter

import roomkit.redis_manager
from roomkit.processes import RedisProcess
from roomkit.redis_client import deadline
from roomkit.redis_manager import RedisManager
from roomkit.redis_messages import own_emit_test, relay_message
from roomkit.redis_wire import WireConnection, encode_command
from roomkit.relay import relay_failed, reset_relay

pytestmark = pytest.mark.redis

HOST = "0123456789abcdef0123456789abcdef"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
names = st.text(min_size=1, max_size=12)
addresses = st.none() | names | st.lists(names, max_size=3)


def python_socketio_message(
    event: str, data: Any, namespace: str, room: Any, skip_sid: Any, host_id: str
) -> dict[str, Any]:
    """What ``AsyncPubSubManager.emit`` publishes for an emit without callback or bytes."""
    return {
        "method": "emit",
        "event": event,
        "data": list(data) if isinstance(data, tuple) else [data],
        "binary": False,
        "namespace": namespace,
        "room": room,
        "skip_sid": skip_sid,
        "callback": None,
        "host_id": host_id,
    }


@pytest.fixture(scope="module")
def encoder() -> RedisManager:
    # A manager on a server, never started: encode_event needs only the server.
    manager = RedisManager("redis://127.0.0.1:1")
    socketio.AsyncServer(client_manager=manager, async_mode="aiohttp")
    return manager


@settings(max_examples=300, deadline=None)
@given(
    event=names,
    data=st.none() | json_values | st.tuples(json_values) | st.lists(json_values).map(tuple),
    namespace=st.sampled_from(["/", "/chat", "/a,b"]),
    room=addresses,
    skip_sid=addresses,
)
def test_published_messages_are_python_socketios(
    encoder: RedisManager, event: str, data: Any, namespace: str, room: Any, skip_sid: Any
) -> None:
    encoded = encoder.encode_event(event, data, namespace)
    assert encoded is not None
    published = relay_message(event, data, encoded, namespace, room, skip_sid, HOST)
    expected = python_socketio_message(event, data, namespace, room, skip_sid, HOST)
    decoded = json.loads(published)
    assert decoded == expected
    assert list(decoded) == list(expected)  # same order: host_id last
    is_own = own_emit_test(HOST)
    assert is_own(published)
    assert is_own(json.dumps(expected).encode())  # python-socketio's own encoding
    assert not own_emit_test("f" * 32)(published)


@given(text=st.text(), host=st.sampled_from([HOST, "other"]))
def test_only_this_hosts_emits_are_recognised(text: str, host: str) -> None:
    is_own = own_emit_test(HOST)
    # Whatever the payload holds, even this host's id and the message's ending.
    trap = f'{text}", "host_id": "{HOST}"}}'
    emit = python_socketio_message("m", trap, "/", None, None, host)
    assert is_own(json.dumps(emit).encode()) is (host == HOST)
    # python-socketio's other messages carry a host_id too; they are never dropped.
    callback = {"method": "callback", "host_id": HOST, "sid": "s", "id": 1, "args": [trap]}
    assert not is_own(json.dumps(callback).encode())


def test_bytes_take_python_socketios_path(encoder: RedisManager) -> None:
    assert encoder.encode_event("blob", {"bytes": b"\x00\x01"}, "/") is None


async def test_own_emits_come_back_and_are_dropped_undecoded(
    redis_url: str, manager: RedisManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[bytes] = []
    real_decoded = roomkit.redis_manager.decoded

    def counting(message: bytes) -> Any:
        decoded.append(message)
        return real_decoded(message)

    monkeypatch.setattr(roomkit.redis_manager, "decoded", counting)
    foreign: list[Any] = []
    handled = asyncio.Event()

    async def handle_emit(message: dict[str, Any]) -> None:
        foreign.append(message["data"])
        if len(foreign) == 2:
            handled.set()

    monkeypatch.setattr(manager, "_handle_emit", handle_emit)
    for n in range(3):  # published before the foreign ones, so read before them
        await manager.emit("own", n, namespace="/", room="r")
    other = Redis.from_url(redis_url)
    try:
        for n in range(2):
            message = python_socketio_message("foreign", n, "/", "r", None, "other-host")
            await other.publish(manager.channel, json.dumps(message))
    finally:
        await other.aclose()
    async with deadline(5):
        await handled.wait()
    assert foreign == [[0], [1]]
    assert len(decoded) == 2, decoded  # the three own ones were never decoded


async def test_an_emit_nobody_waits_on_does_not_wait_for_redis(
    redis_process: RedisProcess,
) -> None:
    pid = redis_process.pid
    assert pid is not None
    observer = Redis.from_url(redis_process.url)
    pubsub = observer.pubsub()
    try:
        async with listening_manager(redis_process.url, relay_timeout=30) as manager:
            await pubsub.subscribe(manager.channel)
            await manager.emit("n", -1, namespace="/", room="r")  # opens the connection
            os.kill(pid, signal.SIGSTOP)
            try:
                reset_relay(awaited=False)  # a handler whose sender asked for no ack
                async with deadline(5):  # not relay_timeout (30 s): no wait for Redis
                    await manager.emit("n", 1, namespace="/", room="r")
                assert not relay_failed()
            finally:
                os.kill(pid, signal.SIGCONT)
            received = []
            async with deadline(5):
                while len(received) < 2:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
                    if message is not None:
                        received.append(json.loads(message["data"])["data"])
            assert received == [[-1], [1]]  # still published, once Redis answered
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
        await observer.aclose()


async def test_a_silent_redis_is_pinged_then_left(redis_process: RedisProcess) -> None:
    # Before: a listener waited forever on a connection Redis no longer served
    # (a paused or vanished Redis that never closed it).
    pid = redis_process.pid
    assert pid is not None
    async with listening_manager(redis_process.url, idle_ping=0.2) as manager:
        subscribed = await manager.wait_subscribed()
        with LogWaiter("no answer to a PING") as lost:
            os.kill(pid, signal.SIGSTOP)
            try:
                async with deadline(5):
                    await lost.seen.wait()
            finally:
                os.kill(pid, signal.SIGCONT)
        assert await manager.wait_subscribed(after=subscribed, timeout=10) > subscribed


async def test_replies_are_read_many_at_a_time(redis_url: str) -> None:
    connection = await WireConnection.open(redis_url, timeout=2)
    try:
        commands = [encode_command(b"RPUSH", b"l", b"%d" % n) for n in range(300)]
        commands.insert(150, encode_command(b"INCR", b"l"))  # wrong type: an error reply
        connection.write(b"".join(commands))
        replies: list[Any] = []
        reads = 0
        async with deadline(5):
            while len(replies) < len(commands):
                replies.extend(await connection.read())
                reads += 1
        assert reads < len(commands) / 10
        assert isinstance(replies[150], ResponseError)
        assert [r for r in replies if not isinstance(r, ResponseError)] == list(range(1, 301))
        assert connection.usable
    finally:
        await connection.close()
    assert not connection.usable


def test_a_redis_py_connection_of_another_shape_is_refused() -> None:
    class Shapeless:
        pass

    with pytest.raises(RuntimeError, match="_reader/_writer"):
        WireConnection(Shapeless())  # type: ignore[arg-type]
