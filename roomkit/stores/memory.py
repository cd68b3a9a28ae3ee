"""The in-memory :class:`~roomkit.stores.base.RoomStore`: one process, no I/O.

It is the reference the Redis store is tested against: both must behave the same.
"""

from __future__ import annotations

from dataclasses import replace

from roomkit.stores.base import JoinResult, Member, Room, RoomStore, RoomSummary, member_order

__all__ = ["MemoryStore"]


class MemoryStore(RoomStore):
    """Rooms and members in dictionaries.

    :param node_id: this server's id. Default ``""``.
    """

    def __init__(self, *, node_id: str = "") -> None:
        self.node_id = node_id
        self._rooms: dict[str, Room] = {}
        self._members: dict[str, dict[str, Member]] = {}
        self._rooms_of: dict[str, set[str]] = {}

    def _add(self, room: Room, member: Member) -> int:
        self._members.setdefault(room.name, {})[member.sid] = member
        self._rooms_of.setdefault(member.sid, set()).add(room.name)
        return len(self._members[room.name])

    async def create_room(self, room: Room, creator: Member) -> JoinResult | None:
        if room.name in self._rooms:
            return None
        self._rooms[room.name] = room
        return JoinResult(room, self._add(room, creator), already_member=False)

    async def join(self, name: str, member: Member) -> JoinResult | None:
        room = self._rooms.get(name)
        if room is None:
            room = self._rooms[name] = Room(name=name, created_by=member.name)
        if member.sid in self._members.get(name, {}):
            return JoinResult(room, len(self._members[name]), already_member=True)
        if not room.admits(member.name):
            return None
        return JoinResult(room, self._add(room, member), already_member=False)

    async def leave(self, name: str, sid: str) -> int | None:
        members = self._members.get(name, {})
        if sid not in members:
            return None
        del members[sid]
        rooms = self._rooms_of.get(sid, set())
        rooms.discard(name)
        if not rooms:
            self._rooms_of.pop(sid, None)
        if not members:
            self._members.pop(name, None)
            self._rooms.pop(name, None)
        return len(members)

    async def forget(self, sid: str) -> list[str]:
        left = sorted(self._rooms_of.get(sid, set()))
        for name in left:
            await self.leave(name, sid)
        return left

    async def invite(self, name: str, invitee: str) -> Room | None:
        room = self._rooms.get(name)
        if room is None:
            return None
        room = self._rooms[name] = replace(room, invited=room.invited | {invitee})
        return room

    async def get_room(self, name: str) -> Room | None:
        return self._rooms.get(name)

    async def members(self, name: str) -> list[Member]:
        return sorted(self._members.get(name, {}).values(), key=member_order)

    async def count(self, name: str) -> int:
        return len(self._members.get(name, {}))

    async def list_rooms(self) -> list[RoomSummary]:
        return [
            RoomSummary(self._rooms[name], len(self._members.get(name, {})))
            for name in sorted(self._rooms)
        ]

    async def room_count(self) -> int:
        return len(self._rooms)
