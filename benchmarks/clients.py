"""The two kinds of benchmark client: a raw websocket one and ``socketio.AsyncClient``.

Both connect over websocket only to a namespace, offering permessage-deflate
as browsers and the official JS client do (a server may accept or decline;
compressed frames are inflated), join a room and report every benchmark ``message`` they receive to
a :class:`Tally`. The raw client speaks the text frames of :mod:`benchmarks.wire`
itself on an ``aiohttp`` websocket; it does not decode JSON on the hot path,
which makes it several times cheaper per received message than
``socketio.AsyncClient`` (the ``client-cost`` scenario measures both).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import aiohttp
import socketio

from benchmarks.wire import (
    BURST_TEXT_MARK,
    PING,
    PONG,
    ack_prefix,
    connect_frame,
    event_frame,
    parse_text,
    socket_url,
)

__all__ = [
    "CLIENT_KINDS",
    "NAMESPACE",
    "BenchClient",
    "FrameClient",
    "RawClient",
    "SocketioClient",
    "Tally",
    "make_client",
]

NAMESPACE = "/chat"
CLIENT_KINDS = ("frame", "raw", "socketio")
_MARK_BYTES = BURST_TEXT_MARK.encode()
_MARK_SKIP = len(_MARK_BYTES) - 3  # keep "bm:" so field 1 is the burst
_PING_BYTES, _PONG_BYTES = PING.encode(), PONG.encode()


@dataclass
class Tally:
    """Counts the messages of the burst in progress, for every client of a process.

    :param burst: the burst being counted; messages of other bursts are ignored.
    :param expected: messages after which :attr:`complete` is set.
    :param keep_latency: record each message's latency (send to receipt), in µs.
    """

    burst: int = -1
    expected: int = 0
    keep_latency: bool = False
    received: int = 0
    last_ns: int = 0
    latencies_us: list[int] = field(default_factory=list)
    complete: asyncio.Event = field(default_factory=asyncio.Event)

    def arm(self, burst: int, expected: int, keep_latency: bool) -> None:
        """Start counting burst ``burst``, complete after ``expected`` messages."""
        self.burst, self.expected, self.keep_latency = burst, expected, keep_latency
        self.received, self.last_ns = 0, 0
        self.latencies_us = []
        self.complete = asyncio.Event()
        if expected == 0:
            self.complete.set()

    def record(self, burst: int, sent_ns: int) -> None:
        """One benchmark message of ``burst``, sent at ``sent_ns`` (monotonic clock)."""
        if burst != self.burst:
            return
        now = time.monotonic_ns()
        self.received += 1
        self.last_ns = now
        if self.keep_latency:
            self.latencies_us.append((now - sent_ns) // 1000)
        if self.received >= self.expected:
            self.complete.set()


class BenchClient(Protocol):
    """What the load generator needs from a client."""

    async def connect(self, timeout: float) -> None:
        """Connect to ``/chat`` over websocket within ``timeout`` seconds."""

    async def join(self, room: str, timeout: float) -> None:
        """Join ``room``, waiting at most ``timeout`` seconds for the ack."""

    async def send_message(self, room: str, text: str) -> None:
        """Emit ``message`` ``{"room": room, "text": text}`` without asking for an ack."""

    async def close(self) -> None:
        """Disconnect (bounded in time; safe when not connected)."""


class RawClient:
    """Engine.IO/Socket.IO over an ``aiohttp`` websocket, frames written by hand.

    :param session: the ``aiohttp`` session to open the websocket with.
    :param base_url: the server, ``http://127.0.0.1:<port>``.
    :param name: sent as ``auth.name``.
    :param tally: where received benchmark messages are counted.
    """

    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, name: str, tally: Tally
    ) -> None:
        self.session = session
        self.base_url = base_url
        self.name = name
        self.tally = tally
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._acks: dict[str, asyncio.Future[str]] = {}
        self._next_ack = 0
        self._reader: asyncio.Task[None] | None = None

    async def connect(self, timeout: float) -> None:
        """Open the websocket and join the namespace.

        :raises TimeoutError: when the server does not accept within ``timeout`` s.
        :raises ConnectionError: when the namespace refuses the client.
        """
        self.ws = await asyncio.wait_for(self._handshake(), timeout)
        self._reader = asyncio.create_task(self._read(self.ws))

    async def _handshake(self) -> aiohttp.ClientWebSocketResponse:
        # compress=15: offer permessage-deflate, as browsers do.
        ws = await self.session.ws_connect(
            socket_url(self.base_url), compress=15, autoping=True, max_msg_size=0
        )
        opened = await ws.receive_str()
        if not opened.startswith("0"):
            raise ConnectionError(f"expected an engine.io OPEN packet, got {opened[:40]!r}")
        await ws.send_str(connect_frame(NAMESPACE, {"name": self.name}))
        while True:
            answer = await ws.receive_str()
            if answer.startswith(f"40{NAMESPACE},"):
                return ws
            if answer.startswith(f"44{NAMESPACE},"):
                raise ConnectionError(f"{NAMESPACE} refused {self.name}: {answer}")

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        # The hot path: one frame per delivered message. Only the text field of
        # benchmark messages is looked at; everything else but acks is ignored.
        mark, mark_length = BURST_TEXT_MARK, len(BURST_TEXT_MARK) - 3
        record = self.tally.record
        async for message in ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            frame: str = message.data
            start = frame.rfind(mark)
            if start >= 0:
                fields = frame[start + mark_length :].split(":", 4)
                record(int(fields[1]), int(fields[3]))
            elif frame == PING:
                await ws.send_str(PONG)
            elif frame.startswith("43"):
                self._answer(frame)

    def _answer(self, frame: str) -> None:
        for prefix, waiter in list(self._acks.items()):
            if frame.startswith(prefix) and not waiter.done():
                waiter.set_result(frame)
                del self._acks[prefix]
                return

    async def call(self, event: str, *args: Any, timeout: float) -> str:
        """Send ``event`` asking for an ack; return the raw ack frame."""
        if self.ws is None:
            raise ConnectionError("not connected")
        self._next_ack += 1
        prefix = ack_prefix(NAMESPACE, self._next_ack)
        waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._acks[prefix] = waiter
        await self.ws.send_str(event_frame(NAMESPACE, event, *args, ack=self._next_ack))
        return await asyncio.wait_for(waiter, timeout)

    async def join(self, room: str, timeout: float) -> None:
        answer = await self.call("join room", room, timeout=timeout)
        if '"ok":true' not in answer:
            raise ConnectionError(f"{self.name} could not join {room!r}: {answer}")

    async def send_message(self, room: str, text: str) -> None:
        if self.ws is None:
            raise ConnectionError("not connected")
        await self.ws.send_str(event_frame(NAMESPACE, "message", {"room": room, "text": text}))

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 2.0)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader


class _FrameProtocol(asyncio.Protocol):
    """A websocket client protocol that reads server frames straight from the socket.

    It finds frame boundaries itself (server frames are never masked) and looks
    at whole text frames only: no message objects, no task wake-up per frame.
    """

    def __init__(self, owner: FrameClient) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = False
        self.fragments = bytearray()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Set when the server accepted permessage-deflate (RFC 7692).
        self.inflater: Any = None
        self.fresh_inflater_each_message = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self.owner.lost()

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head_bytes = bytes(buffer[:end])
            self.owner.upgraded(head_bytes)
            del buffer[: end + 4]
            self.upgraded = True
            if b"permessage-deflate" in head_bytes.lower():
                self.inflater = zlib.decompressobj(-15)
                self.fresh_inflater_each_message = b"server_no_context_takeover" in head_bytes
        position, size = 0, len(buffer)
        text = self.owner.text_frame
        while size - position >= 2:
            length = buffer[position + 1] & 0x7F
            head = 2
            if length == 126:
                if size - position < 4:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 4], "big")
                head = 4
            elif length == 127:
                if size - position < 10:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 10], "big")
                head = 10
            end = position + head + length
            if end > size:
                break
            first = buffer[position]
            payload = bytes(buffer[position + head : end])
            position = end
            opcode = first & 0x0F
            if first & 0x40:  # RSV1: a compressed message
                payload = self._inflate(payload)
            if first & 0x80 and opcode == 1:
                text(payload)
            else:
                self._other_frame(first, opcode, payload)
        del buffer[:position]

    def _inflate(self, payload: bytes) -> bytes:
        data: bytes = self.inflater.decompress(payload + b"\x00\x00\xff\xff")
        if self.fresh_inflater_each_message:
            self.inflater = zlib.decompressobj(-15)
        return data

    def _other_frame(self, first: int, opcode: int, payload: bytes) -> None:
        if opcode in (0, 1):  # a fragmented text message
            self.fragments += payload
            if first & 0x80:
                whole, self.fragments = bytes(self.fragments), bytearray()
                self.owner.text_frame(whole)
        elif opcode == 8 and self.transport is not None:  # close
            self.transport.close()
        elif opcode == 9:  # websocket-level ping
            self.owner.send_frame(payload, opcode=10)


class FrameClient:
    """The cheapest receiver: a websocket client on a bare ``asyncio.Protocol``.

    Same parameters as :class:`RawClient` but the session, which it does not use.
    """

    def __init__(self, base_url: str, name: str, tally: Tally) -> None:
        self.base_url = base_url
        self.name = name
        self.tally = tally
        self.protocol: _FrameProtocol | None = None
        self._events: asyncio.Queue[str] = asyncio.Queue()
        self._acks: dict[bytes, asyncio.Future[str]] = {}
        self._next_ack = 0
        self._handshake_done: asyncio.Future[bytes] | None = None

    # -- called by the protocol ----------------------------------------------------

    def upgraded(self, head: bytes) -> None:
        if self._handshake_done is not None and not self._handshake_done.done():
            self._handshake_done.set_result(head)

    def lost(self) -> None:
        if self._handshake_done is not None and not self._handshake_done.done():
            self._handshake_done.set_exception(ConnectionError("connection lost"))
        for waiter in self._acks.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError("connection lost"))

    def text_frame(self, payload: bytes) -> None:
        # The hot path, once per delivered message.
        start = payload.rfind(_MARK_BYTES)
        if start >= 0:
            fields = payload[start + _MARK_SKIP :].split(b":", 4)
            self.tally.record(int(fields[1]), int(fields[3]))
        elif payload == _PING_BYTES:
            self.send_frame(_PONG_BYTES)
        elif payload.startswith(b"43"):
            for prefix, waiter in list(self._acks.items()):
                if payload.startswith(prefix) and not waiter.done():
                    waiter.set_result(payload.decode())
                    del self._acks[prefix]
                    break
        else:
            self._events.put_nowait(payload.decode())

    def send_frame(self, payload: bytes, opcode: int = 1) -> None:
        """Write one masked frame (clients must mask; RFC 6455 5.3)."""
        if self.protocol is None or self.protocol.transport is None:
            raise ConnectionError("not connected")
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            head = bytes([0x80 | opcode, 0x80 | length])
        elif length < 65536:
            head = bytes([0x80 | opcode, 0x80 | 126]) + length.to_bytes(2, "big")
        else:
            head = bytes([0x80 | opcode, 0x80 | 127]) + length.to_bytes(8, "big")
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        self.protocol.transport.write(head + mask + masked)

    # -- the client -------------------------------------------------------------------

    async def connect(self, timeout: float) -> None:
        await asyncio.wait_for(self._connect(), timeout)

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        address = self.base_url.removeprefix("http://")
        host, port = address.rsplit(":", 1)
        self._handshake_done = loop.create_future()
        _, self.protocol = await loop.create_connection(
            lambda: _FrameProtocol(self), host, int(port)
        )
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
            f"Host: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            # What browsers offer.
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
        )
        assert self.protocol.transport is not None
        self.protocol.transport.write(request.encode())
        head = await self._handshake_done
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"websocket upgrade refused: {head[:60]!r}")
        opened = await self._events.get()
        if not opened.startswith("0"):
            raise ConnectionError(f"expected an engine.io OPEN packet, got {opened[:40]!r}")
        self.send_frame(connect_frame(NAMESPACE, {"name": self.name}).encode())
        while True:
            answer = await self._events.get()
            if answer.startswith(f"40{NAMESPACE},"):
                return
            if answer.startswith(f"44{NAMESPACE},"):
                raise ConnectionError(f"{NAMESPACE} refused {self.name}: {answer}")

    async def call(self, event: str, *args: Any, timeout: float) -> str:
        """Send ``event`` asking for an ack; return the raw ack frame."""
        self._next_ack += 1
        prefix = ack_prefix(NAMESPACE, self._next_ack).encode()
        waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._acks[prefix] = waiter
        self.send_frame(event_frame(NAMESPACE, event, *args, ack=self._next_ack).encode())
        return await asyncio.wait_for(waiter, timeout)

    async def join(self, room: str, timeout: float) -> None:
        answer = await self.call("join room", room, timeout=timeout)
        if '"ok":true' not in answer:
            raise ConnectionError(f"{self.name} could not join {room!r}: {answer}")

    async def send_message(self, room: str, text: str) -> None:
        frame = event_frame(NAMESPACE, "message", {"room": room, "text": text})
        self.send_frame(frame.encode())

    async def close(self) -> None:
        protocol = self.protocol
        if protocol is None or protocol.transport is None:
            return
        with contextlib.suppress(Exception):
            self.send_frame(b"\x03\xe8", opcode=8)  # close, 1000 normal
        protocol.transport.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(protocol.closed, 2.0)


class SocketioClient:
    """``socketio.AsyncClient`` over websocket, for comparison with :class:`RawClient`.

    Same parameters as :class:`RawClient` but the session, which it does not use.
    """

    def __init__(self, base_url: str, name: str, tally: Tally) -> None:
        self.base_url = base_url
        self.name = name
        self.tally = tally
        self.sio = socketio.AsyncClient(reconnection=False)
        self.sio.on("message", self._on_message, namespace=NAMESPACE)

    def _on_message(self, data: Any) -> None:
        text = data.get("text") if isinstance(data, dict) else None
        parsed = parse_text(text) if isinstance(text, str) else None
        if parsed is not None:
            self.tally.record(parsed[0], parsed[2])

    async def connect(self, timeout: float) -> None:
        await self.sio.connect(
            self.base_url,
            namespaces=[NAMESPACE],
            auth={"name": self.name},
            transports=["websocket"],
            wait_timeout=timeout,
        )

    async def join(self, room: str, timeout: float) -> None:
        answer = await self.sio.call("join room", room, namespace=NAMESPACE, timeout=timeout)
        if not (isinstance(answer, dict) and answer.get("ok")):
            raise ConnectionError(f"{self.name} could not join {room!r}: {answer}")

    async def send_message(self, room: str, text: str) -> None:
        await self.sio.emit("message", {"room": room, "text": text}, namespace=NAMESPACE)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.sio.disconnect(), 2.0)


def make_client(
    kind: str, session: aiohttp.ClientSession, base_url: str, name: str, tally: Tally
) -> BenchClient:
    """A client of ``kind`` (one of :data:`CLIENT_KINDS`)."""
    if kind == "frame":
        return FrameClient(base_url, name, tally)
    if kind == "raw":
        return RawClient(session, base_url, name, tally)
    if kind == "socketio":
        return SocketioClient(base_url, name, tally)
    raise ValueError(f"unknown client kind {kind!r}; use one of {CLIENT_KINDS}")
