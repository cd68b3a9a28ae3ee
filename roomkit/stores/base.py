"""Room and presence state behind a small interface.

The chat namespace never asks python-socketio's manager who is in a room: that
manager only sees the connections of its own process. It asks a
:class:`RoomStore` instead. :class:`~roomkit.stores.memory.MemoryStore` keeps the state
in this process (one server); ``roomkit.stores.redis.RedisStore`` keeps it in
Redis so that every server of a cluster sees the same rooms and members. The
backend is chosen by URL (``memory://``, ``redis://...``, see :func:`roomkit.stores.store_from_url`)
and imported only when used.
"""

from __future__ import annotations

import abc
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "JoinResult",
    "LocalPresence",
    "Member",
    "Room",
    "RoomStore",
    "RoomSummary",
    "member_order",
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

    def to_record(self) -> str:
        """The room as a store keeps it: JSON without the invite list (kept apart)."""
        return json.dumps(self.to_json())

    @classmethod
    def from_record(cls, record: str, invited: Iterable[str] = ()) -> Room:
        """The room :meth:`to_record` wrote, with its invite list.

        :param record: what :meth:`to_record` returned.
        :param invited: the display names invited. Default none.
        """
        data = json.loads(record)
        return cls(
            name=data["name"],
            topic=data["topic"],
            created_by=data["created_by"],
            created_at=data["created_at"],
            private=data["private"],
            invited=frozenset(invited),
        )

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


def member_order(member: Member) -> tuple[str, str]:
    """How every store sorts a room's members: by display name, then sid."""
    return (member.name, member.sid)


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
    :param already_member: the connection was in the room before; nothing changed.
    """

    room: Room
    members: int
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
    async def list_rooms(self) -> list[RoomSummary]:
        """Every room with its member count, sorted by name."""

    @abc.abstractmethod
    async def room_count(self) -> int:
        """How many rooms exist."""
