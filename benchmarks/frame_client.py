"""The ``frame`` benchmark client, the cheapest receiver: a websocket client on a
bare ``asyncio.Protocol`` that splits the server's frames itself.

It counts a throughput burst in bulk (see :mod:`benchmarks.tally`): while the
burst is armed, each read is only kept and its burst markers counted
(``bytearray.count``, C speed), so a read of a hundred coalesced frames costs
about what one frame does, and the kernel is asked to wake the client only
once many messages wait (:meth:`_FrameProtocol.wake_at`); the kept bytes are
parsed and checked after the burst. Compressed connections (permessage-deflate
accepted) and latency bursts parse each frame as it comes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import zlib
from typing import Any, Protocol, cast

from benchmarks.tally import NAMESPACE, BulkCount, Tally
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
# The most bytes a connection counting in bulk lets wait in its socket before
# the kernel wakes it (SO_RCVLOWAT): a couple of hundred messages.
_WATERMARK_CAP = 32_768


class _SocketOptions(Protocol):
    """The part of the transport's socket the watermark needs."""

    def setsockopt(self, level: int, option: int, value: int, /) -> None: ...


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
        # Whether reads may be counted in bulk: upgraded, no deflate.
        self.countable = False
        # The socket's receive low-water mark (None: it cannot be set).
        self.socket: _SocketOptions | None = None
        self.watermark = 1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)
        if hasattr(socket, "SO_RCVLOWAT"):
            self.socket = transport.get_extra_info("socket")

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self.owner.lost()

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        owner = self.owner
        counting = owner.tally.counting
        if counting is not None and self.countable:
            if owner.bulk is not counting:
                owner.start_counting(counting)
            marker = counting.marker
            # From len(marker) - 1 bytes back: a marker split between two reads.
            start = max(0, len(buffer) - len(marker) + 1)
            buffer += data
            count = buffer.count(marker, start)
            if count:
                owner.counted += count
                owner.tally.add(count)
                # Each message still due brings at least its text after its
                # marker's first byte; of the next, up to len(marker) - 1 are in.
                due = counting.messages - owner.counted
                self.wake_at(min(_WATERMARK_CAP, due * counting.text_bytes - len(marker)))
            return
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head_bytes = bytes(buffer[:end])
            owner.upgraded(head_bytes)
            del buffer[: end + 4]
            self.upgraded = True
            if b"permessage-deflate" in head_bytes.lower():
                self.inflater = zlib.decompressobj(-15)
                self.fresh_inflater_each_message = b"server_no_context_takeover" in head_bytes
            # Compressed bytes hold no marker to count.
            self.countable = self.inflater is None
        self.parse()

    def wake_at(self, size: int) -> None:
        """Have the kernel report this socket readable only once ``size`` bytes wait.

        Counting in bulk, a read of one message costs what a read of hundreds
        does; and a server writing each message to each socket (Node) would
        wake this process once per write, which costs it CPU a server with
        remote clients does not spend.

        :param size: bytes; must not exceed what is still to come, or the burst
            stalls. 1, the default, wakes on every byte.
        """
        size = max(1, size)
        if size == self.watermark or self.socket is None:
            return
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, size)
        except OSError:
            self.socket = None  # reads stay eager
        else:
            self.watermark = size

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

    :param base_url: the server, ``http://127.0.0.1:<port>``.
    :param name: sent as ``auth.name``.
    :param tally: where received benchmark messages are counted.
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
        # The burst this connection counted in bulk last: its messages counted,
        # found by parsing, the sequence number due next from each sender, and
        # whether the check waits for a counted message to arrive whole.
        self.bulk: BulkCount | None = None
        self.counted = 0
        self.found = 0
        self._next_seqs: list[int] = []
        self._waiting = False

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

    def start_counting(self, bulk: BulkCount) -> None:
        """Count ``bulk``'s messages in bulk from now on, and check them when told."""
        self.bulk = bulk
        self.counted = self.found = 0
        self._next_seqs = list(range(bulk.senders))
        self._waiting = False
        bulk.counters.append(self)

    def parse_kept(self) -> None:
        """Parse the whole frames kept so far (see :class:`~benchmarks.tally.BulkCounter`)."""
        if self.protocol is not None:
            # Every byte wakes until the next read, which may hold a ping.
            self.protocol.wake_at(1)
            self.protocol.parse()

    def settle(self) -> None:
        """Parse what was kept and check it against the count (see
        :class:`~benchmarks.tally.BulkCounter`)."""
        bulk, protocol = self.bulk, self.protocol
        assert bulk is not None
        assert protocol is not None
        self.parse_kept()
        # A message counted from its first bytes, the rest still on the way.
        partial = protocol.buffer.count(bulk.marker)
        if self.found + partial != self.counted:
            bulk.problem(
                f"{self.name}: {self.counted} messages counted, {self.found} found by "
                f"parsing and {partial} partly received"
            )
        elif partial:
            self._waiting = True
            bulk.wait_for()

    def _found_message(self, bulk: BulkCount, seq: int) -> None:
        # A message of the burst counted in bulk, found by parsing.
        sender = seq % bulk.senders
        due = self._next_seqs[sender]
        if seq != due:
            bulk.problem(f"{self.name}: message {seq} arrived where {due} was due")
        self._next_seqs[sender] = seq + bulk.senders
        self.found += 1
        if self._waiting and self.found >= self.counted:
            self._waiting = False
            bulk.done_waiting()

    def text_frame(self, payload: bytes) -> None:
        # Once per delivered message: the hot path unless counting in bulk.
        start = payload.rfind(_MARK_BYTES)
        if start >= 0:
            fields = payload[start + _MARK_SKIP :].split(b":", 4)
            burst, bulk = int(fields[1]), self.bulk
            if bulk is not None and burst == bulk.burst:
                self._found_message(bulk, int(fields[2]))
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
