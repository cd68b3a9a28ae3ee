"""Room and presence state behind a small interface.

The chat namespace never asks python-socketio's manager who is in a room: that
manager only sees the connections of its own process. It asks a
:class:`RoomStore` instead. :class:`~roomkit.memory.MemoryStore` keeps the state
in this process (one server); ``roomkit.redis_store.RedisStore`` keeps it in
Redis so that every server of a cluster sees the same rooms and members. The
backend is chosen by URL (``memory://``, ``redis://...``) and imported only when
used.
"""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "JoinResult",
    "LocalPresence",
    "Member",
    "Room",
    "RoomStore",
    "RoomSummary",
    "store_from_url",
]


@dataclass(frozen=True, slots=True)
class Room:
    """A chat room's metadata.

    :param name: the room's name (validated by :func:`roomkit.validation.room_name`).
    :param topic: free text shown in room listings. Default ``""``.
    :param created_by: display name of the creator. Default ``""``.
    :param created_at: Unix time of creation. Default: now.
    :param private: only the creator and invited names may join, see members or
        see the room listed. Default False.
    :param invited: display names invited into a private room. Default empty.
    """

    name: str
    topic: str = ""
    created_by: str = ""
    created_at: float = field(default_factory=time.time)
    private: bool = False
    invited: frozenset[str] = frozenset()

    def admits(self, name: str) -> bool:
        """Whether the display name ``name`` may join this room."""
        return not self.private or name == self.created_by or name in self.invited

    def to_json(self) -> dict[str, Any]:
        """The room as sent to clients (the invite list stays on the server)."""
        return {
            "name": self.name,
            "topic": self.topic,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "private": self.private,
        }


@dataclass(frozen=True, slots=True)
class Member:
    """One connection in a room.

    :param sid: the Socket.IO session id of the connection.
    :param name: its display name.
    :param node: id of the server process that holds the connection.
        Default ``""`` (single-process stores ignore it).
    """

    sid: str
    name: str
    node: str = ""

    def to_json(self) -> dict[str, str]:
        return {"user": self.sid, "name": self.name}


@dataclass(frozen=True, slots=True)
class RoomSummary:
    """A room and how many connections are in it."""

    room: Room
    members: int

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.room.name,
            "topic": self.room.topic,
            "members": self.members,
            "private": self.room.private,
        }


@dataclass(frozen=True, slots=True)
class JoinResult:
    """What :meth:`RoomStore.join` did.

    :param room: the room joined.
    :param members: member count after the join.
    :param created: the join created the room.
    :param already_member: the connection was in the room before; nothing changed.
    """

    room: Room
    members: int
    created: bool
    already_member: bool


class LocalPresence(Protocol):
    """What a shared store asks of the server it runs in (the chat namespace)."""

    def local_members(self) -> list[tuple[str, Member]]:
        """``(room, member)`` for every room membership of this server's connections."""

    async def members_gone(self, gone: list[tuple[str, str]]) -> None:
        """Tell rooms that these ``(room, sid)`` members of a dead server are gone."""


class RoomStore(abc.ABC):
    """Where rooms, their metadata and their members live.

    Rooms exist while they have members, as in Socket.IO's own adapter: the last
    member leaving deletes the room and its metadata.
    """

    node_id: str = ""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect to the backend and start background work. Default: nothing."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Stop background work, remove this node's members, disconnect."""

    def attach(self, presence: LocalPresence) -> None:  # noqa: B027 - optional hook
        """Give the store the server's own view of its connections, so a shared
        store can rebuild lost state and announce members of dead servers.
        Default: nothing (a single-process store has no one to tell)."""

    @abc.abstractmethod
    async def create_room(self, room: Room, creator: Member) -> JoinResult | None:
        """Create ``room`` with ``creator`` as its first member.

        Returns None, changing nothing, when a room of that name exists.
        """

    @abc.abstractmethod
    async def join(self, name: str, member: Member) -> JoinResult | None:
        """Add ``member`` to room ``name``, creating a public room if it is new.

        Returns None, changing nothing, when the room is private and does not
        admit ``member.name``.
        """

    @abc.abstractmethod
    async def leave(self, name: str, sid: str) -> int | None:
        """Remove ``sid`` from room ``name``; return how many members remain, or
        None when ``sid`` was not a member. An emptied room is deleted."""

    @abc.abstractmethod
    async def forget(self, sid: str) -> list[str]:
        """Remove ``sid`` from every room (on disconnect); return the rooms it left."""

    @abc.abstractmethod
    async def invite(self, name: str, invitee: str) -> Room | None:
        """Add display name ``invitee`` to private room ``name``'s invite list.

        Returns the updated room, or None when there is no such room.
        """

    @abc.abstractmethod
    async def get_room(self, name: str) -> Room | None:
        """The room's metadata, or None when no such room exists."""

    @abc.abstractmethod
    async def members(self, name: str) -> list[Member]:
        """The room's members, ordered by display name then sid."""

    @abc.abstractmethod
    async def count(self, name: str) -> int:
        """How many members the room has (0 when it does not exist)."""

    @abc.abstractmethod
    async def rooms_of(self, sid: str) -> list[str]:
        """The chat rooms ``sid`` is in, sorted."""

    @abc.abstractmethod
    async def list_rooms(self) -> list[RoomSummary]:
        """Every room with its member count, sorted by name."""

    @abc.abstractmethod
    async def room_count(self) -> int:
        """How many rooms exist."""


def store_from_url(
    url: str,
    *,
    node_id: str = "",
    node_ttl: float = 10.0,
    timeout: float = 2.0,
    max_connections: int = 4,
) -> RoomStore:
    """Build the store a URL names.

    :param url: ``memory://`` or ``redis://[:password@]host:port/db`` (also
        ``rediss://`` and ``unix://``).
    :param node_id: this server's id in a cluster. Default ``""``.
    :param node_ttl: seconds without a heartbeat after which a node's members are
        dropped (Redis only). Default 10.
    :param timeout: seconds one call may take (Redis only). Default 2.
    :param max_connections: connections the store may open (Redis only). Default 4.
    :raises ValueError: for an unknown scheme.
    """
    scheme = url.split("://", 1)[0].lower()
    if scheme == "memory":
        from roomkit.memory import MemoryStore

        return MemoryStore(node_id=node_id)
    if scheme in {"redis", "rediss", "unix"}:
        from roomkit.redis_store import RedisStore

        return RedisStore(
            url,
            node_id=node_id,
            node_ttl=node_ttl,
            timeout=timeout,
            max_connections=max_connections,
        )
    raise ValueError(f"unknown store URL scheme {scheme!r}; use memory:// or redis://")
