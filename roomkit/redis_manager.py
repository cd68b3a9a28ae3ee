"""python-socketio's Redis manager, with a listener that says when it is subscribed.

``socketio.AsyncRedisManager`` relays every emit through a Redis pub/sub
channel so that each server delivers it to its own clients. Out of the box it
subscribes lazily (on the first client connection), reports nothing when the
subscription is (re)established, backs off up to 60 s after Redis comes back,
and its listening task outlives the server. :class:`RedisManager` keeps the
wire format and the publishing side and changes only the listening side:

* :meth:`RedisManager.lifetime` (an ``aiohttp`` cleanup context) starts the
  listener with the server, waits until Redis confirmed the subscription, and
  cancels the listener and closes its connections on shutdown;
* every confirmed (re)subscription bumps :attr:`RedisManager.subscriptions`,
  which :meth:`RedisManager.wait_subscribed` waits on, so a test or notebook
  can wait for "cross-server emits work again" instead of sleeping;
* after a lost connection it reconnects with a backoff capped at
  ``max_backoff`` seconds, each attempt on a fresh client that is closed when
  the attempt ends.

And on the publishing side:

* an emit addressed to one connection of this server (an ``error`` event, an
  ack-less answer) is delivered here and not published: the other servers
  have nothing to do with it;
* publishes go out in the order they were made, through one sender: every
  publish waiting when it is ready goes out in one pipeline (one round trip
  for a burst of emits, where python-socketio pays one per emit);
* a publish gets ``relay_timeout`` seconds, one attempt, and when it fails the
  handler learns it through :func:`roomkit.relay.relay_failed`, so an ack
  can say that the other servers may not have the message.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from typing import Any

import socketio
from aiohttp import web
from redis.asyncio import Redis
from redis.asyncio.client import Monitor
from redis.exceptions import RedisError

from roomkit.errors import RelayBacklogFull, WaitTimeout
from roomkit.fanout import DirectFanoutManager
from roomkit.logthrottle import FailureReport
from roomkit.redis_client import (
    TIMED_OUT,
    cancel_and_wait,
    deadline,
    redis_client,
    redis_client_options,
)
from roomkit.relay import mark_relay_failed
from roomkit.room_index import RoomIndexMixin
from roomkit.transport import TransportOptions

__all__ = [
    "RedisManager",
    "close_redis_manager",
    "start_listeners",
]

logger = logging.getLogger("roomkit")

FIRST_BACKOFF = 0.1
# Publishes per pipeline: bounds one round trip's size when a burst piled up.
MAX_BATCH = 500


# python-socketio's pub/sub manager hands every emit, local or received from
# Redis, to ``super().emit``; with DirectFanoutManager next in the MRO
# (RedisManager, RoomIndexMixin, AsyncRedisManager, AsyncPubSubManager,
# DirectFanoutManager, AsyncManager, ...) that local delivery is the direct one.
class RedisManager(RoomIndexMixin, socketio.AsyncRedisManager, DirectFanoutManager):  # type: ignore[misc]
    """``socketio.AsyncRedisManager`` with an observable, bounded listener,
    delivering to its own clients through :class:`~roomkit.fanout.DirectFanoutManager`,
    with the room index of :class:`~roomkit.room_index.RoomIndexMixin`.

    :param url: ``redis://``, ``rediss://`` or ``unix://`` URL of the Redis
        every server of the cluster uses.
    :param channel: the pub/sub channel; the same on every server. Default
        ``"socketio"`` (python-socketio's default, so its other managers and
        write-only emitters interoperate).
    :param max_backoff: longest wait, in seconds, between two reconnection
        attempts of the listener. Default 2.
    :param ready_timeout: seconds :meth:`lifetime` waits for the first
        subscription before serving anyway (the listener keeps trying).
        Default 5.
    :param max_connections: size of the publishing connection pool (publishes
        use one connection at a time). Default 4.
    :param relay_timeout: seconds one publish may take, waiting for a pooled
        connection included. Default 1.
    :param max_queued: messages that may wait to be published; past it (Redis
        slow or gone for longer than the queue lasts) a publish fails at once, so
        memory stays bounded. Default 10,000.
    :param transport: how this server's connections are written to (see
        :class:`~roomkit.fanout.DirectFanoutManager`). Default: the defaults.
    """

    def __init__(
        self,
        url: str,
        *,
        channel: str = "socketio",
        max_backoff: float = 2.0,
        ready_timeout: float = 5.0,
        max_connections: int = 4,
        relay_timeout: float = 1.0,
        max_queued: int = 10_000,
        transport: TransportOptions | None = None,
    ) -> None:
        # RoomIndexMixin passes these on to AsyncRedisManager.
        super().__init__(url, channel=channel, redis_options=redis_client_options())
        # After super().__init__ (whose chain gives DirectFanoutManager no
        # arguments); the server reads it later, in set_server.
        self.transport_options = transport or TransportOptions()
        self.max_backoff = max_backoff
        self.ready_timeout = ready_timeout
        self.max_connections = max_connections
        self.relay_timeout = relay_timeout
        self.max_queued = max_queued
        self.publish_failures = FailureReport("publishing to Redis")
        # Encoded messages waiting for the sender, each with its outcome.
        self._outgoing: list[tuple[str, asyncio.Future[bool]]] = []
        self._sender: asyncio.Task[None] | None = None
        self.subscriptions = 0
        self._subscribed = asyncio.Condition()

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str | None = None,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        """python-socketio's emit, except that an emit to one connection of this
        server is not published (the parameters are ``socketio.AsyncServer.emit``'s)."""
        room = to or room
        namespace = namespace or "/"
        if isinstance(room, str) and self.is_sid_room(namespace, room):
            kwargs["ignore_queue"] = True
        await super().emit(
            event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs
        )

    def _redis_connect(self) -> None:
        # AsyncRedisManager's hook that builds the publishing client: the same,
        # on a bounded pool (see redis_client).
        self.redis = redis_client(
            self.redis_url, timeout=self.relay_timeout, max_connections=self.max_connections
        )
        self.connected = True

    @property
    def queued(self) -> int:
        """Messages waiting to be published (not those in the round trip under way)."""
        return len(self._outgoing)

    async def _publish(self, data: Any) -> None:
        # Replaces AsyncRedisManager's two attempts of up to two socket timeouts
        # each. The handler waits at most relay_timeout for its message to be
        # published: redis-py's clean-up after a timed-out reply (closing the
        # connection, up to one more timeout) must not delay the answer. A
        # message still queued or in flight then may yet arrive: the ack says
        # the other servers "may not have it".
        if not self.connected:
            self._redis_connect()
        if len(self._outgoing) >= self.max_queued:
            self.publish_failures.failed(RelayBacklogFull(f"{self.max_queued} messages wait"))
            mark_relay_failed()
            return
        outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._outgoing.append((self.json.dumps(data), outcome))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_outgoing(), name="redis publisher")
        done, _ = await asyncio.wait({outcome}, timeout=self.relay_timeout)
        if not done or not outcome.result():
            mark_relay_failed()

    async def _send_outgoing(self) -> None:
        # One sender at a time keeps this server's publishes in order; what
        # piled up during a round trip goes out together in the next one.
        batch: list[tuple[str, asyncio.Future[bool]]] = []
        try:
            while self._outgoing:
                batch, self._outgoing = self._outgoing[:MAX_BATCH], self._outgoing[MAX_BATCH:]
                published = await self._publish_batch([message for message, _ in batch])
                _settle(batch, published)
                batch = []
        finally:  # cancelled (the server stops): nobody waits in vain
            _settle(batch, False)

    async def _publish_batch(self, messages: list[str]) -> bool:
        try:
            async with deadline(self.relay_timeout):
                pipeline = self.redis.pipeline(transaction=False)
                for message in messages:
                    pipeline.publish(self.channel, message)
                await pipeline.execute()
        except (RedisError, OSError, *TIMED_OUT) as problem:
            self.publish_failures.failed(problem)
            return False
        return True

    async def _listen(self) -> AsyncIterator[bytes]:
        # AsyncPubSubManager's hook for subclasses: yield each message published
        # on the channel. Replaces AsyncRedisManager's loop (see module doc).
        channel = self.channel.encode()
        backoff = FIRST_BACKOFF
        while True:
            client = Redis.from_url(self.redis_url, **self.redis_options)
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                async for message in pubsub.listen():
                    if message["type"] == "subscribe":
                        backoff = FIRST_BACKOFF
                        await self._count_subscription()
                    elif message["type"] == "message" and message["channel"] == channel:
                        yield message["data"]
            except (RedisError, OSError) as problem:
                logger.warning(
                    "pub/sub listener lost Redis (%s); retrying in %.1f s", problem, backoff
                )
            finally:
                # Typed from redis-py 8.2 on; untyped before (the range allows both).
                await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
                await client.aclose()
            await asyncio.sleep(backoff)  # paces reconnection attempts
            backoff = min(backoff * 2, self.max_backoff)

    async def _count_subscription(self) -> None:
        async with self._subscribed:
            self.subscriptions += 1
            self._subscribed.notify_all()
        if self.subscriptions > 1:
            logger.info("pub/sub listener subscribed again to %r", self.channel)

    async def wait_subscribed(self, after: int = 0, timeout: float = 5.0) -> int:
        """Wait until Redis has confirmed more than ``after`` subscriptions.

        Record :attr:`subscriptions` before a fault, then wait for it to grow to
        know the listener is back.

        :param after: the count to exceed. Default 0 (the first subscription).
        :param timeout: seconds to wait. Default 5.
        :returns: the new count.
        :raises WaitTimeout: when no new subscription was confirmed in time.
        """
        try:
            async with self._subscribed:
                await asyncio.wait_for(
                    self._subscribed.wait_for(lambda: self.subscriptions > after), timeout
                )
        except asyncio.TimeoutError:
            raise WaitTimeout(
                f"the pub/sub listener did not subscribe to {self.channel!r} within {timeout:g} s"
            ) from None
        return self.subscriptions

    async def lifetime(self, app: web.Application) -> AsyncIterator[None]:
        """``app.cleanup_ctx`` entry: listen from startup to shutdown.

        :param app: the application whose server uses this manager (unused:
            the manager already knows its server).
        """
        server = self.server
        if not server.manager_initialized:
            # python-socketio would start the listener on the first connection;
            # starting it now means a server is reachable from the cluster as
            # soon as it accepts clients.
            server.manager_initialized = True
            self.initialize()
        try:
            await self.wait_subscribed(timeout=self.ready_timeout)
        except WaitTimeout:
            logger.warning("serving before the pub/sub listener reached Redis; it keeps trying")
        yield
        await self.stop()

    async def stop(self) -> None:
        """Cancel the listener and close the publishing connection."""
        if self._sender is not None:
            await cancel_and_wait(self._sender)
        _settle(self._outgoing, False)
        self._outgoing = []
        await close_redis_manager(self)


def _settle(batch: list[tuple[str, asyncio.Future[bool]]], published: bool) -> None:
    for _, outcome in batch:
        if not outcome.done():
            outcome.set_result(published)


async def close_redis_manager(manager: socketio.AsyncRedisManager) -> None:
    """Cancel ``manager``'s listener and close its connections, the publishing one
    of a write-only manager too (python-socketio leaves them open after the
    server stops).

    :param manager: any python-socketio Redis manager, :class:`RedisManager` included.
    """
    listener = getattr(manager, "thread", None)
    if listener is not None:
        await cancel_and_wait(listener)
    pubsub = getattr(manager, "pubsub", None)
    if pubsub is not None:
        await pubsub.aclose()
    if manager.redis is not None:
        await manager.redis.aclose()
    manager.connected = False


def _listens_to_redis(sio: socketio.AsyncServer) -> bool:
    manager = sio.manager
    return isinstance(manager, socketio.AsyncRedisManager) and not manager.write_only


async def _subscriptions(monitor: Monitor, expected: Counter[str]) -> None:
    """Read Redis's MONITOR stream until it has shown ``expected`` SUBSCRIBEs per channel."""
    while +expected:  # unary plus keeps the positive counts
        words = (await monitor.next_command())["command"].split()
        if words and words[0].upper() == "SUBSCRIBE":
            expected.subtract(words[1:])


async def start_listeners(servers: Sequence[socketio.AsyncServer], timeout: float) -> None:
    """Start each server's Redis listener now; return once Redis has run every SUBSCRIBE.

    python-socketio starts the listener when the first client connects, and says
    nothing once it has subscribed; an emit published before then never reaches
    that server. Redis's MONITOR stream shows each SUBSCRIBE as Redis runs it, so
    waiting for them is waiting for an event, not for time.

    :param servers: fresh servers; those without a listening Redis manager are skipped.
    :param timeout: seconds to wait for every subscription.
    :raises WaitTimeout: when Redis did not see every subscription in time.
    """
    by_url: dict[str, list[socketio.AsyncServer]] = {}
    for sio in filter(_listens_to_redis, servers):
        if sio.manager_initialized:
            raise RuntimeError("start the Redis listeners before any client connects")
        by_url.setdefault(sio.manager.redis_url, []).append(sio)
    for url, group in by_url.items():
        client = Redis.from_url(url)
        try:
            async with client.monitor() as monitor:
                for sio in group:  # what python-socketio does on a first connection:
                    sio.manager_initialized = True
                    sio.manager.initialize()
                expected = Counter(sio.manager.channel for sio in group)
                try:
                    await asyncio.wait_for(_subscriptions(monitor, expected), timeout)
                except asyncio.TimeoutError:
                    raise WaitTimeout(
                        f"{sum(expected.values())} of {len(group)} Redis listeners did not "
                        f"subscribe within {timeout:g} s"
                    ) from None
        finally:
            await client.aclose()
