"""Room broadcasts without one asyncio task per recipient, one frame for all.

python-socketio's ``AsyncManager.emit`` encodes a broadcast once and then
creates one task per recipient; each task goes through
``server._send_eio_packet`` -> engine.io's ``send_packet`` -> ``AsyncSocket.send``,
which checks the ping timeout and puts the packet on that connection's
queue. None of those steps has to wait (the queue is unbounded), so the tasks
only cost time: docs/benchmarks.md ("Where the time goes") measures them as
the largest share of a room broadcast. :class:`DirectFanoutManager` does the
same checks and puts the packet on each queue directly; for connections on
the websocket transport (see :mod:`roomkit.transport`) it builds the
websocket frame once and hands the same bytes to each of them.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet

from roomkit.compact_json import compact_dumps
from roomkit.outbox import Outbox
from roomkit.transport import TransportOptions, install
from roomkit.wsframe import frame

__all__ = ["DirectFanoutManager"]


class DirectFanoutManager(socketio.AsyncManager):  # type: ignore[misc]
    """``socketio.AsyncManager`` whose :meth:`emit` queues packets directly.

    Same addressing and payload rules as python-socketio's manager; the
    difference is only how a packet reaches each recipient's engine.io queue.
    Emits with a callback (each recipient needs its own ack id) and payloads
    with binary attachments (several engine.io packets per recipient) take
    python-socketio's path unchanged.

    Pass an instance as ``client_manager`` to ``socketio.AsyncServer``; it
    installs :mod:`roomkit.transport` on that server's engine.io.
    :class:`roomkit.redis_manager.RedisManager` inherits it so that
    Redis-relayed emits are delivered the same way.

    :param transport: how connections are written to (backlog bound,
        compression). Default: :class:`~roomkit.transport.TransportOptions`'
        defaults.
    """

    def __init__(self, transport: TransportOptions | None = None) -> None:
        super().__init__()
        self.transport_options = transport or TransportOptions()
        # Closes started for connections whose ping timed out. The event loop
        # holds tasks only weakly, so they are kept here until they finish.
        self._closing: set[asyncio.Task[Any]] = set()

    def set_server(self, server: socketio.AsyncServer) -> None:
        """python-socketio's hook, called once by the server this manager serves."""
        super().set_server(server)
        install(server.eio, self.transport_options)

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        """Send ``event`` to every connection addressed, except those skipped.

        :param event: the event name.
        :param data: the payload: a tuple is sent as several arguments, None as
            no argument, anything else as one argument.
        :param namespace: the namespace to emit in.
        :param room: a room name, a sid, or a list of rooms (a connection in
            several of them receives the event once). Default None: every
            connection of the namespace.
        :param skip_sid: a sid or a list of sids not to send to. Default None.
        :param callback: called with the recipient's ack; when given, the emit
            takes python-socketio's path. Default None.
        :param to: same as ``room`` and preferred when both are given.
            Default None.
        :param kwargs: passed on to python-socketio on its path (the server
            adds ``ignore_queue``, which only pub/sub managers read).
        """
        room = to or room
        encoded = None
        if callback is None and namespace in self.rooms:
            encoded = self.encode_event(event, data, namespace)
        if encoded is None:
            await super().emit(
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs
            )
            return
        self.deliver(encoded, namespace, room, skip_sid)

    def encode_event(self, event: str, data: Any, namespace: str) -> str | None:
        """The socket.io packet of an emit, as text; None when it needs
        python-socketio's path (binary attachments: one packet each).

        :param event: the event name.
        :param data: the payload, as :meth:`emit` takes it.
        :param namespace: the namespace.
        """
        if isinstance(data, tuple):
            arguments = list(data)
        elif data is not None:
            arguments = [data]
        else:
            arguments = []
        packet_class = self.server.packet_class
        # JSON cannot encode bytes, so a payload with any fails here, without
        # python-socketio's walk of the payload looking for them.
        try:
            if (
                getattr(packet_class, "encode", None) is packet.Packet.encode
                and packet_class.json.dumps is json.dumps
            ):
                # Packet(...).encode()'s text, without building the packet.
                prefix = "2" if namespace == "/" else f"2{namespace},"
                return prefix + compact_dumps([event, *arguments])
            encoded = packet_class(
                packet.EVENT, namespace=namespace, data=[event, *arguments], binary=False
            ).encode()
        except TypeError:
            return None  # python-socketio's path attaches bytes, or says what is wrong
        return encoded if isinstance(encoded, str) else None

    def deliver(self, encoded: str, namespace: str, room: Any, skip_sid: Any) -> None:
        """Queue the socket.io packet ``encoded`` for every connection of this
        server addressed by ``room`` in ``namespace``, except ``skip_sid``
        (the meanings are :meth:`emit`'s)."""
        # Server frames are not masked: one frame serves every websocket
        # recipient; the engine.io packet is made only for queued ones.
        payload = ("4" + encoded).encode()
        ready_frame = frame(payload)
        message = None
        skipped = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        eio = self.server.eio
        sockets = eio.sockets
        now = time.time()
        # engine.io also logs each packet sent (info) and each missing sid
        # (warning); its logger shows only errors unless the server is built
        # with engineio_logger, so that logging is left out of this loop.
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skipped:
                continue
            socket = sockets.get(eio_sid)
            if socket is None:
                continue
            if socket.closed:
                # What engine.io's _get_socket does with a closed connection.
                sockets.pop(eio_sid, None)
                continue
            last_ping = socket.last_ping
            if last_ping and now - last_ping > eio.ping_timeout:
                # AsyncSocket.check_ping_timeout's verdict: the client is gone,
                # so close the connection instead of queueing. The close runs
                # the disconnect handlers, which must not hold up this loop.
                if not socket.closing:
                    self._start_close(socket, eio.reason.PING_TIMEOUT)
                continue
            queue = socket.queue
            if type(queue) is Outbox:
                queue.push(payload, ready_frame)
            else:
                if message is None:
                    message = eio_packet.Packet(eio_packet.MESSAGE, encoded)
                queue.put_nowait(message)

    def _start_close(self, socket: Any, reason: str) -> None:
        # abort=False, as in engine.io: the close tries to tell the client.
        task = self.server.start_background_task(
            socket.close, wait=False, abort=False, reason=reason
        )
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
