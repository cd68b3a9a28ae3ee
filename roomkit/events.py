"""Event dispatch with declared arguments and answers for the sender alone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import socketio

from roomkit.errors import ProtocolError, StoreUnavailable
from roomkit.middleware import MiddlewareNamespace
from roomkit.server import RoomkitServer, answer_error

__all__ = ["STORE_UNAVAILABLE", "EventNamespace", "EventSpec", "Reply"]

Reply = dict[str, Any]

STORE_UNAVAILABLE = "the room service is temporarily unavailable; try again shortly"

# Handled by python-socketio's connection life cycle, never as client events.
_LIFECYCLE_EVENTS = frozenset({"connect", "disconnect"})


@dataclass(frozen=True, slots=True)
class EventSpec:
    """How one client event is handled.

    :param handler: ``async (sid, *arguments) -> reply``; raises
        :class:`~roomkit.errors.ProtocolError` to refuse.
    :param arity: how many arguments the event takes. Default 1.
    :param rate_limited: whether the event spends a rate-limit token. Default False.
    :param schema: the declared shape of the single argument: a function that
        returns the checked value the handler receives instead of the raw one,
        or raises :class:`~roomkit.errors.ProtocolError` with the reason (see
        :mod:`roomkit.validation`). Default None: arguments reach the handler
        unchecked.
    """

    handler: Callable[..., Awaitable[Reply]]
    arity: int = 1
    rate_limited: bool = False
    schema: Callable[[Any], Any] | None = None


class EventNamespace(MiddlewareNamespace):
    """A namespace whose events are declared in ``self.events``.

    Every event, known or not and with any number of arguments, gets an
    answer: the handler's reply, or the ack ``{"ok": false, "error": reason}``
    (an ``error`` event ``{"event", "error"}`` when the client asked for no ack),
    unless :meth:`admit_refusal` says the sender had enough refusals for now.
    Event names may contain spaces (``"join room"``), which python-socketio's
    ``on_<event>`` method lookup cannot express. It serves only on a
    :class:`~roomkit.server.RoomkitServer`; registering it elsewhere raises ``TypeError``.

    :param namespace: the namespace's name.
    """

    def __init__(self, namespace: str) -> None:
        super().__init__(namespace)
        self.events: dict[str, EventSpec] = {}

    def _set_server(self, server: socketio.AsyncServer) -> None:
        # python-socketio calls this from register_namespace. A refusal is an ack
        # or an error event depending on whether the client asked for an ack, and
        # only RoomkitServer tells a handler that: on any other server every
        # refusal would silently take the wrong form, so refuse the pairing.
        if not isinstance(server, RoomkitServer):
            raise TypeError(
                f"{type(self).__name__} needs a roomkit.server.RoomkitServer (create_app builds "
                f"one), not {type(server).__name__}: only it tells handlers whether the client "
                "asked for an ack, which decides how a refusal is answered"
            )
        super()._set_server(server)

    async def trigger_event(self, event: Any, *args: Any) -> Any:
        sid, payload = args[0], args[1:]
        lifecycle = isinstance(event, str) and event in _LIFECYCLE_EVENTS
        if lifecycle and self._lifecycle_call(event, sid):
            return await super().trigger_event(event, *args)
        if not self.server.manager.is_connected(sid, self.namespace):
            # python-socketio starts a task per event as it reads them: one
            # that had not run when its connection went is dropped, not answered.
            return self.server.not_handled
        try:
            spec = self.events.get(event) if isinstance(event, str) else None
            # Admitted first, so that malformed events cost a client as much
            # as valid ones: error replies are not a free way to flood.
            await self.admit_event(sid, spec)
            if not isinstance(event, str):
                raise ProtocolError(f"event names must be strings, not {type(event).__name__}")
            if spec is None:
                raise ProtocolError(f"unknown event {event!r}")
            if len(payload) != spec.arity:
                wanted = {0: "no arguments", 1: "one argument"}.get(
                    spec.arity, f"{spec.arity} arguments"
                )
                raise ProtocolError(f"{event!r} takes {wanted}, got {len(payload)}")
            if spec.schema is not None:
                payload = tuple(map(spec.schema, payload))
            return await spec.handler(sid, *payload)
        except ProtocolError as problem:
            return await self._refuse(sid, event, str(problem))
        except StoreUnavailable:  # e.g. Redis restarting: the sender may retry
            return await self._refuse(sid, event, STORE_UNAVAILABLE)

    async def _refuse(self, sid: str, event: Any, reason: str) -> Any:
        if not self.admit_refusal(sid):
            # python-socketio sends no ack at all for this value.
            return self.server.not_handled
        return await answer_error(self, sid, event, reason)

    def _lifecycle_call(self, event: str, sid: str) -> bool:
        """Whether python-socketio itself is connecting or disconnecting ``sid``.

        A client can send an ordinary event named ``connect`` or ``disconnect``,
        and python-socketio hands it to this same method; run as the real
        thing it would reset the connection's state (rooms, rate limit) or drop
        it from the store while the socket stays open. The manager marks a sid
        pre-connected while its connect handler runs and takes it out of the
        connected set before its disconnect handler runs, and it delivers
        client events only to connected sids, so the two cases never overlap.
        """
        manager = self.server.manager
        if event == "connect":
            return bool(manager.is_pre_connected(sid, self.namespace))
        return not manager.is_connected(sid, self.namespace)

    def admit_refusal(self, sid: str) -> bool:
        """Whether to answer one more refusal to ``sid``; a refusal not admitted
        gets no answer at all (no ack, no ``error`` event), so answering a
        flood of bad events costs a bounded rate. Default: answer every one."""
        return True

    async def admit_event(self, sid: str, spec: EventSpec | None) -> None:
        """Raise :class:`~roomkit.errors.ProtocolError` to refuse an event before
        anything else is checked (e.g. a rate limit); ``spec`` is None for an
        event that is not declared. Default: admit everything."""
