"""roomkit.transport: the direct websocket path delivers what python-socketio's path delivers.

Most scenarios run twice, on a bare python-socketio server with its own
manager and engine.io's websocket transport (``python-socketio``) and with
roomkit's :class:`~roomkit.fanout.DirectFanoutManager` (``direct``), with real
clients that offer permessage-deflate as browsers do; what the clients
receive must be the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import zlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio
from raw_clients import RawSession, connect_packet

from roomkit import Limits, Settings, create_app
from roomkit.fanout import DirectFanoutManager
from roomkit.testing import RecordingClient, RunningServer, connect, serve
from roomkit.transport import DirectSocket, TransportOptions
from roomkit.wsframe import Deflater

REPO = Path(__file__).resolve().parent.parent
NS = "/fan"
AUTO = "auto"  # every connection enters it on connect
KINDS = ("python-socketio", "direct")


@dataclass
class Bare:
    """A bare python-socketio server on /fan and the clients connected to it."""

    server: RunningServer
    sio: socketio.AsyncServer
    disconnects: asyncio.Queue[tuple[str, str]]
    clients: list[RecordingClient] = field(default_factory=list)

    async def client(
        self, name: str, *rooms: str, transports: Sequence[str] = ("websocket",)
    ) -> RecordingClient:
        joined = await connect(self.server.url, name, namespace=NS, transports=transports)
        self.clients.append(joined)
        if rooms:
            assert await joined.call("join", list(rooms)) is True
        return joined

    async def emit(self, event: str, data: Any = None, **options: Any) -> None:
        await self.sio.emit(event, data, namespace=NS, **options)


@contextlib.asynccontextmanager
async def bare(
    kind: str, transport: TransportOptions | None = None, **server_options: Any
) -> AsyncIterator[Bare]:
    manager = DirectFanoutManager(transport) if kind == "direct" else None
    sio = socketio.AsyncServer(client_manager=manager, async_mode="aiohttp", **server_options)
    disconnects: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    @sio.on("connect", namespace=NS)
    async def on_connect(sid: str, environ: Any, auth: Any = None) -> None:
        await sio.enter_room(sid, AUTO, namespace=NS)

    @sio.on("join", namespace=NS)
    async def join(sid: str, rooms: list[str]) -> bool:
        for room in rooms:
            await sio.enter_room(sid, room, namespace=NS)
        return True

    @sio.on("disconnect", namespace=NS)
    async def disconnect(sid: str, reason: str) -> None:
        disconnects.put_nowait((sid, reason))

    async with serve(sio) as server:
        running = Bare(server, sio, disconnects)
        try:
            yield running
        finally:
            for each in running.clients:
                await each.disconnect()


async def deliveries(kind: str, transports: tuple[str, ...]) -> dict[str, list[Any]]:
    """What each client of one fixed scenario receives from a ``kind`` server."""
    async with bare(kind) as fan:
        subject = await fan.client("subject", "r1", "r2", transports=transports)
        ws = await fan.client("ws", "r1")
        polling = await fan.client("polling", "r2", transports=("polling",))
        outsider = await fan.client("outsider")
        await fan.emit("one", {"n": 1}, to="r1")
        await fan.emit("both", "x", to=["r1", "r2"])
        await fan.emit("skip", ("a", 2), to=["r1", "r2"], skip_sid=[ws.sid, polling.sid])
        await fan.emit("only", None, to=subject.sid)
        await fan.emit("blob", {"bytes": bytes(range(256))}, to="r2")
        await fan.emit("unicode", {"text": "héllo ✓ \u2028 \U0001f600"}, to="r1")
        await fan.emit("medium", "m" * 300, to="r1")  # 16-bit frame length
        await fan.emit("large", "l" * 70_000, to=["r1", "r2"])  # 64-bit frame length
        await fan.emit("ask", 1, to=subject.sid, callback=lambda *answer: None)
        await fan.emit("end", "bye")  # the whole namespace
        everyone = (subject, ws, polling, outsider)
        for each in everyone:
            await each.wait_for("end")
        return {each.name: [(item.event, item.args) for item in each.received] for each in everyone}


@pytest.mark.parametrize(
    "transports",
    [("websocket",), ("polling",), ("polling", "websocket")],
    ids=["websocket", "polling", "upgraded"],
)
async def test_every_transport_receives_what_python_socketio_sends(
    transports: tuple[str, ...],
) -> None:
    reference = await deliveries("python-socketio", transports)
    assert await deliveries("direct", transports) == reference
    assert [event for event, _ in reference["subject"]] == [
        "one",
        "both",
        "skip",
        "only",
        "blob",
        "unicode",
        "medium",
        "large",
        "ask",
        "end",
    ]
    assert [event for event, _ in reference["outsider"]] == ["end"]


async def upgrade_transcript(kind: str) -> list[list[Any]]:
    """Events emitted before, during and after a hand-driven upgrade."""
    async with bare(kind) as fan, aiohttp.ClientSession() as http:
        raw = RawSession(http, fan.server.url)
        await raw.open_polling()
        await raw.post(connect_packet(NS))
        assert (await raw.get())[0].startswith(f"40{NS},")
        await fan.emit("before", 0, to=AUTO)  # queued: nobody polls now
        await raw.open_websocket()
        await raw.probe()
        # Upgrading: engine.io holds packets in the queue until the upgrade.
        await fan.emit("during", 1, to=AUTO)
        await fan.emit("during", 2, to=AUTO)
        await raw.send("5")
        await fan.emit("after", 3, to=AUTO)
        return await raw.events_until(NS, "after")


async def test_packets_queued_across_an_upgrade_arrive_in_order() -> None:
    reference = await upgrade_transcript("python-socketio")
    assert reference == [["before", 0], ["during", 1], ["during", 2], ["after", 3]]
    assert await upgrade_transcript("direct") == reference


@pytest.mark.parametrize("kind", KINDS)
async def test_a_burst_while_clients_connect_and_upgrade_stays_in_order(kind: str) -> None:
    count = 400
    async with bare(kind) as fan:

        async def burst() -> None:
            for number in range(count):
                await fan.emit("seq", number, to=AUTO)
                if number % 5 == 4:
                    await asyncio.sleep(0.002)  # pacing, so connections land mid-burst

        sending = asyncio.create_task(burst())
        transports = [("polling", "websocket")] * 4 + [("polling",)] * 2 + [("websocket",)] * 2
        clients = await asyncio.gather(
            *(fan.client(f"c{index}", transports=each) for index, each in enumerate(transports))
        )
        await sending
        await fan.emit("end", None, to=AUTO)
        for each in clients:
            await each.wait_for("end")
            numbers = each.events("seq")
            # Whatever it got since it entered the room: no gap, no reordering.
            assert numbers == list(range(count - len(numbers), count)), each.name


@pytest.mark.parametrize("kind", KINDS)
async def test_ping_timeout_during_a_burst_closes_only_the_silent_client(kind: str) -> None:
    async with (
        bare(kind, ping_interval=1, ping_timeout=0.5) as fan,
        aiohttp.ClientSession() as http,
    ):
        bystander = await fan.client("bystander")
        silent = RawSession(http, fan.server.url)
        await silent.open_websocket()
        await silent.send(connect_packet(NS))
        answer = await silent.receive()
        assert answer.startswith(f"40{NS},"), answer
        sent = 0
        gone: tuple[str, str] | None = None
        for _ in range(400):  # 10 ms apart: at most 4 s
            await fan.emit("seq", sent, to=AUTO)
            sent += 1
            # A NOOP keeps the silent client's reads going; it never answers pings.
            await silent.send("6")
            with contextlib.suppress(asyncio.TimeoutError):
                gone = await asyncio.wait_for(fan.disconnects.get(), 0.01)
                break
        assert gone is not None
        assert gone[1] == fan.sio.reason.PING_TIMEOUT
        assert gone[0] != bystander.sid
        await fan.emit("end", None, to=AUTO)
        await bystander.wait_for("end")
        assert bystander.events("seq") == list(range(sent))
        assert bystander.connected


async def test_a_frame_that_is_not_an_engineio_packet_closes_the_connection_at_once() -> None:
    # python-engineio 4.15's loop left such a connection until the ping timeout
    # (25 s + 20 s by default); the test's own timeout is far shorter.
    async with bare("direct") as fan, aiohttp.ClientSession() as http:
        raw = RawSession(http, fan.server.url)
        ws = await raw.open_websocket()
        await raw.send(connect_packet(NS))
        assert (await raw.receive()).startswith(f"40{NS},")
        await raw.send("")
        while (message := await ws.receive(3)).type is aiohttp.WSMsgType.TEXT:
            pass  # anything already on its way
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        _, reason = await asyncio.wait_for(fan.disconnects.get(), 3)
        assert reason == fan.sio.reason.TRANSPORT_CLOSE


@pytest.mark.parametrize("compression", [False, True], ids=["default", "compression-on"])
async def test_deflate_is_declined_by_default_and_correct_when_allowed(
    compression: bool,
) -> None:
    options = TransportOptions(compression=compression)
    async with bare("direct", options) as fan, aiohttp.ClientSession() as http:
        raw = RawSession(http, fan.server.url)
        ws = await raw.open_websocket(compress=15)  # offered, as browsers do
        assert ws.compress == (15 if compression else 0)
        await raw.send(connect_packet(NS))
        assert (await raw.receive()).startswith(f"40{NS},")
        python_client = await fan.client("python")  # aiohttp offers deflate too
        payloads = [{"n": n, "text": "hello " * n} for n in range(60)]
        payloads.append({"n": 60, "text": bytes(range(256)).hex() * 400})  # 200 KB
        for payload in payloads:
            await fan.emit("seq", payload, to=AUTO)
        await fan.emit("end", None, to=AUTO)
        received = await raw.events_until(NS, "end")
        assert received == [["seq", payload] for payload in payloads] + [["end"]]
        await python_client.wait_for("end")
        assert python_client.events("seq") == payloads


@pytest.mark.parametrize("no_context_takeover", [False, True])
def test_deflated_frames_inflate_to_the_payloads(no_context_takeover: bool) -> None:
    deflater = Deflater(15, no_context_takeover)
    inflater = zlib.decompressobj(-15)
    for payload in [b"x" * n for n in (0, 1, 200, 70_000)] + [b"repeat" * 50] * 3:
        frame = deflater.frame(payload, 0x1)
        assert frame[0] == 0x80 | 0x40 | 0x1  # final, compressed, text
        length = frame[1] & 0x7F
        start = {126: 4, 127: 10}.get(length, 2)
        if no_context_takeover:
            inflater = zlib.decompressobj(-15)
        assert inflater.decompress(frame[start:] + b"\x00\x00\xff\xff") == payload


async def test_connections_become_direct_sockets_with_an_outbox_on_websocket() -> None:
    async with bare("direct") as fan:
        ws = await fan.client("ws")
        polling = await fan.client("polling", transports=("polling",))
        eio = fan.sio.eio
        sockets = {
            each.name: eio.sockets[fan.sio.manager.eio_sid_from_sid(each.sid, NS)]
            for each in (ws, polling)
        }
        assert all(type(socket) is DirectSocket for socket in sockets.values())
        assert type(sockets["ws"].queue).__name__ == "Outbox"
        assert type(sockets["polling"].queue).__name__ == "CountingQueue"


NODE = shutil.which("node")
JS_CLIENT = (REPO / "node_modules" / "socket.io-client").is_dir()


@pytest.mark.node
@pytest.mark.skipif(NODE is None, reason="node is not installed")
@pytest.mark.skipif(not JS_CLIENT, reason="run `make setup` to install socket.io-client")
@pytest.mark.parametrize("compression", [False, True], ids=["default", "compression-on"])
async def test_official_js_client_on_every_transport_gets_a_burst_in_order(
    compression: bool,
) -> None:
    count = 300
    settings = Settings(
        metrics_interval=0, limits=Limits(rate_limit=False), websocket_compression=compression
    )
    async with serve(create_app(settings)) as server:
        assert NODE is not None
        node = await asyncio.create_subprocess_exec(
            NODE,
            str(REPO / "tests" / "node" / "fanout.mjs"),
            server.url,
            str(count),
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(node.communicate(), 30)
    assert node.returncode == 0, (out + err).decode()[-2000:]
    report = json.loads(out)
    for name, numbers in report["got"].items():
        assert numbers == list(range(count)), name
    for name, extensions in report["extensions"].items():
        if extensions is not None:  # on websocket: deflate offered, accepted only when allowed
            assert ("permessage-deflate" in extensions) is compression, (name, extensions)


@pytest.mark.redis
async def test_emits_relayed_through_redis_take_the_direct_path(redis_url: str) -> None:
    settings = Settings(metrics_interval=0, redis_url=redis_url)
    async with serve(create_app(settings)) as one, serve(create_app(settings)) as two:
        here = await connect(one.url, "here")
        there = await connect(two.url, "there", transports=("polling", "websocket"))
        for each in (here, there):
            assert (await each.call("join room", "across"))["ok"] is True
        assert (await here.call("message", {"room": "across", "text": "hi"}))["ok"] is True
        assert (await there.wait_for("message"))["text"] == "hi"
        await here.call("leave room", "across")
        for server, client in ((one, here), (two, there)):
            eio_sid = server.sio.manager.eio_sid_from_sid(client.sid, "/chat")
            socket = server.sio.eio.sockets[eio_sid]
            assert type(socket) is DirectSocket
            assert type(socket.queue).__name__ == "Outbox"
        await here.disconnect()
        await there.disconnect()
