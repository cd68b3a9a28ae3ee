"""roomkit.fanout: DirectFanoutManager delivers exactly what python-socketio's manager would.

A bare python-socketio server with the manager, real clients over websocket;
the tests emit from the server side and check what each client received.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import socketio
from socketio.async_pubsub_manager import AsyncPubSubManager

from roomkit import Settings, create_app
from roomkit.app import SERVER_KEY
from roomkit.fanout import DirectFanoutManager
from roomkit.redis_manager import RedisManager
from roomkit.testing import RecordingClient, RunningServer, connect, expect_silence, serve

NS = "/fan"


@dataclass
class Fanout:
    """A running bare server using DirectFanoutManager, and a way to add clients."""

    server: RunningServer
    sio: socketio.AsyncServer
    manager: DirectFanoutManager
    disconnects: asyncio.Queue[tuple[str, str]]
    clients: list[RecordingClient] = field(default_factory=list)

    async def client(self, name: str, *rooms: str) -> RecordingClient:
        """Connect ``name`` to ``/fan`` and put it in ``rooms``."""
        joined = await connect(self.server.url, name, namespace=NS)
        self.clients.append(joined)
        if rooms:
            assert await joined.call("join", list(rooms)) is True
        return joined

    async def emit(self, event: str, data: Any = None, **options: Any) -> None:
        await self.sio.emit(event, data, namespace=NS, **options)


@pytest.fixture
async def fanout() -> AsyncIterator[Fanout]:
    manager = DirectFanoutManager()
    sio = socketio.AsyncServer(client_manager=manager, async_mode="aiohttp")
    disconnects: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    @sio.on("join", namespace=NS)
    async def join(sid: str, rooms: list[str]) -> bool:
        for room in rooms:
            await sio.enter_room(sid, room, namespace=NS)
        return True

    @sio.on("disconnect", namespace=NS)
    async def disconnect(sid: str, reason: str) -> None:
        disconnects.put_nowait((sid, reason))

    async with serve(sio) as server:
        running = Fanout(server, sio, manager, disconnects)
        yield running
        for each in running.clients:
            await each.disconnect()


async def test_room_without_and_with_the_sender(fanout: Fanout) -> None:
    ann = await fanout.client("ann", "r")
    bo = await fanout.client("bo", "r")
    cy = await fanout.client("cy")
    await fanout.emit("news", {"n": 1}, to="r", skip_sid=ann.sid)
    assert await bo.wait_for("news") == {"n": 1}
    await expect_silence(ann, cy)
    await fanout.emit("news", {"n": 2}, room="r")
    assert await ann.wait_for("news") == {"n": 2}
    assert await bo.wait_for("news") == {"n": 2}
    await expect_silence(ann, bo, cy)


async def test_whole_namespace_and_one_sid(fanout: Fanout) -> None:
    ann = await fanout.client("ann", "r")
    bo = await fanout.client("bo")
    await fanout.emit("all", "hello")
    assert await ann.wait_for("all") == "hello"
    assert await bo.wait_for("all") == "hello"
    await fanout.emit("private", "psst", to=bo.sid)
    assert await bo.wait_for("private") == "psst"
    await expect_silence(ann, bo)


async def test_list_of_rooms_delivers_once_and_skip_sid_list(fanout: Fanout) -> None:
    both = await fanout.client("both", "a", "b")
    only_a = await fanout.client("only_a", "a")
    only_b = await fanout.client("only_b", "b")
    neither = await fanout.client("neither", "c")
    await fanout.emit("news", "x", to=["a", "b"])
    for member in (both, only_a, only_b):
        assert await member.wait_for("news") == "x"
    await expect_silence(both, only_a, only_b, neither)
    await fanout.emit("news", "y", to=["a", "b"], skip_sid=[both.sid, only_b.sid])
    assert await only_a.wait_for("news") == "y"
    await expect_silence(both, only_a, only_b, neither)


async def test_tuple_is_several_arguments_and_none_is_no_argument(fanout: Fanout) -> None:
    ann = await fanout.client("ann", "r")
    await fanout.emit("pair", ("left", {"right": True}), to="r")
    await fanout.emit("bare", None, to="r")
    await fanout.emit("one_tuple", (("inner",),), to="r")
    await ann.wait_for("bare")
    await ann.sync()
    by_event = {item.event: item.args for item in ann.received}
    assert by_event == {
        "pair": ("left", {"right": True}),
        "bare": (),
        "one_tuple": (["inner"],),
    }


async def test_binary_payload_falls_back_and_arrives_intact(fanout: Fanout) -> None:
    ann = await fanout.client("ann", "r")
    bo = await fanout.client("bo", "r")
    blob = bytes(range(256))
    await fanout.emit("blob", {"name": "b", "bytes": blob}, to="r", skip_sid=bo.sid)
    assert await ann.wait_for("blob") == {"name": "b", "bytes": blob}
    await expect_silence(ann, bo)


async def test_callback_falls_back_and_the_ack_arrives(fanout: Fanout) -> None:
    ann = await fanout.client("ann")
    acked: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()

    def on_ack(*args: Any) -> None:
        acked.set_result(args)

    await fanout.emit("ask", "ready?", to=ann.sid, callback=on_ack)
    assert await ann.wait_for("ask") == "ready?"
    # RecordingClient's handler returns None, so the ack carries no argument.
    assert await asyncio.wait_for(acked, 3) == ()


async def test_each_recipient_sees_emits_in_order(fanout: Fanout) -> None:
    ann = await fanout.client("ann", "r")
    bo = await fanout.client("bo", "r")
    expected: list[Any] = []
    for number in range(300):
        if number % 50 == 0:  # binary emits take python-socketio's path in between
            payload: Any = {"n": number, "bytes": number.to_bytes(2, "big")}
        else:
            payload = {"n": number}
        target = "r" if number % 3 else ann.sid
        await fanout.emit("seq", payload, to=target)
        if target == "r":
            expected.append(payload)
    await bo.wait_for("seq", where=lambda data: data["n"] == 299)
    await ann.wait_for("seq", where=lambda data: data["n"] == 299)
    assert [item["n"] for item in ann.events("seq")] == list(range(300))
    assert bo.events("seq") == expected


async def test_ping_timed_out_connection_is_closed_not_sent_to(fanout: Fanout) -> None:
    gone = await fanout.client("gone", "r")
    witness = await fanout.client("witness", "r")
    assert gone.sid is not None
    eio_sid = fanout.sio.manager.eio_sid_from_sid(gone.sid, NS)
    socket = fanout.sio.eio.sockets[eio_sid]
    # As if the client had not answered a ping for longer than ping_timeout.
    socket.last_ping = time.time() - fanout.sio.eio.ping_timeout - 1
    gone_sid = gone.sid
    await fanout.emit("news", "late", to="r")
    assert await witness.wait_for("news") == "late"
    sid, reason = await asyncio.wait_for(fanout.disconnects.get(), 3)
    assert (sid, reason) == (gone_sid, fanout.sio.reason.PING_TIMEOUT)
    assert socket.closed
    # The server closes the websocket after the CLOSE packet, so once the
    # client's connection ended, everything sent to it has arrived.
    await asyncio.wait_for(gone.sio.wait(), 3)
    assert gone.events("news") == []


async def test_emit_to_a_namespace_nobody_joined_is_a_no_op(fanout: Fanout) -> None:
    ann = await fanout.client("ann")
    await fanout.sio.emit("news", "x", namespace="/elsewhere")
    await expect_silence(ann)


def test_roomkit_uses_direct_fanout_and_redis_delivers_through_it() -> None:
    app = create_app(Settings(metrics_interval=0))
    assert isinstance(app[SERVER_KEY].manager, DirectFanoutManager)  # with the room index
    order = RedisManager.__mro__
    # The pub/sub layer publishes, then hands local delivery to super().emit.
    assert order.index(AsyncPubSubManager) < order.index(DirectFanoutManager)
    assert order.index(DirectFanoutManager) < order.index(socketio.AsyncManager)
