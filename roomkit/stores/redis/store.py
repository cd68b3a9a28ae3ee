"""The Redis :class:`~roomkit.stores.base.RoomStore`: the room and member calls.

Changes run the scripts of :mod:`roomkit.stores.redis.scripts` through
:meth:`RedisNode._change`, which reconciles first when Redis lost this node's
state; reads go straight to the keys (layout in :mod:`roomkit.stores.redis`).
"""

from __future__ import annotations

import json

from roomkit.stores.base import JoinResult, Member, Room, RoomStore, RoomSummary, member_order
from roomkit.stores.redis.node import RedisNode, member_entry

__all__ = ["RedisStore"]


class RedisStore(RedisNode, RoomStore):
    """Rooms and members in Redis, shared by every server that uses the same URL.

    Takes :class:`~roomkit.stores.redis.node.RedisNode`'s parameters (``url``,
    ``node_id``, ``node_ttl``, ``prefix``, ``timeout``, ``max_connections``).
    """

    async def create_room(self, room: Room, creator: Member) -> JoinResult | None:
        count = await self._change(
            "create", room.name, creator.sid, member_entry(creator), creator.node, room.to_record()
        )
        if count is None:
            return None
        return JoinResult(self._remember(room), count, already_member=False)

    async def join(self, name: str, member: Member) -> JoinResult | None:
        fresh = Room(name=name, created_by=member.name)
        reply = await self._change(
            "join",
            name,
            member.sid,
            member_entry(member),
            member.node,
            member.name,
            fresh.to_record(),
        )
        if reply is None:
            return None
        raw, invited, count, _created, already = reply
        room = self._remember(Room.from_record(raw, invited))
        return JoinResult(room, count, already_member=bool(already))

    async def leave(self, name: str, sid: str) -> int | None:
        left: int | None = await self._change("leave", name, sid)
        return left

    async def forget(self, sid: str) -> list[str]:
        rooms: list[str] = await self._change("forget", sid)
        return sorted(rooms)

    async def invite(self, name: str, invitee: str) -> Room | None:
        reply = await self._change("invite", name, invitee)
        if reply is None:
            return None
        raw, invited = reply
        return self._remember(Room.from_record(raw, invited))

    async def get_room(self, name: str) -> Room | None:
        async with self._unavailable_as_error():
            pipe = self.redis.pipeline(transaction=True)
            pipe.get(self._key("room", name))
            pipe.smembers(self._key("invited", name))
            raw, invited = await pipe.execute()
        if raw is None:
            return None
        room = Room.from_record(raw, invited)
        if name in self._rooms_known:
            self._remember(room)
        return room

    async def members(self, name: str) -> list[Member]:
        async with self._unavailable_as_error():
            entries = await self.redis.hgetall(self._key("members", name))
        members = []
        for sid, raw in entries.items():
            data = json.loads(raw)
            members.append(Member(str(sid), data["name"], data["node"]))
        return sorted(members, key=member_order)

    async def count(self, name: str) -> int:
        async with self._unavailable_as_error():
            count: int = await self.redis.hlen(self._key("members", name))
        return count

    async def list_rooms(self) -> list[RoomSummary]:
        async with self._unavailable_as_error():
            names = sorted(await self._strings(self.redis.smembers(f"{self.prefix}:rooms")))
            pipe = self.redis.pipeline(transaction=False)
            for name in names:
                pipe.get(self._key("room", name))
                pipe.smembers(self._key("invited", name))
                pipe.hlen(self._key("members", name))
            replies = await pipe.execute()
        summaries = []
        for index in range(len(names)):
            raw, invited, count = replies[3 * index : 3 * index + 3]
            if raw is not None and count:  # deleted between the two round trips
                summaries.append(RoomSummary(Room.from_record(raw, invited), count))
        return summaries

    async def room_count(self) -> int:
        async with self._unavailable_as_error():
            count: int = await self.redis.scard(f"{self.prefix}:rooms")
        return count
