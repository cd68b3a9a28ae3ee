"""Exceptions raised by roomkit.

Every roomkit exception derives from :class:`RoomkitError`, so callers can catch
the whole family with one ``except`` clause.
"""

from __future__ import annotations

__all__ = [
    "ConnectRefused",
    "ProtocolError",
    "Refused",
    "RelayBacklogFull",
    "RoomkitError",
    "StoreMisconfigured",
    "StoreUnavailable",
    "WaitTimeout",
]


class RoomkitError(Exception):
    """Root of every exception roomkit raises on purpose."""


class ProtocolError(RoomkitError):
    """A client sent something the chat protocol does not accept.

    The message is sent back to that client verbatim (as ``{"ok": false,
    "error": message}`` or as an ``error`` event), so it must never contain
    secrets or other members' data.
    """


class Refused(RoomkitError):
    """A namespace middleware refuses a connection.

    The message reaches the client's ``connect_error`` handler, exactly like
    ``next(new Error(message))`` in a Socket.IO (Node.js) middleware.
    """


class StoreUnavailable(RoomkitError):
    """The room store's backend (for example Redis) cannot be reached."""


class RelayBacklogFull(RoomkitError):
    """Messages for the other servers wait in a full queue: Redis takes them more
    slowly than this server publishes them (or not at all)."""


class StoreMisconfigured(RoomkitError):
    """The room store's backend is set up in a way roomkit cannot run on safely
    (for example a Redis that evicts keys when full)."""


class WaitTimeout(RoomkitError, TimeoutError):
    """A test client did not receive the event it waited for in time."""


class ConnectRefused(RoomkitError, ConnectionError):
    """A test client's connection was refused by the namespace.

    :attr reason: the message the server sent to ``connect_error``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
