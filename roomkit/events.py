"""Event dispatch with declared arguments and answers for the sender alone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from roomkit.errors import ProtocolError
from roomkit.middleware import MiddlewareNamespace
from roomkit.server import answer_error

__all__ = ["EventNamespace", "EventSpec", "Reply"]

Reply = dict[str, Any]


@dataclass(frozen=True, slots=True)
class EventSpec:
    """How one client event is handled.

    :param handler: ``async (sid, *arguments) -> reply``; raises
        :class:`~roomkit.errors.ProtocolError` to refuse.
    :param arity: how many arguments the event takes.
    :param rate_limited: whether the event spends a rate-limit token.
    """

    handler: Callable[..., Awaitable[Reply]]
    arity: int = 1
    rate_limited: bool = False


class EventNamespace(MiddlewareNamespace):
    """A namespace whose events are declared in ``self.events``.

    Every event, known or not and with any number of arguments, gets an
    answer: the handler's reply, or the ack ``{"ok": false, "error": reason}``
    (an ``error`` event ``{"event", "error"}`` when the client asked for no ack).
    Event names may contain spaces (``"join room"``), which python-socketio's
    ``on_<event>`` method lookup cannot express.

    :param namespace: the namespace's name.
    """

    def __init__(self, namespace: str) -> None:
        super().__init__(namespace)
        self.events: dict[str, EventSpec] = {}

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event in {"connect", "disconnect"}:
            return await super().trigger_event(event, *args)
        sid, payload = args[0], args[1:]
        try:
            spec = self.events.get(event)
            if spec is None:
                raise ProtocolError(f"unknown event {event!r}")
            if len(payload) != spec.arity:
                wanted = {0: "no arguments", 1: "one argument"}.get(
                    spec.arity, f"{spec.arity} arguments"
                )
                raise ProtocolError(f"{event!r} takes {wanted}, got {len(payload)}")
            await self.admit_event(sid, spec)
            return await spec.handler(sid, *payload)
        except ProtocolError as problem:
            return await answer_error(self, sid, event, str(problem))

    async def admit_event(self, sid: str, spec: EventSpec) -> None:
        """Raise :class:`~roomkit.errors.ProtocolError` to refuse an event before
        its handler runs (e.g. a rate limit). Default: admit everything."""
