"""The messages python-socketio's pub/sub managers exchange through Redis,
made and read without the work python-socketio repeats for each.

An emit is published as the JSON of a dict (``method``, ``event``, ``data``,
``binary``, ``namespace``, ``room``, ``skip_sid``, ``callback``, ``host_id``);
every server decodes it and delivers it. This module makes that JSON from the
socket.io packet the publishing server has already encoded for its own
clients, recognises the server's own emits when Redis sends them back, and
decodes the others with one decoder made once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import Any

from roomkit.compact_json import network_loads

__all__ = ["decoded", "own_emit_test", "relay_message"]


def _dumps(value: Any) -> str:
    # json.dumps of a lone string ends in this function, after two calls that
    # cost more than it does; events, namespaces and rooms are mostly strings.
    return encode_basestring_ascii(value) if type(value) is str else json.dumps(value)


def decoded(message: bytes) -> dict[str, Any] | bytes:
    """A relayed message as the dict python-socketio's loop handles; the bytes
    as they came when they are not a JSON object (the loop skips them)."""
    try:
        value = network_loads(message.decode())
    except ValueError:  # UnicodeDecodeError and JSONDecodeError included
        return message
    return value if isinstance(value, dict) else message


def relay_message(
    event: str,
    data: Any,
    encoded: str,
    namespace: str,
    room: Any,
    skip_sid: Any,
    host_id: str,
) -> bytes:
    """The message python-socketio's pub/sub managers publish for an emit
    without callback or attachments, in the JSON ``json.dumps`` would write,
    its ``data`` taken from ``encoded`` (the emit's socket.io packet as
    :meth:`DirectFanoutManager.encode_event` made it) instead of encoded again.

    :param event: the event name.
    :param data: the payload as given to emit.
    :param encoded: the socket.io packet: type, namespace, then the JSON array
        of the event name and its arguments.
    :param namespace: the namespace.
    :param room: the room, sid or list of them, or None.
    :param skip_sid: the sid or sids to skip, or None.
    :param host_id: the publishing manager's id.
    """
    name = _dumps(event)
    # After the type digit and "<namespace>,": ["<event>"] or ["<event>",<arguments...>].
    array = encoded[1 if namespace == "/" else len(namespace) + 2 :]
    if data is None:  # python-socketio publishes the arguments as a list; None as [None]
        arguments = "[null]"
    elif not array.startswith("[" + name):  # a packet class of another shape
        arguments = json.dumps(list(data) if isinstance(data, tuple) else [data])
    elif len(array) > len(name) + 2:
        arguments = "[" + array[len(name) + 2 :]
    else:
        arguments = "[]"
    return (
        f'{{"method": "emit", "event": {name}, "data": {arguments}, '
        f'"binary": false, "namespace": {_dumps(namespace)}, "room": {_dumps(room)}, '
        f'"skip_sid": {_dumps(skip_sid)}, "callback": null, "host_id": "{host_id}"}}'
    ).encode()


def own_emit_test(host_id: str) -> Callable[[bytes], bool]:
    """A test that tells the emits published by the manager ``host_id``
    (:func:`relay_message` and ``json.dumps`` of python-socketio's message both
    start with ``method`` and end with ``host_id``) from anything else, without
    decoding. A message in another encoding is not recognised, only decoded and
    dropped by python-socketio as before.

    :param host_id: the manager's id.
    """
    start, end = b'{"method": "emit"', f', "host_id": "{host_id}"}}'.encode()

    def is_own_emit(message: bytes) -> bool:
        # A JSON string cannot hold an unescaped quote, so only the top-level
        # object's last member can end the message this way.
        return message.startswith(start) and message.endswith(end)

    return is_own_emit
