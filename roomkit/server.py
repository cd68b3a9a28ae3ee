"""The Socket.IO server roomkit runs, and how handlers learn whether an ack was asked.

The chat protocol answers bad input with an ack ``{"ok": false, ...}`` when the
client asked for one and with an ``error`` event otherwise. python-socketio
does not tell a handler whether the client asked, so :class:`RoomkitServer`
records it in a context variable before it runs the handler.
"""

from __future__ import annotations

import contextvars
from typing import Any

import socketio

from roomkit.relay import reset_relay

__all__ = ["RoomkitServer", "ack_requested", "answer_error", "close_connections"]

_ACK_REQUESTED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "roomkit_ack_requested", default=False
)


def ack_requested() -> bool:
    """Whether the client that sent the event being handled asked for an ack."""
    return _ACK_REQUESTED.get()


class RoomkitServer(socketio.AsyncServer):  # type: ignore[misc]
    """``socketio.AsyncServer`` that exposes :func:`ack_requested` to handlers.

    Takes the same arguments as ``socketio.AsyncServer``.
    """

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
        reset_relay()
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
