"""This server as a node of a roomkit cluster in Redis: liveness and recovery.

:class:`RedisNode` owns the connection and everything that keeps this node's
part of the shared state right, as described in :mod:`roomkit.stores.redis`:
it heartbeats, sweeps the members of nodes whose heartbeat expired, refuses
changes while Redis may evict keys, and reconciles (writes this node's local
memberships back) when Redis lost them. Every call is bounded in time and a
failing one raises :class:`~roomkit.errors.StoreUnavailable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable
from typing import Any, cast
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.exceptions import RedisError

from roomkit.errors import StoreMisconfigured, StoreUnavailable, WaitTimeout
from roomkit.logthrottle import FailureReport
from roomkit.redis_client import TIMED_OUT, cancel_and_wait, deadline, redis_client
from roomkit.settings import DEFAULT_NODE_TTL
from roomkit.stores.base import LocalPresence, Member, Room
from roomkit.stores.redis.scripts import LOST, SCRIPTS

__all__ = ["RedisNode", "member_entry", "redacted"]

logger = logging.getLogger("roomkit")

# Errors that mean "Redis cannot answer this right now": unreachable, too slow,
# read-only, and also every error reply (OOM when full, EXECABORT, BUSY, ...),
# which the client must hear about instead of waiting forever.
UNAVAILABLE = (RedisError, OSError, *TIMED_OUT)
# The only maxmemory-policy under which Redis never deletes roomkit's keys.
SAFE_POLICY = "noeviction"
FIRST_RETRY = 0.1


def redacted(url: str) -> str:
    """``url`` without its password (in the user part or the query), for logs
    and error messages."""
    parts = urlsplit(url)
    if parts.password is not None:
        host = parts.netloc.rpartition("@")[2]
        url = url.replace(parts.netloc, f"{parts.username or ''}:***@{host}", 1)
    if parts.query:
        query = "&".join(
            "password=***" if part.split("=", 1)[0].lower() == "password" else part
            for part in parts.query.split("&")
        )
        url = url.partition("?")[0] + "?" + query + (f"#{parts.fragment}" if parts.fragment else "")
    return url


def member_entry(member: Member) -> str:
    """The value of ``member`` in a room's members hash; the scripts read its node."""
    return json.dumps({"name": member.name, "node": member.node})


class RedisNode:
    """This server as a node of the cluster in Redis: its connection, heartbeat
    and recovery. :class:`~roomkit.stores.redis.store.RedisStore` adds the rooms.

    :param url: ``redis://[:password@]host:port/db``, ``rediss://...`` or
        ``unix:///path?db=0``.
    :param node_id: this server's id, unique in the cluster.
    :param node_ttl: seconds within which the members of a server that stopped
        heartbeating are removed. Default :data:`roomkit.settings.DEFAULT_NODE_TTL`.
    :param prefix: first part of every key, to share one Redis database
        between clusters. Default ``"roomkit"``.
    :param timeout: seconds one call may take in all (waiting for this node's
        lock and for a pooled connection included) before it raises
        :class:`~roomkit.errors.StoreUnavailable`. Default 2.
    :param max_connections: connections to Redis this store may open; more
        concurrent calls wait for one. Default 4.
    """

    def __init__(
        self,
        url: str,
        *,
        node_id: str,
        node_ttl: float = DEFAULT_NODE_TTL,
        prefix: str = "roomkit",
        timeout: float = 2.0,
        max_connections: int = 4,
    ) -> None:
        if not node_id:
            raise ValueError(f"{type(self).__name__} needs a node_id that is unique in the cluster")
        if node_ttl <= 0:
            raise ValueError(f"node_ttl must be positive, not {node_ttl}")
        self.url = url
        self.node_id = node_id
        self.node_ttl = node_ttl
        self.prefix = prefix
        self.tick = node_ttl / 5
        self.heartbeat_ms = max(1, math.ceil(node_ttl * 3 / 5 * 1000))
        self.timeout = timeout
        self.redis: Redis = redis_client(
            url, timeout=timeout, max_connections=max_connections, decode_responses=True
        )
        self.failures = FailureReport(f"room store calls to Redis at {redacted(url)}")
        self.recoveries = 0
        self.misconfigured: str | None = None
        self._presence: LocalPresence | None = None
        self._rooms_known: dict[str, Room] = {}
        # Changes by this node wait while it reconciles, so the snapshot of its
        # local connections and what Redis holds cannot drift apart meanwhile.
        self._changing = asyncio.Lock()
        self._recovered = asyncio.Condition()
        self._ticker: asyncio.Task[None] | None = None
        # A change failed half-way: the next heartbeat reconciles.
        self._unsure = False
        # Checked by the ticker as well as cancelling it: see cancel_and_wait.
        self._closing = asyncio.Event()
        self._scripts = {
            name: self.redis.register_script(source) for name, source in SCRIPTS.items()
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {redacted(self.url)} node={self.node_id}>"

    def attach(self, presence: LocalPresence) -> None:
        """Use ``presence`` to refill Redis from this server's connections and
        to announce members of dead servers. Without it this node restores
        nothing after Redis lost its state (enough for tests of the store)."""
        self._presence = presence

    # -- life cycle ----------------------------------------------------------------

    async def start(self) -> None:
        """Register this node, sweep dead ones and start heartbeating.

        :raises StoreUnavailable: when Redis cannot be reached.
        :raises StoreMisconfigured: when Redis may evict keys.
        """
        try:
            if await self.check_policy():
                raise StoreMisconfigured(str(self.misconfigured))
            async with self._changing:
                await self._reconcile()
            await self._sweep()
        except BaseException:
            await self.redis.aclose()  # close() will not be called
            raise
        self._ticker = asyncio.create_task(self._tick_forever(), name=f"roomkit-store-{self}")

    async def check_policy(self) -> str | None:
        """Ask Redis for its ``maxmemory-policy``; the heartbeat does it every tick.

        A policy that evicts keys would silently delete rooms, invite lists and
        memberships (a private room would come back public). While Redis has
        one, every change raises :class:`~roomkit.errors.StoreUnavailable`
        (reads go on); once it has ``noeviction`` again, this node reconciles.

        :returns: what is wrong, or None.
        """
        async with self._unavailable_as_error():
            memory = await self.redis.info("memory")
        policy = str(memory.get("maxmemory_policy", SAFE_POLICY))
        problem = None
        if policy != SAFE_POLICY:
            problem = (
                f"Redis at {redacted(self.url)} has maxmemory-policy {policy}, which evicts "
                f"keys; roomkit needs {SAFE_POLICY} (CONFIG SET maxmemory-policy {SAFE_POLICY})"
            )
        if problem != self.misconfigured:
            if problem:
                logger.error("store: %s; refusing changes until it is set back", problem)
            else:
                logger.warning("store: Redis has maxmemory-policy %s again", SAFE_POLICY)
                self._unsure = True  # keys may have been evicted meanwhile
        self.misconfigured = problem
        return problem

    async def close(self) -> None:
        """Stop heartbeating, remove this node's members and disconnect."""
        self._closing.set()
        if self._ticker is not None:
            await cancel_and_wait(self._ticker)
            self._ticker = None
        try:
            async with self._unavailable_as_error():
                await self._run("depart")
        except StoreUnavailable:
            logger.warning("store: Redis unreachable at shutdown; other nodes sweep this one")
        await self.redis.aclose()

    async def _tick_forever(self) -> None:
        retry = FIRST_RETRY
        failing = False
        while not self._closing.is_set():
            try:
                await self.check_policy()
                await self._heartbeat()
                await self._sweep()
            except (StoreUnavailable, RedisError) as problem:
                # Any Redis failure must not end the heartbeat: a node that stops
                # beating is swept from the cluster by the others.
                if not failing:
                    logger.warning("store: Redis failed (%s); retrying", problem)
                failing = True
                await self._pause(retry)
                retry = min(retry * 2, self.tick)
                continue
            if failing:
                logger.info("store: Redis reachable again")
            failing, retry = False, FIRST_RETRY
            await self._pause(self.tick)

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds`` (the heartbeat period, or a retry delay while Redis is
        down); return at once when the store closes."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    async def _heartbeat(self) -> None:
        async with self._unavailable_as_error():
            if await self._run("heartbeat", self.heartbeat_ms) != LOST and not self._unsure:
                return
        async with self._changing:
            await self._reconcile()

    async def _sweep(self) -> None:
        async with self._unavailable_as_error():
            flat = await self._run("sweep")
        gone = list(zip(flat[::2], flat[1::2], strict=True))
        if gone:
            logger.info("store: removed %d members of dead nodes", len(gone))
            if self._presence is not None:
                await self._presence.members_gone(gone)

    async def wait_recovered(self, after: int = 0, timeout: float = 5.0) -> int:
        """Wait until this node has reconciled more than ``after`` times.

        Start-up counts as the first reconciliation; each later one follows a
        loss of state in Redis. Record :attr:`recoveries` before a fault, then
        wait for it to grow.

        :param after: the count to exceed. Default 0.
        :param timeout: seconds to wait. Default 5.
        :returns: the new count.
        :raises WaitTimeout: when no reconciliation finished in time.
        """
        try:
            async with self._recovered:
                await asyncio.wait_for(
                    self._recovered.wait_for(lambda: self.recoveries > after), timeout
                )
        except asyncio.TimeoutError:
            raise WaitTimeout(f"{self} did not recover within {timeout:g} s") from None
        return self.recoveries

    # -- recovery ------------------------------------------------------------------

    async def _reconcile(self) -> None:
        """Make Redis hold exactly this node's local memberships (caller holds
        ``_changing``)."""
        local = self._presence.local_members() if self._presence is not None else []
        wanted = {(room, member.sid) for room, member in local}
        names = {room for room, _ in local}
        self._rooms_known = {n: r for n, r in self._rooms_known.items() if n in names}
        async with self._unavailable_as_error():
            room_args: list[Any] = []
            for name in sorted(names):
                room = self._rooms_known.get(name) or Room(name=name)
                room_args += [
                    name,
                    room.to_record(),
                    room.created_at,
                    json.dumps(sorted(room.invited)),
                ]
            await self._run("restore_rooms", self.heartbeat_ms, *room_args)
            held = await self._held_memberships()
            for name, sid in sorted(held - wanted):
                await self._run("leave", name, sid)
            member_args: list[str] = []
            for name, member in local:
                if (name, member.sid) not in held:
                    member_args += [member.sid, name, member_entry(member)]
            await self._run("restore_members", *member_args)
        self._unsure = False
        async with self._recovered:
            self.recoveries += 1
            self._recovered.notify_all()
        if self.recoveries > 1:
            logger.info("store: restored %d memberships in Redis", len(wanted))

    async def _held_memberships(self) -> set[tuple[str, str]]:
        sids = sorted(await self._strings(self.redis.smembers(self._key("node", self.node_id))))
        pipe = self.redis.pipeline(transaction=False)
        for sid in sids:
            pipe.smembers(self._key("sid", sid))
        rooms_per_sid = await pipe.execute()
        return {
            (room, sid) for sid, rooms in zip(sids, rooms_per_sid, strict=True) for room in rooms
        }

    def _remember(self, room: Room) -> Room:
        """Keep ``room`` (metadata and invites) to write back if Redis loses it."""
        self._rooms_known[room.name] = room
        return room

    # -- plumbing ------------------------------------------------------------------

    @staticmethod
    async def _strings(reply: Awaitable[set[Any]]) -> set[str]:
        # The client decodes replies (decode_responses=True); redis-py's types
        # cannot say so.
        return cast(set[str], await reply)

    def _key(self, kind: str, name: str) -> str:
        return f"{self.prefix}:{kind}:{name}"

    async def _run(self, script: str, *args: Any) -> Any:
        return await self._scripts[script](args=[self.prefix, self.node_id, *args])

    @contextlib.asynccontextmanager
    async def _unavailable_as_error(self) -> AsyncIterator[None]:
        # The deadline bounds the whole call: redis-py's socket timeout is per
        # reply and its retry doubles it, and waits for a pooled connection or
        # for this node's lock are not covered by it at all.
        try:
            async with deadline(self.timeout):
                yield
        except UNAVAILABLE as problem:
            self.failures.failed(problem)
            reason = str(problem) or f"no answer within {self.timeout:g} s"
            raise StoreUnavailable(f"Redis at {redacted(self.url)}: {reason}") from problem

    async def _change(self, script: str, *args: Any) -> Any:
        """Run a changing script; reconcile first when this node's state is gone."""
        try:
            async with self._unavailable_as_error(), self._changing:
                if self.misconfigured:
                    raise StoreUnavailable(self.misconfigured)
                result = await self._run(script, *args)
                if result == LOST:
                    await self._reconcile()
                    result = await self._run(script, *args)
                return result
        except StoreUnavailable:
            # The change may or may not have happened: reconcile when Redis is back.
            self._unsure = True
            raise
