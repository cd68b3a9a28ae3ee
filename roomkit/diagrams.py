"""Pictures of a running server, as Mermaid diagrams JupyterLab draws.

:func:`topology` shows namespaces, their rooms and each room's members, like the
flowchart in the course's source. :func:`delivery` shows, for one action, which
clients received what: a sequence diagram built from what
:class:`~roomkit.testing.RecordingClient` objects actually recorded.

Both return a :class:`Mermaid` object: in JupyterLab (4.1 or newer) it renders as a
diagram; ``str()`` gives the Mermaid source.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import socketio

from roomkit.testing import RecordingClient

__all__ = ["Mermaid", "delivery", "topology"]


@dataclass(frozen=True, slots=True)
class Mermaid:
    """Mermaid source that notebooks display as a diagram."""

    source: str

    def __str__(self) -> str:
        return self.source

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {
            "text/vnd.mermaid": self.source,
            "text/markdown": f"```mermaid\n{self.source}\n```",
            "text/plain": self.source,
        }


def _node_id(*parts: str) -> str:
    return "_".join(re.sub(r"[^A-Za-z0-9]", "_", part) for part in parts)


def _label(text: str) -> str:
    return '"' + text.replace('"', "#quot;") + '"'


def topology(
    sio: socketio.AsyncServer,
    names: Mapping[str, str] | None = None,
    *,
    title: str = "Socket.IO server",
) -> Mermaid:
    """Namespaces -> rooms -> members of ``sio``, as a flowchart.

    Each connection's own sid-room is left out (every socket is alone in a room
    named after its sid); connections in no other room hang off their namespace.
    This reads python-socketio's manager, so it shows this process only.

    :param sio: the server to draw.
    :param names: labels for sids (e.g. ``{client.sid: client.name}``). Default:
        the first 6 characters of each sid.
    :param title: the server's box, e.g. ``"server A"`` when several are drawn.
        Default ``"Socket.IO server"``.
    """
    names = dict(names or {})
    lines = ["flowchart TD", f"    server[{_label(title)}]"]
    rooms_by_namespace: dict[str, dict[Any, Any]] = sio.manager.rooms
    for namespace in sorted(rooms_by_namespace):
        ns_id = _node_id("ns", namespace)
        lines.append(f"    server --> {ns_id}[{_label('namespace ' + namespace)}]")
        rooms = rooms_by_namespace[namespace]
        connected = set(rooms.get(None, {}))
        placed: set[str] = set()
        for room in sorted(name for name in rooms if name is not None and name not in connected):
            room_id = _node_id("room", namespace, room)
            lines.append(f"    {ns_id} --> {room_id}[{_label('room ' + room)}]")
            for sid in sorted(rooms[room]):
                member_id = _node_id("sid", namespace, sid)
                label = names.get(sid, sid[:6])
                lines.append(f"    {room_id} --> {member_id}({_label(label)})")
                placed.add(sid)
        for sid in sorted(connected - placed):
            member_id = _node_id("sid", namespace, sid)
            lines.append(f"    {ns_id} --> {member_id}({_label(names.get(sid, sid[:6]))})")
    return Mermaid("\n".join(lines))


def delivery(
    sender: RecordingClient | str,
    action: str,
    clients: Sequence[RecordingClient],
    *,
    events: Iterable[str] | None = None,
) -> Mermaid:
    """Who received what after ``sender`` did ``action``, as a sequence diagram.

    :param sender: the client that acted, or a label for code that is not a
        client (e.g. ``"scheduler"`` for an emit from outside any handler).
    :param action: what it sent, e.g. ``"message to general"``.
    :param clients: every client to show, the sender included or not.
    :param events: only show these event names. Default: every event received.
    """
    wanted = set(events) if events is not None else None
    sender_name = sender if isinstance(sender, str) else sender.name
    receivers = [c for c in clients if c is not sender]
    if not isinstance(sender, str):
        receivers.insert(0, sender)
    lines = ["sequenceDiagram", f"    participant {_node_id(sender_name)} as {sender_name}"]
    lines.append("    participant server as server")
    lines += [
        f"    participant {_node_id(c.name)} as {c.name}"
        for c in receivers
        if c.name != sender_name
    ]
    lines.append(f"    {_node_id(sender_name)}->>server: {action}")
    for client in receivers:
        received = [item for item in client.received if wanted is None or item.event in wanted]
        for item in received:
            shown = ", ".join(repr(arg) for arg in item.args)
            if len(shown) > 40:
                shown = shown[:37] + "..."
            lines.append(f"    server-->>{_node_id(client.name)}: {item.event} {shown}")
        if not received:
            lines.append(f"    Note over {_node_id(client.name)}: nothing")
    return Mermaid("\n".join(lines))
