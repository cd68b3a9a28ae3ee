"""Whether the event being handled reached the other servers of a cluster.

The Redis manager publishes an emit after delivering it locally; when the
publish fails or takes longer than ``relay_timeout``, it calls
:func:`mark_relay_failed`, and the handler, which awaited that emit, reads
:func:`relay_failed` to answer honestly. The flag lives in a context variable
that :class:`roomkit.server.RoomkitServer` resets for every event (each runs
in its own task), so it never leaks from one event to another.

Only an event whose sender asked for an ack can be answered that way; for the
others (``relay_awaited()`` is False) the manager queues the publish and goes
on without waiting for Redis, as Node's Redis adapter does for every emit.
"""

from __future__ import annotations

import contextvars

__all__ = ["mark_relay_failed", "relay_awaited", "relay_failed", "reset_relay"]

_RELAY_FAILED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "roomkit_relay_failed", default=False
)
_RELAY_AWAITED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "roomkit_relay_awaited", default=True
)


def reset_relay(awaited: bool = True) -> None:
    """Start an event with nothing failed.

    :param awaited: whether the event's emits wait until they are published
        (its sender asked for an ack, which may say they were not). Default True.
    """
    _RELAY_FAILED.set(False)
    _RELAY_AWAITED.set(awaited)


def relay_awaited() -> bool:
    """Whether emits of the event being handled wait until they are published
    (True outside an event: a background task's emit, a test's)."""
    return _RELAY_AWAITED.get()


def mark_relay_failed() -> None:
    """Record that an emit of the event being handled may not have reached the
    other servers."""
    _RELAY_FAILED.set(True)


def relay_failed() -> bool:
    """Whether an emit of the event being handled may not have reached the other
    servers (always False without Redis)."""
    return _RELAY_FAILED.get()
