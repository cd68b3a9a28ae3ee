"""The ``frame`` benchmark client, the cheapest receiver: a websocket client on a
bare ``asyncio.Protocol`` that splits the server's frames itself, and counts a
throughput burst in bulk (see :mod:`benchmarks.tally`)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import zlib
from typing import Any, cast

from benchmarks.tally import NAMESPACE, Tally
from benchmarks.wire import (
    BURST_TEXT_MARK,
    PING,
    PONG,
    ack_prefix,
    connect_frame,
    event_frame,
)

__all__ = ["FrameClient"]

_MARK_BYTES = BURST_TEXT_MARK.encode()
_MARK_SKIP = len(_MARK_BYTES) - 3  # keep "bm:" so field 1 is the burst
_PING_BYTES, _PONG_BYTES = PING.encode(), PONG.encode()


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
        marker = self.owner.bulk_marker() if self.inflater is None and self.upgraded else None
        if marker is not None:
            # Counting in bulk: keep the bytes for the parse after the burst and
            # count the burst's marker, one split between two reads included.
            edge = len(marker) - 1
            seam = bytes(buffer[-edge:]) + data[:edge]
            buffer += data
            count = data.count(marker) + seam.count(marker)
            if count:
                self.owner.tally.add(count)
            return
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
        self.parse()

    def parse(self) -> None:
        """Hand every whole frame in the buffer to the client; keep the rest."""
        buffer = self.buffer
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
        # The burst being counted in bulk, its marker, and the sequence numbers
        # of its messages found by parsing; the last burst settled.
        self._bulk_burst = -1
        self._marker = b""
        self._seen: set[int] = set()
        self._settled = -1

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

    def bulk_marker(self) -> bytes | None:
        """The marker to count, while this connection counts the armed burst in bulk."""
        tally = self.tally
        if not tally.counting_in_bulk or self._settled == tally.burst:
            return None
        if self._bulk_burst != tally.burst:
            self._bulk_burst, self._marker = tally.burst, tally.marker
            self._seen = set()
        return self._marker

    def settle(self) -> None:
        """Stop counting the armed burst in bulk, and parse what was kept."""
        self._settled = self.tally.burst
        if self.protocol is not None:
            self.protocol.parse()

    def text_frame(self, payload: bytes) -> None:
        # Once per delivered message: the hot path when not counting in bulk.
        start = payload.rfind(_MARK_BYTES)
        if start >= 0:
            fields = payload[start + _MARK_SKIP :].split(b":", 4)
            burst = int(fields[1])
            if burst == self._bulk_burst == self.tally.burst:
                seq = int(fields[2])
                self.tally.confirm(seq not in self._seen)
                self._seen.add(seq)
            else:
                self.tally.record(burst, int(fields[3]))
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
