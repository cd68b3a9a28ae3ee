"""What waits to be sent to one connection, and how much of it may.

engine.io gives every connection a queue (``socket.queue``) and, on the
websocket transport, a writer task that takes each packet from it and hands
it to aiohttp, which builds the websocket frame and writes it: one task
wake-up, one frame build and one system call per packet per recipient, and
no bound on the queue. Here:

* while a connection polls or upgrades, its queue is a :class:`CountingQueue`:
  engine.io's queue, counted in packets and bytes and bounded;
* once it is on the websocket transport, its queue is an :class:`Outbox`:
  every packet becomes a websocket frame at once (a room broadcast hands the
  same frame bytes to every recipient, since server frames are not masked),
  frames wait in a list until the end of the event loop iteration, and
  :class:`Flusher` then writes each connection's frames in one call. No task
  per connection, one write per connection per iteration however many
  packets it got, in the order they were put.

A connection past its bound (see :class:`Backlog`) is cut off as a slow
consumer: its buffers are dropped at once and the ``on_overflow`` callback
its socket gave closes it (one log line).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp.base_protocol import BaseProtocol
from engineio import packet as eio_packet

from roomkit.wsframe import OP_BINARY, OP_TEXT, Deflater, frame

__all__ = ["Backlog", "CountingQueue", "Flusher", "Outbox", "packet_size"]

logger = logging.getLogger("roomkit")

# OPEN (a small JSON object), PING, NOOP...: counted at a generous estimate.
_CONTROL_PACKET_SIZE = 256


@dataclass(frozen=True, slots=True)
class Backlog:
    """How much may wait to be sent to one connection before it is cut off.

    Counted: packets in engine.io's queue (polling, upgrading) or frames in
    the outbox (websocket), plus the bytes of those and, on websocket, the
    bytes the transport still buffers.

    :param max_bytes: bytes. Default 4 MiB (a ``list rooms`` reply with 10,000
        rooms is about 3.2 MB and must fit).
    :param max_packets: packets. Default 5000.
    """

    max_bytes: int = 4 * 1024 * 1024
    max_packets: int = 5000


def packet_size(pkt: eio_packet.Packet) -> int:
    """About the bytes an engine.io packet takes on the wire (characters for
    text). Not ``pkt.encode()``: engine.io caches the first encoding, and a
    binary packet is encoded differently for polling (base64) than for
    websocket."""
    data = pkt.data
    if isinstance(data, (str, bytes, bytearray)):
        return 1 + len(data)
    return _CONTROL_PACKET_SIZE


class CountingQueue(asyncio.Queue[Any]):
    """engine.io's queue for a polling or upgrading connection, bounded.

    :param backlog: the bound.
    :param on_overflow: called (once) instead of queueing a packet past the
        bound; it closes the connection.
    """

    def __init__(self, backlog: Backlog, on_overflow: Callable[[int, int], None]) -> None:
        super().__init__()
        self.backlog = backlog
        self.bytes = 0
        self.overflowed = False
        self._on_overflow = on_overflow

    def put_nowait(self, item: Any) -> None:
        """Queue ``item`` (an engine.io packet, or None: the end of the
        connection) unless that takes the queue past its bound."""
        if item is not None:
            size = packet_size(item)
            if self.overflowed:
                return
            if self.bytes + size > self.backlog.max_bytes or self.qsize() >= (
                self.backlog.max_packets
            ):
                self.overflowed = True
                self._on_overflow(self.bytes + size, self.qsize() + 1)
                return
        super().put_nowait(item)

    # asyncio.Queue's hooks for subclasses (PriorityQueue uses them too).
    def _put(self, item: Any) -> None:
        if item is not None:
            self.bytes += packet_size(item)
        super()._put(item)

    def _get(self) -> Any:
        item = super()._get()
        if item is not None:
            self.bytes -= packet_size(item)
        return item


class Flusher:
    """Writes, once per event loop iteration, every outbox that got frames.

    One per server; outboxes register themselves with :meth:`schedule`.
    """

    __slots__ = ("_dirty", "_handle")

    def __init__(self) -> None:
        self._dirty: list[Outbox] = []
        self._handle: asyncio.Handle | None = None

    def schedule(self, outbox: Outbox) -> None:
        """Flush ``outbox`` at the end of this loop iteration."""
        self._dirty.append(outbox)
        if self._handle is None:
            # call_soon runs after everything already runnable in this
            # iteration, so a burst of emits is written once per connection.
            self._handle = asyncio.get_running_loop().call_soon(self._run)

    def _run(self) -> None:
        self._handle = None
        dirty, self._dirty = self._dirty, []
        for outbox in dirty:
            try:
                outbox.flush()
            except Exception:  # one broken connection must not strand the others
                logger.exception("writing to a connection failed; closing it")
                outbox.kill()


class Outbox:
    """engine.io's queue for a connection on the websocket transport.

    engine.io and python-socketio put packets on ``socket.queue``
    (``put``/``put_nowait``; None ends the connection) and wait for it to
    empty (``join``); a broadcast hands ready frames to :meth:`push`. Nothing
    is ever taken from it: frames go to the transport when the
    :class:`Flusher` runs.

    :param transport: the connection's asyncio transport.
    :param protocol: aiohttp's protocol of that transport (its
        ``writing_paused`` says the kernel is not taking more).
    :param flusher: the server's flusher.
    :param backlog: the bound.
    :param on_overflow: called once with the bytes and packets waiting when
        the bound is passed; it closes the connection.
    :param on_end: called after the last frame is written once None was put
        (the server is closing the connection); it closes the websocket.
    :param deflater: compresses each message for this connection, when it
        negotiated permessage-deflate and the server allows it. Default None.
    """

    __slots__ = (
        "_deflater",
        "_drainer",
        "_ended",
        "_flusher",
        "_joined",
        "_on_end",
        "_on_overflow",
        "_protocol",
        "_scheduled",
        "_transport",
        "backlog",
        "buffered",
        "dead",
        "frames",
        "pending_bytes",
    )

    def __init__(
        self,
        transport: asyncio.Transport,
        protocol: BaseProtocol,
        flusher: Flusher,
        backlog: Backlog,
        on_overflow: Callable[[int, int], None],
        on_end: Callable[[], None],
        deflater: Deflater | None = None,
    ) -> None:
        self._transport = transport
        self._protocol = protocol
        self._flusher = flusher
        self.backlog = backlog
        self._on_overflow = on_overflow
        self._on_end = on_end
        self._deflater = deflater
        self.frames: list[bytes] = []
        self.pending_bytes = 0
        self.buffered = 0  # the transport's buffer at the last flush
        self.dead = False
        self._ended = False
        self._scheduled = False
        self._joined: asyncio.Future[None] | None = None
        self._drainer: asyncio.Task[None] | None = None

    # -- engine.io's queue interface ---------------------------------------------

    def put_nowait(self, pkt: eio_packet.Packet | None) -> None:
        """Send ``pkt``; None closes the websocket once everything is written."""
        if pkt is None:
            self._ended = True
            self._schedule()
            return
        if pkt.binary:
            # Not pkt.encode(): it caches its first result whatever ``b64`` is,
            # and python-socketio shares a binary packet between recipients,
            # some of which poll (base64 text).
            payload, opcode = bytes(pkt.data), OP_BINARY
        else:
            payload, opcode = pkt.encode().encode(), OP_TEXT
        if self._deflater is not None:
            self._append(self._deflater.frame(payload, opcode))
        else:
            self._append(frame(payload, opcode))

    async def put(self, pkt: eio_packet.Packet | None) -> None:
        """Same as :meth:`put_nowait` (never waits: the bound closes instead)."""
        self.put_nowait(pkt)

    async def join(self) -> None:
        """Wait until every frame put so far went to the transport."""
        if not self.frames or self.dead:
            return
        if self._joined is None:
            self._joined = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._joined)

    def empty(self) -> bool:
        """Whether no frame waits."""
        return not self.frames

    def qsize(self) -> int:
        """How many frames wait."""
        return len(self.frames)

    # -- the broadcast path --------------------------------------------------------

    def push(self, payload: bytes, ready_frame: bytes) -> None:
        """Send a text message a broadcast built once for every recipient.

        :param payload: the message (for connections that compress).
        :param ready_frame: the uncompressed frame carrying it.
        """
        if self._deflater is not None:
            self._append(self._deflater.frame(payload, OP_TEXT))
        else:
            self._append(ready_frame)

    def _append(self, data: bytes) -> None:
        if self.dead or self._ended:
            return
        self.frames.append(data)
        self.pending_bytes += len(data)
        if (
            self.pending_bytes + self.buffered > self.backlog.max_bytes
            or len(self.frames) > self.backlog.max_packets
        ):
            self._overflow()
            return
        self._schedule()

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self._flusher.schedule(self)

    def _overflow(self) -> None:
        waiting = (self.pending_bytes + self.buffered, len(self.frames))
        self.kill()
        self._on_overflow(*waiting)

    def kill(self) -> None:
        """Drop everything waiting and abort the transport (nothing more is sent)."""
        self.dead = True
        self.frames.clear()
        self.pending_bytes = 0
        self._transport.abort()
        self._release()

    # -- writing -------------------------------------------------------------------

    def flush(self) -> None:
        """Write every waiting frame in one call, unless the transport is
        paused (the client does not read fast enough): then they wait,
        counted against the bound, until it resumes."""
        self._scheduled = False
        if self.dead:
            return
        transport = self._transport
        if transport.is_closing():
            self.frames.clear()
            self.pending_bytes = 0
            self._release()
            return
        if self.frames:
            if self._protocol.writing_paused:
                self._wait_for_drain()
                return
            frames = self.frames
            transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
            frames.clear()
            self.pending_bytes = 0
            self.buffered = transport.get_write_buffer_size()
            self._release()
        if self._ended:
            self._ended = False
            self._on_end()

    def _release(self) -> None:
        joined, self._joined = self._joined, None
        if joined is not None and not joined.done():
            joined.set_result(None)

    def _wait_for_drain(self) -> None:
        if self._drainer is None:
            self._drainer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            # aiohttp's wait for resume_writing (its own writer uses it too);
            # tests/test_transport_internals.py fails loudly if it changes.
            await self._protocol._drain_helper()
        except ConnectionError:  # the transport is gone: flush() sees it closing
            pass
        finally:
            self._drainer = None
        self._schedule()
