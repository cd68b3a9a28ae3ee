"""Which rooms each connection is in, so a disconnect costs its own rooms only.

python-socketio's manager keeps ``rooms[namespace][room] -> {sid: eio_sid}``
and nothing the other way round: ``basic_disconnect`` and ``get_rooms`` look
at every room of the namespace, and each connection has two of its own (its sid
room and, in ``/chat``, its personal room). N disconnects therefore cost N²:
SIGTERM with 2,500 members in a room spent about 9 s there (profiled), past
common shutdown grace periods. :class:`RoomIndexMixin` keeps the reverse index
through the manager's own extension points (``basic_enter_room``,
``basic_leave_room``), so both are proportional to the connection's rooms.
"""

from __future__ import annotations

from typing import Any

import socketio

from roomkit.fanout import DirectFanoutManager

__all__ = ["IndexedFanoutManager", "RoomIndexMixin"]


class RoomIndexMixin(socketio.AsyncManager):  # type: ignore[misc]
    """Put before python-socketio's manager class in the bases of a manager.

    The disconnect bookkeeping after leaving the rooms (callbacks, pending
    connects and disconnects) is python-socketio 5's ``basic_disconnect``;
    tests/test_room_index.py fails if a release changes its shape.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rooms_of: dict[tuple[str, str], set[Any]] = {}

    def basic_enter_room(self, sid: str, namespace: str, room: Any, eio_sid: Any = None) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        self._rooms_of.setdefault((namespace, sid), set()).add(room)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)
        rooms = self._rooms_of.get((namespace, sid))
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del self._rooms_of[(namespace, sid)]

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        if namespace not in self.rooms:
            return
        for room in list(self._rooms_of.get((namespace, sid), ())):
            self.basic_leave_room(sid, namespace, room)
        # The rest of python-socketio's basic_disconnect, unchanged.
        if sid in self.callbacks:
            del self.callbacks[sid]
        for pending in (self.pending_connect, self.pending_disconnect):
            if namespace in pending and sid in pending[namespace]:
                pending[namespace].remove(sid)
                if len(pending[namespace]) == 0:
                    del pending[namespace]

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        """The rooms ``sid`` is in (python-socketio's answer, from the index)."""
        return [room for room in self._rooms_of.get((namespace, sid), ()) if room is not None]


class IndexedFanoutManager(RoomIndexMixin, DirectFanoutManager):
    """:class:`~roomkit.fanout.DirectFanoutManager` with the room index: the
    manager of a server without Redis."""
