"""Whether the event being handled reached the other servers of a cluster.

The Redis manager publishes an emit after delivering it locally; when the
publish fails or takes longer than ``relay_timeout``, it calls
:func:`mark_relay_failed`, and the handler, which awaited that emit, reads
:func:`relay_failed` to answer honestly. The flag lives in a context variable
that :class:`roomkit.server.RoomkitServer` resets for every event (each runs
in its own task), so it never leaks from one event to another.
"""

from __future__ import annotations

import contextvars

__all__ = ["mark_relay_failed", "relay_failed", "reset_relay"]

_RELAY_FAILED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "roomkit_relay_failed", default=False
)


def reset_relay() -> None:
    """Start an event with nothing failed."""
    _RELAY_FAILED.set(False)


def mark_relay_failed() -> None:
    """Record that an emit of the event being handled may not have reached the
    other servers."""
    _RELAY_FAILED.set(True)


def relay_failed() -> bool:
    """Whether an emit of the event being handled may not have reached the other
    servers (always False without Redis)."""
    return _RELAY_FAILED.get()
