"""The Socket.IO server roomkit runs, and how handlers learn whether an ack was asked.

The chat protocol answers bad input with an ack ``{"ok": false, ...}`` when the
client asked for one and with an ``error`` event otherwise. python-socketio
does not tell a handler whether the client asked, so :class:`RoomkitServer`
records it in a context variable before it runs the handler.
"""

from __future__ import annotations

import contextvars
import functools
import logging
from collections.abc import Callable, Collection
from typing import Any

import socketio
from socketio import packet

from roomkit.compact_json import PacketJson
from roomkit.engine import RoomkitEngineServer
from roomkit.errors import RoomkitError
from roomkit.logthrottle import LogThrottle
from roomkit.relay import reset_relay
from roomkit.settings import Limits

__all__ = ["RoomkitPacket", "RoomkitServer", "ack_requested", "answer_error", "close_connections"]

logger = logging.getLogger("roomkit")

_ACK_REQUESTED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "roomkit_ack_requested", default=False
)


def ack_requested() -> bool:
    """Whether the client that sent the event being handled asked for an ack."""
    return _ACK_REQUESTED.get()


class _TooManyAttachments(RoomkitError):
    """A client declared or sent more binary attachments than one packet may hold."""


class RoomkitPacket(packet.Packet):  # type: ignore[misc]
    """python-socketio's packet, its JSON decoded with a decoder made once
    (:class:`~roomkit.compact_json.PacketJson`), not one per packet."""

    json = PacketJson


class RoomkitServer(socketio.AsyncServer):  # type: ignore[misc]
    """``socketio.AsyncServer`` that exposes :func:`ack_requested` to handlers,
    logs undecodable packets at a bounded rate and closes connections whose
    binary attachments exceed the limits.

    Takes the arguments of ``socketio.AsyncServer``, plus:

    :param limits: ``max_payload_bytes``, ``max_attachments``,
        ``max_poll_gap`` and ``log_interval`` apply here. Default: ``Limits()``.
    :param trusted_proxies: see :class:`~roomkit.engine.RoomkitEngineServer`.
        Default empty.

    Its packets are :class:`RoomkitPacket` unless ``serializer`` says otherwise.
    """

    def __init__(
        self,
        *args: Any,
        limits: Limits | None = None,
        trusted_proxies: Collection[str] = (),
        **kwargs: Any,
    ) -> None:
        self.limits = limits or Limits()
        self.trusted_proxies = tuple(trusted_proxies)
        self.log_throttle = LogThrottle(logger, self.limits.log_interval)
        kwargs.setdefault("serializer", RoomkitPacket)
        super().__init__(*args, **kwargs)

    # python-socketio builds its engine.io server from this method's result.
    def _engineio_server_class(self) -> Callable[..., RoomkitEngineServer]:
        return functools.partial(
            RoomkitEngineServer,
            trusted_proxies=self.trusted_proxies,
            max_poll_gap=self.limits.max_poll_gap,
            log_interval=self.limits.log_interval,
        )

    # Every Socket.IO packet of every client arrives here. python-socketio logs
    # a full traceback for each one it cannot decode, and keeps every binary
    # attachment a client declares until the last one arrives.
    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        try:
            self._check_attachment(eio_sid, data)
            await super()._handle_eio_message(eio_sid, data)
            self._check_declared_attachments(eio_sid)
        except _TooManyAttachments as problem:  # like an oversized packet: closed
            self.log_throttle.log(
                logging.WARNING, "attachments", "closing %s: %s", eio_sid, problem
            )
            self._binary_packet.pop(eio_sid, None)
            await self.eio.disconnect(eio_sid)
        except Exception as problem:  # the client's bytes, not our bug: one line
            # Dropped, the connection kept, as python-socketio does.
            self.log_throttle.log(
                logging.WARNING,
                "bad packet",
                "dropped a bad packet from %s (%s: %.80s)",
                eio_sid,
                type(problem).__name__,
                str(problem),
            )
            # The traceback only when asked for: at DEBUG, every one (a bug of
            # ours in a connect or disconnect handler would land here too).
            logger.debug("bad packet from %s", eio_sid, exc_info=True)

    def _check_attachment(self, eio_sid: str, data: Any) -> None:
        pending = self._binary_packet.get(eio_sid)
        if pending is None:
            return
        held = sum(len(each) for each in pending.attachments) + len(data)
        if held > self.limits.max_payload_bytes:
            raise _TooManyAttachments(f"attachments exceed {self.limits.max_payload_bytes} bytes")

    def _check_declared_attachments(self, eio_sid: str) -> None:
        pending = self._binary_packet.get(eio_sid)
        if pending is not None and pending.attachment_count > self.limits.max_attachments:
            raise _TooManyAttachments(f"more than {self.limits.max_attachments} attachments")

    # python-socketio 5.x runs every event through this method in its own task
    # (async_handlers=True), with ``id`` set only when the client asked for an
    # ack; setting the variable here scopes it to that one event.
    # tests/test_server.py fails loudly if a python-socketio release changes it.
    async def _handle_event_internal(
        self,
        server: socketio.AsyncServer,
        sid: str,
        eio_sid: str,
        data: Any,
        namespace: str,
        id: int | None,
    ) -> None:
        _ACK_REQUESTED.set(id is not None)
        reset_relay(awaited=id is not None)
        await super()._handle_event_internal(server, sid, eio_sid, data, namespace, id)


async def answer_error(
    namespace: socketio.AsyncNamespace, sid: str, event: str, reason: str
) -> dict[str, Any] | None:
    """Tell ``sid`` alone that its ``event`` was refused, and why.

    Returns the ack payload ``{"ok": False, "error": reason}`` when the client
    asked for an ack; otherwise emits an ``error`` event ``{"event", "error"}``
    to it and returns None.
    """
    if ack_requested():
        return {"ok": False, "error": reason}
    await namespace.emit("error", {"event": event, "error": reason}, to=sid)
    return None


async def close_connections(sio: socketio.AsyncServer) -> None:
    """Disconnect every client of ``sio`` at once and stop its background tasks.

    engine.io's own disconnect-all waits for every send queue to drain, which
    never happens for a client that already vanished; so each socket is closed
    without waiting. The ``None`` queued after the close packet ends the
    socket's writer, which closes the websocket itself: otherwise aiohttp waits
    out its shutdown timeout for clients (python-socketio's among them) that
    do not close their end when told to.
    """
    eio = sio.eio
    for eio_socket in list(eio.sockets.values()):
        await eio_socket.close(wait=False, reason=eio.reason.SERVER_DISCONNECT)
        await eio_socket.queue.put(None)
    eio.sockets.clear()
    await sio.shutdown()
