"""The ``/chat`` namespace: rooms, messages, metadata and presence.

The wire protocol is documented in ``docs/protocol.md``. Every event goes
through :meth:`ChatNamespace.trigger_event`, which validates arguments, applies
the rate limit and turns a :class:`~roomkit.errors.ProtocolError` into an answer
for the sender alone: the ack ``{"ok": false, "error": reason}`` when the client
asked for one, otherwise an ``error`` event ``{"event": name, "error": reason}``.
A refused event never reaches other clients.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from roomkit.errors import ProtocolError, Refused, StoreUnavailable
from roomkit.events import EventNamespace, EventSpec, Reply
from roomkit.middleware import Handshake
from roomkit.presence import Presence
from roomkit.ratelimit import AddressBuckets, SharedBuckets, TokenBucket
from roomkit.relay import relay_failed
from roomkit.settings import Limits, LoadLimits
from roomkit.stores.base import Member, Room, RoomStore
from roomkit.validation import (
    CreateRequest,
    InviteRequest,
    MessageRequest,
    bound,
    create_request,
    display_name,
    invite_request,
    message_request,
    personal_room,
    room_name,
)

__all__ = ["NOT_RELAYED", "ChatNamespace", "Connection"]

logger = logging.getLogger("roomkit")

NOT_RELAYED = (
    "delivered to this server's members; the other servers could not be reached "
    "in time and may not have it"
)


@dataclass(slots=True)
class Connection:
    """What this process knows about one of its own ``/chat`` connections.

    ``rooms`` mirrors the connection's chat rooms locally, so the hot path
    (``message``) checks membership without asking the store, and so a store
    that lost its state (a Redis restart) can be refilled from the servers.
    ``changing_rooms`` serialises the connection's joins, creations and leaves:
    each awaits the store between its checks and its change, so concurrent
    ones would otherwise all pass the rooms-per-connection check.
    ``address`` is the client's address, whose room creations are limited
    together. ``bucket`` (its own rate), ``address_bucket`` (shared with every
    connection from ``address``) and ``refusals`` (answers to its refused
    events) are None when the rate limit is off.
    """

    sid: str
    name: str
    bucket: TokenBucket | None
    address: str = ""
    address_bucket: TokenBucket | None = None
    refusals: TokenBucket | None = None
    rooms: set[str] = field(default_factory=set)
    changing_rooms: asyncio.Lock = field(default_factory=asyncio.Lock)

    def member(self, node: str) -> Member:
        return Member(self.sid, self.name, node)


class ChatNamespace(EventNamespace):
    """The chat protocol on one namespace.

    :param store: where rooms and members live.
    :param limits: input limits and the rate limit.
    :param namespace: the namespace's name. Default ``"/chat"``.
    :param load: presence budget and room creations per address. Default:
        :class:`~roomkit.settings.LoadLimits` defaults.
    """

    def __init__(
        self,
        store: RoomStore,
        limits: Limits,
        namespace: str = "/chat",
        load: LoadLimits | None = None,
    ) -> None:
        super().__init__(namespace)
        self.store = store
        self.limits = limits
        self.load = load = load or LoadLimits()
        self.presence = Presence(
            self.emit,
            self._recipients,
            fanout_per_second=load.presence_fanout_per_second,
            interval=load.presence_interval,
        )
        # Rooms are a shared resource (max_rooms_total): each client address
        # gets a bucket of room creations, so one address fills the quota slowly.
        self.room_creations = AddressBuckets(
            load.room_creations_per_minute / 60, load.room_creation_burst
        )
        self.connections: dict[str, Connection] = {}
        self.messages_relayed = 0
        # One bucket per client address, shared by its connections: opening
        # more connections does not multiply the rate limit.
        self.address_buckets = SharedBuckets(limits.address_rate_per_second, limits.address_burst)
        self.refusal_log.interval = limits.log_interval
        self.use(self._name_from_auth)
        # The protocol in one table: each event's handler, argument count, schema
        # (checked before the handler runs) and whether it spends rate-limit tokens.
        # Every event spends tokens: leaving too, or a flood of it would be
        # answered for free.
        room = bound(room_name, limits)
        self.events.update(
            {
                "join room": EventSpec(self._join, schema=room, rate_limited=True),
                "leave room": EventSpec(self._leave, schema=room, rate_limited=True),
                "message": EventSpec(
                    self._message, schema=bound(message_request, limits), rate_limited=True
                ),
                "create room": EventSpec(
                    self._create, schema=bound(create_request, limits), rate_limited=True
                ),
                "invite": EventSpec(
                    self._invite, schema=bound(invite_request, limits), rate_limited=True
                ),
                "list rooms": EventSpec(self._list_rooms, arity=0, rate_limited=True),
                "members": EventSpec(self._members, schema=room, rate_limited=True),
            }
        )

    # -- connection life cycle -------------------------------------------------

    def _name_from_auth(self, handshake: Handshake) -> None:
        """Middleware: take the display name from ``auth.name`` (or invent one)."""
        if "name" in handshake.data:  # a signed token already proved a name
            return
        raw = handshake.auth.get("name")
        if raw is None:
            handshake.data["name"] = f"guest-{handshake.sid[:6]}"
            return
        try:
            handshake.data["name"] = display_name(raw, self.limits)
        except ProtocolError as problem:
            raise Refused(f"invalid auth.name: {problem}") from None

    async def on_accept(self, sid: str, handshake: Handshake) -> None:
        name: str = handshake.data["name"]
        connection = Connection(sid, name, None, address=handshake.remote_address)
        limits = self.limits
        if limits.rate_limit:
            connection.bucket = TokenBucket(limits.rate_per_second, limits.rate_burst)
            connection.address_bucket = self.address_buckets.acquire(connection.address)
            connection.refusals = TokenBucket(limits.refusal_rate_per_second, limits.refusal_burst)
        self.connections[sid] = connection
        await self.enter_room(sid, personal_room(name))

    async def on_disconnect(self, sid: str, reason: str = "") -> None:
        connection = self.connections.pop(sid, None)
        if connection is None:
            return
        if connection.address_bucket is not None:
            self.address_buckets.release(connection.address)
        try:
            await self.store.forget(sid)
        except StoreUnavailable:  # the store drops it itself once Redis is back
            logger.warning("disconnect %s: room store unavailable", sid)
        for room in sorted(connection.rooms):
            await self.presence.left(room, sid)
        logger.info("disconnect %s on %s (%s)", sid, self.namespace, reason or "?")

    def _recipients(self, room: str, sid: str) -> int:
        """How many connections of this server other than ``sid`` are in
        ``room``: what a presence event about ``sid`` costs."""
        members = self.server.manager.rooms.get(self.namespace, {}).get(room, {})
        return len(members) - (sid in members)

    # -- dispatch ----------------------------------------------------------------

    async def admit_event(self, sid: str, spec: EventSpec | None) -> None:
        connection = self._connection(sid)
        limited = spec is None or spec.rate_limited  # undeclared events count too
        if not limited or connection.bucket is None:
            return
        if not connection.bucket.take() or (
            connection.address_bucket is not None and not connection.address_bucket.take()
        ):
            raise ProtocolError("rate limit exceeded: slow down")

    def admit_refusal(self, sid: str) -> bool:
        connection = self.connections.get(sid)
        return connection is None or connection.refusals is None or connection.refusals.take()

    def _connection(self, sid: str) -> Connection:
        connection = self.connections.get(sid)
        if connection is None:
            raise ProtocolError("not connected")
        return connection

    # -- events ------------------------------------------------------------------

    def _check_not_a_connection(self, name: str) -> None:
        # python-socketio keeps each connection alone in a room named after its
        # sid and refuses anyone else entry; refuse before the store records a
        # member. (Sids of other servers of a cluster are not known here; see
        # docs/security.md.)
        if self.server.manager.is_sid_room(self.namespace, name):
            raise ProtocolError(f"room name {name!r} is taken by a connection")

    async def _check_room_budget(self, connection: Connection) -> None:
        if len(connection.rooms) >= self.limits.max_rooms_per_socket:
            raise ProtocolError(
                f"you are in too many rooms (limit {self.limits.max_rooms_per_socket}); "
                "leave one first"
            )

    async def _check_rooms_total(self, connection: Connection, name: str) -> None:
        """Refuse creating room ``name`` (when it does not exist) past the
        server's room quota or the address's rate of room creations."""
        if await self.store.get_room(name) is not None:
            return
        if await self.store.room_count() >= self.limits.max_rooms_total:
            raise ProtocolError("the server has too many rooms; join an existing one")
        if not self.room_creations.take(connection.address):
            raise ProtocolError(
                "too many new rooms from your address "
                f"(limit {self.load.room_creations_per_minute:g} a minute); "
                "join an existing one or wait"
            )

    async def _enter(self, connection: Connection, room: str) -> None:
        connection.rooms.add(room)
        await self.enter_room(connection.sid, room)
        await self.presence.joined(room, connection.sid)

    async def _still_connected(self, connection: Connection, room: str) -> None:
        """After the store added ``connection`` to ``room``: if it disconnected
        meanwhile, its disconnect has already cleaned the store, so take the
        late membership back out instead of leaving a ghost member."""
        if self.connections.get(connection.sid) is not connection:
            await self.store.leave(room, connection.sid)
            raise ProtocolError("not connected")

    async def _join(self, sid: str, name: str) -> Reply:
        connection = self._connection(sid)
        async with connection.changing_rooms:
            if name not in connection.rooms:
                self._check_not_a_connection(name)
                await self._check_room_budget(connection)
                await self._check_rooms_total(connection, name)
            result = await self.store.join(name, connection.member(self.store.node_id))
            if result is None:
                raise ProtocolError(f"room {name!r} is private: ask a member for an invite")
            if not result.already_member:
                await self._still_connected(connection, name)
                await self._enter(connection, name)
        return {"ok": True, "room": name, "members": result.members}

    async def _leave(self, sid: str, name: str) -> Reply:
        connection = self._connection(sid)
        async with connection.changing_rooms:
            if name not in connection.rooms:
                raise ProtocolError(f"you are not in room {name!r}")
            connection.rooms.discard(name)
            await self.leave_room(connection.sid, name)
            await self.presence.left(name, connection.sid)
            try:
                await self.store.leave(name, connection.sid)
            except StoreUnavailable:
                # The connection has left and the room was told; the store
                # rebuilds this node's entries from `rooms` once Redis is back.
                logger.warning("leave %s %r: room store unavailable", connection.sid, name)
        return {"ok": True, "room": name}

    async def _message(self, sid: str, request: MessageRequest) -> Reply:
        connection = self._connection(sid)
        if request.room not in connection.rooms:
            raise ProtocolError(f"join room {request.room!r} before sending to it")
        payload = {
            "user": connection.sid,
            "name": connection.name,
            "room": request.room,
            "text": request.text,
        }
        await self.emit("message", payload, room=request.room, skip_sid=connection.sid)
        self.messages_relayed += 1
        if relay_failed():  # Redis is down or slow: say so rather than ack a lie
            return {"ok": True, "relayed": False, "warning": NOT_RELAYED}
        return {"ok": True}

    async def _create(self, sid: str, request: CreateRequest) -> Reply:
        connection = self._connection(sid)
        async with connection.changing_rooms:
            self._check_not_a_connection(request.name)
            await self._check_room_budget(connection)
            await self._check_rooms_total(connection, request.name)
            room = Room(
                name=request.name,
                topic=request.topic,
                created_by=connection.name,
                private=request.private,
            )
            result = await self.store.create_room(room, connection.member(self.store.node_id))
            if result is None:
                raise ProtocolError(f"room {request.name!r} already exists")
            await self._still_connected(connection, request.name)
            await self._enter(connection, request.name)
        return {"ok": True, "room": room.to_json()}

    async def _invite(self, sid: str, request: InviteRequest) -> Reply:
        connection = self._connection(sid)
        if request.room not in connection.rooms:
            raise ProtocolError(f"join room {request.room!r} before inviting to it")
        room = await self.store.invite(request.room, request.name)
        if room is None:
            raise ProtocolError(f"no such room: {request.room!r}")
        await self.emit(
            "invited",
            {"room": request.room, "by": connection.name},
            room=personal_room(request.name),
        )
        return {"ok": True, "room": request.room, "name": request.name}

    async def _visible_room(self, connection: Connection, name: str) -> Room:
        """The room, if it exists and ``connection`` may see it."""
        room = await self.store.get_room(name)
        # A private room the asker is not in looks exactly like a missing one.
        if room is None or (room.private and name not in connection.rooms):
            raise ProtocolError(f"no such room: {name!r}")
        return room

    async def _list_rooms(self, sid: str) -> Reply:
        connection = self._connection(sid)
        rooms = [
            summary.to_json()
            for summary in await self.store.list_rooms()
            if not summary.room.private or summary.room.name in connection.rooms
        ]
        return {"ok": True, "rooms": rooms}

    async def _members(self, sid: str, name: str) -> Reply:
        connection = self._connection(sid)
        await self._visible_room(connection, name)
        members = [member.to_json() for member in await self.store.members(name)]
        return {"ok": True, "room": name, "members": members}

    def snapshot(self) -> Mapping[str, int]:
        """Counters for the admin metrics."""
        return {"connections": len(self.connections), "messages": self.messages_relayed}

    def local_members(self) -> list[tuple[str, Member]]:
        """``(room, member)`` for each chat room of each connection of this server:
        what a shared store writes back after Redis lost its state."""
        node = self.store.node_id
        return [
            (room, connection.member(node))
            for connection in self.connections.values()
            for room in sorted(connection.rooms)
        ]

    async def members_gone(self, gone: list[tuple[str, str]]) -> None:
        """Tell each room of ``(room, sid)`` in ``gone`` that ``sid`` left: those
        connections vanished with a server that stopped heartbeating."""
        for room, sid in gone:
            await self.presence.left(room, sid)
