"""roomkit.room_index against python-socketio's own manager.

The mixin replaces python-socketio's ``basic_disconnect`` and ``get_rooms``
(which look at every room of a namespace) with versions that use a reverse
index. These tests fail loudly when a python-socketio release changes the
manager's state, and check that any sequence of room operations leaves both
managers with the same rooms. The end-to-end effect (SIGTERM with 2,500 or
3,000 members in one room within 5 s) is tests/test_storms.py at full size.
"""

from __future__ import annotations

import random

import socketio

from roomkit.room_index import IndexedFanoutManager

NAMESPACES = ["/chat", "/admin"]
ROOMS = ["a", "b", "c", "user:x"]
SEED = 20261203


def test_the_manager_state_is_what_the_index_was_written_for() -> None:
    # basic_disconnect's bookkeeping besides rooms is callbacks and the two
    # pending lists; a release that adds state there needs the mixin updated.
    assert set(vars(socketio.AsyncManager())) == {
        "callbacks",
        "eio_to_sid",
        "json",
        "logger",
        "pending_connect",
        "pending_disconnect",
        "rooms",
        "server",
    }


def test_any_sequence_of_room_operations_ends_as_in_python_socketio() -> None:
    plain, indexed = socketio.AsyncManager(), IndexedFanoutManager()
    rng = random.Random(SEED)
    connected: list[tuple[str, str]] = []
    for step in range(3000):
        choice = rng.random()
        if choice < 0.2 or not connected:
            namespace, sid = rng.choice(NAMESPACES), f"s{step}"
            pending = rng.random() < 0.5
            for manager in (plain, indexed):
                manager.basic_enter_room(sid, namespace, None, eio_sid=f"e{step}")
                manager.basic_enter_room(sid, namespace, sid, eio_sid=f"e{step}")
                manager.pending_connect.setdefault(namespace, [])
                if pending:
                    manager.pending_connect[namespace].append(sid)
                manager.callbacks.setdefault(sid, {})[1] = print
            connected.append((namespace, sid))
            continue
        namespace, sid = rng.choice(connected)
        room = rng.choice(ROOMS)
        for manager in (plain, indexed):
            if choice < 0.55:
                manager.basic_enter_room(sid, namespace, room)
            elif choice < 0.75:
                manager.basic_leave_room(sid, namespace, room)
            elif choice < 0.8:
                manager.basic_close_room(room, namespace)
            else:
                manager.basic_disconnect(sid, namespace)
        if choice >= 0.8:
            connected.remove((namespace, sid))
        assert indexed.rooms == plain.rooms, step
        assert sorted(indexed.get_rooms(sid, namespace), key=str) == sorted(
            plain.get_rooms(sid, namespace), key=str
        )
    assert indexed.callbacks == plain.callbacks
    assert indexed.pending_connect == plain.pending_connect
    assert indexed.pending_disconnect == plain.pending_disconnect
