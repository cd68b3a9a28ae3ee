"""engine.io's websocket transport without a writer task, bounded, compression optional.

:func:`install` makes every new connection of an ``engineio.AsyncServer``
(aiohttp mode) a :class:`DirectSocket`: the same engine.io socket, whose
queue is bounded (:class:`~roomkit.outbox.CountingQueue`) and, once the
connection is on websocket, an :class:`~roomkit.outbox.Outbox` that writes
frames straight to the transport. The websocket side also differs from
engine.io's in three ways, each measured in docs/benchmarks.md:

* permessage-deflate is declined unless :class:`TransportOptions` allows it
  (aiohttp accepts it by default, and compressing every frame again for every
  recipient cost more than anything else in a broadcast);
* no writer task (the outbox is written by the server's
  :class:`~roomkit.outbox.Flusher`);
* the reading loop awaits aiohttp's ``receive()`` directly instead of a new
  task per message under ``asyncio.wait_for``, and the ping cycle is a timer
  instead of a sleeping task; a connection that stops answering pings is
  closed by engine.io's ping timeout check (its service task, or the next
  packet sent to it), which now also closes the websocket.

Protocol, packets, ping timeouts and the order of everything sent are
engine.io's; tests/test_transport.py compares them with real clients.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import engineio
from aiohttp import WSMsgType, web
from engineio import exceptions
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket

from roomkit.outbox import Backlog, CountingQueue, Flusher, Outbox
from roomkit.wsframe import Deflater

__all__ = ["SLOW_CONSUMER", "DirectSocket", "TransportOptions", "install"]

logger = logging.getLogger("roomkit")

SLOW_CONSUMER = "slow consumer"
_PING = eio_packet.Packet(eio_packet.PING)
# Ping timers run in this empty context instead of a copy of the caller's each.
_TIMER_CONTEXT = contextvars.Context()


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """How connections are written to.

    :param backlog: how much may wait for one connection before it is cut off
        as a slow consumer. Default :class:`~roomkit.outbox.Backlog`'s.
    :param compression: accept permessage-deflate when a client offers it.
        Default False: decline, as Node's socket.io does by default.
    """

    backlog: Backlog = field(default_factory=Backlog)
    compression: bool = False


class _Wire:
    """What the connections of one server share: options, the flusher, and
    the close tasks in flight (the event loop holds tasks only weakly)."""

    __slots__ = ("flusher", "options", "tasks")

    def __init__(self, options: TransportOptions) -> None:
        self.options = options
        self.flusher = Flusher()
        self.tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


def install(eio: engineio.AsyncServer, options: TransportOptions | None = None) -> None:
    """Make every connection ``eio`` accepts from now on a :class:`DirectSocket`.

    Does nothing unless ``eio`` runs in aiohttp mode (the only one roomkit
    serves with).

    :param eio: the engine.io server (``socketio.AsyncServer().eio``).
    :param options: see :class:`TransportOptions`. Default: its defaults.
    """
    if eio.async_mode != "aiohttp":
        return
    wire = _Wire(options or TransportOptions())
    accept = eio.handlers["connect"]

    # engine.io creates the socket, queues the OPEN packet, then calls the
    # 'connect' handler before it serves any request of that connection.
    async def adopt_then_accept(eio_sid: str, environ: dict[str, Any]) -> Any:
        socket = eio.sockets.get(eio_sid)
        if type(socket) is AsyncSocket:
            DirectSocket.adopt(socket, wire)
        return await accept(eio_sid, environ)

    eio.handlers["connect"] = adopt_then_accept


class DirectSocket(AsyncSocket):  # type: ignore[misc]
    """engine.io's ``AsyncSocket`` with the queues and websocket loop of this
    module. Made by :func:`install` from engine.io's own sockets (see
    :meth:`adopt`), never constructed directly."""

    wire: _Wire
    queue: CountingQueue | Outbox
    connected: bool
    last_ping: float | None
    ping_timer: asyncio.TimerHandle | None

    @classmethod
    def adopt(cls, socket: AsyncSocket, wire: _Wire) -> DirectSocket:
        """Turn engine.io's new ``socket`` into a DirectSocket, keeping what it
        has queued (its OPEN packet)."""
        socket.__class__ = cls
        direct: DirectSocket = socket
        direct.wire = wire
        direct.ping_timer = None
        old = socket.queue
        direct.queue = CountingQueue(wire.options.backlog, direct._slow_consumer)
        while not old.empty():
            direct.queue.put_nowait(old.get_nowait())
        return direct

    def _slow_consumer(self, waiting_bytes: int, waiting_packets: int) -> None:
        if self.closing or self.closed:
            return
        backlog = self.wire.options.backlog
        logger.warning(
            "closing %s: slow consumer (%d bytes, %d packets waiting; limits %d bytes, %d packets)",
            self.sid,
            waiting_bytes,
            waiting_packets,
            backlog.max_bytes,
            backlog.max_packets,
        )
        self.wire.spawn(self._close_slow())

    async def _close_slow(self) -> None:
        await self.close(wait=False, abort=True, reason=SLOW_CONSUMER)
        # None is never refused: it wakes a long-poll waiting for packets (the
        # client learns on its next request that the session is gone).
        self.queue.put_nowait(None)

    def schedule_ping(self) -> None:
        # engine.io starts a task per ping cycle that sleeps ping_interval and
        # then sends; a timer does the same for a fraction of the memory.
        if self.last_ping:
            self.last_ping = None
            self.ping_timer = asyncio.get_running_loop().call_later(
                self.server.ping_interval, self._ping, context=_TIMER_CONTEXT
            )

    def _ping(self) -> None:
        if not self.closing and not self.closed:
            self.last_ping = time.time()
            self.queue.put_nowait(_PING)

    async def close(
        self, wait: bool = True, abort: bool = False, reason: str | None = None
    ) -> None:
        await super().close(wait=wait, abort=abort, reason=reason)
        if self.ping_timer is not None:
            # The timer holds the socket, and through it the connection's
            # buffers, until it fires: up to ping_interval after the close.
            self.ping_timer.cancel()
            self.ping_timer = None
        if type(self.queue) is Outbox:
            # The websocket ends once the CLOSE packet is out. (engine.io waits
            # for the client to close it, or for a ping cycle of silence: its
            # reading loop has a timeout on every read, this one none.)
            self.queue.put_nowait(None)

    async def _upgrade_websocket(self, environ: dict[str, Any]) -> web.StreamResponse:
        if self.upgraded:
            raise OSError("Socket has been upgraded already")
        ws = web.WebSocketResponse(
            max_msg_size=self.server.max_http_buffer_size,
            compress=self.wire.options.compression,
        )
        await ws.prepare(environ["aiohttp.request"])
        await self._websocket_handler(ws)
        return ws

    async def _receive_text_or_binary(
        self, ws: web.WebSocketResponse, timeout: float | None = None
    ) -> str | bytes | None:
        """The next message, or None when the websocket closed or failed, or
        ``timeout`` seconds passed (default: no limit)."""
        try:
            message = await ws.receive(timeout)
        except asyncio.TimeoutError:
            return None
        if message.type is WSMsgType.TEXT or message.type is WSMsgType.BINARY:
            data: str | bytes = message.data
            return data
        return None

    async def _upgraded_from_polling(self, ws: web.WebSocketResponse) -> bool:
        """engine.io's upgrade handshake: probe ping, probe pong, upgrade."""
        self.upgrading = True  # engine.io holds packets in the queue meanwhile
        timeout = self.server.ping_timeout
        probe = await self._receive_text_or_binary(ws, timeout)
        if probe != eio_packet.Packet(eio_packet.PING, data="probe").encode():
            self.upgrading = False
            return False
        await ws.send_str(eio_packet.Packet(eio_packet.PONG, data="probe").encode())
        await self.queue.put(eio_packet.Packet(eio_packet.NOOP))  # ends the pending poll
        upgrade = await self._receive_text_or_binary(ws, timeout)
        self.upgrading = False
        if upgrade != eio_packet.Packet(eio_packet.UPGRADE).encode():
            return False
        self.upgraded = True
        return True

    def _open_outbox(self, ws: web.WebSocketResponse) -> Outbox:
        """Make the queue an :class:`Outbox`, moving over what was queued."""
        writer = ws._writer  # aiohttp's; tests/test_transport_internals.py pins its shape
        assert writer is not None  # prepared
        deflater = Deflater(int(ws.compress), writer.notakeover) if ws.compress else None
        wire = self.wire
        outbox = Outbox(
            writer.transport,
            writer.protocol,
            wire.flusher,
            wire.options.backlog,
            self._slow_consumer,
            lambda: None if ws.closed else wire.spawn(ws.close()),
            deflater,
        )
        old = self.queue
        assert isinstance(old, CountingQueue)  # an outbox is opened once
        self.queue = outbox
        while not old.empty():
            pkt = old.get_nowait()
            old.task_done()  # releases anyone waiting in old.join()
            outbox.put_nowait(pkt)
        return outbox

    async def _websocket_handler(self, ws: web.WebSocketResponse) -> None:
        if self.connected:
            if not await self._upgraded_from_polling(ws):
                return
        else:
            self.connected = True
            self.upgraded = True
        outbox = self._open_outbox(ws)
        while True:
            # ws.receive() directly, not _receive_text_or_binary: every idle
            # connection waits here, and each nested coroutine costs memory.
            message = await ws.receive()
            if message.type is not WSMsgType.TEXT and message.type is not WSMsgType.BINARY:
                break
            data: str | bytes = message.data
            try:
                pkt = eio_packet.Packet(encoded_packet=data)
            except Exception:  # not an engine.io packet: engine.io gives up too
                logger.info("%s: undecodable packet, closing", self.sid)
                break
            try:
                await self.receive(pkt)
            except exceptions.UnknownPacketError:
                pass
            except exceptions.SocketIsClosedError:
                break
            except Exception:
                # engine.io's choice: an unexpected error is logged and the
                # connection goes on.
                logger.exception("%s: error receiving a packet", self.sid)
        outbox.flush()  # what is still waiting goes out before the close frame
        await ws.close()
        await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)
