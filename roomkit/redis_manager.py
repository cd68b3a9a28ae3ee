"""python-socketio's Redis manager: an observable listener, a cheap relay.

``socketio.AsyncRedisManager`` relays every emit through a Redis pub/sub
channel so that each server delivers it to its own clients. Out of the box it
subscribes lazily (on the first client connection), reports nothing when the
subscription is (re)established, backs off up to 60 s after Redis comes back,
its listening task outlives the server, and redis-py costs it tens of
microseconds of Python per relayed message. :class:`RedisManager` keeps the
wire format (the messages on the channel) and changes the rest. Listening:

* :meth:`RedisManager.lifetime` (an ``aiohttp`` cleanup context) starts the
  listener with the server, waits until Redis confirmed the subscription, and
  cancels the listener and closes its connections on shutdown;
* every confirmed (re)subscription bumps :attr:`RedisManager.subscriptions`,
  which :meth:`RedisManager.wait_subscribed` waits on, so a test or notebook
  can wait for "cross-server emits work again" instead of sleeping;
* after a lost connection it reconnects with a backoff capped at
  ``max_backoff`` seconds, each attempt on a fresh connection that is closed
  when the attempt ends;
* it reads Redis itself (:mod:`roomkit.redis_wire`): replies parsed by hiredis,
  many per read, and this server's own emits, which Redis sends back to it
  like to every subscriber, dropped before they are decoded (they were
  delivered here when they were made);
* when Redis has sent nothing for ``idle_ping`` seconds it sends a ``PING``,
  and reconnects when that gets no answer either: a connection to a Redis that
  vanished without closing it is noticed.

And on the publishing side (:class:`~roomkit.redis_publisher.Publisher`):

* an emit addressed to one connection of this server (an ``error`` event, an
  ack-less answer) is delivered here and not published: the other servers
  have nothing to do with it;
* publishes go out in the order they were made, on one connection, as
  batches of ``PUBLISH`` commands written without waiting for the previous
  batch's replies (a few writes for a burst of emits, where python-socketio
  pays a round trip per emit), the first while the burst is still being
  handled;
* a handler whose sender asked for an ack learns within ``relay_timeout``
  seconds whether its publish went out, through
  :func:`roomkit.relay.relay_failed`, so the ack can say that the other servers
  may not have the message; any other emit is queued and the handler goes on
  (:func:`roomkit.relay.relay_awaited`).
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

from roomkit.errors import WaitTimeout
from roomkit.fanout import DirectFanoutManager
from roomkit.logthrottle import FailureReport
from roomkit.redis_client import TIMED_OUT, cancel_and_wait, deadline
from roomkit.redis_messages import decoded, own_emit_test, relay_message
from roomkit.redis_publisher import Publisher
from roomkit.redis_wire import WireConnection, encode_command
from roomkit.relay import mark_relay_failed, relay_awaited
from roomkit.room_index import RoomIndexMixin
from roomkit.transport import TransportOptions

__all__ = [
    "RedisManager",
    "close_redis_manager",
    "start_listeners",
]

logger = logging.getLogger("roomkit")

FIRST_BACKOFF = 0.1
# Seconds the listener gives Redis to accept a connection and set it up.
CONNECT_TIMEOUT = 2.0
PING = encode_command(b"PING")


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
    :param idle_ping: seconds without anything from Redis after which the
        listener sends a ``PING``; when that many more pass without an answer,
        it reconnects. Default 5.
    :param relay_timeout: seconds within which a publish is known to have gone
        out or not (connecting included). Default 1.
    :param max_queued: messages Redis may leave unanswered; past it (Redis
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
        idle_ping: float = 5.0,
        relay_timeout: float = 1.0,
        max_queued: int = 10_000,
        transport: TransportOptions | None = None,
    ) -> None:
        # RoomIndexMixin passes these on to AsyncRedisManager, whose redis-py
        # clients are never made (_publish and _listen are replaced).
        super().__init__(url, channel=channel)
        # After super().__init__ (whose chain gives DirectFanoutManager no
        # arguments); the server reads it later, in set_server.
        self.transport_options = transport or TransportOptions()
        self.max_backoff = max_backoff
        self.ready_timeout = ready_timeout
        self.idle_ping = idle_ping
        self.publish_failures = FailureReport("publishing to Redis")
        self.publisher = Publisher(
            url,
            channel,
            timeout=relay_timeout,
            max_queued=max_queued,
            failures=self.publish_failures,
        )
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
        """python-socketio's emit: delivered here, then published for the other
        servers (the parameters are ``socketio.AsyncServer.emit``'s).

        An emit to one connection of this server is not published. An emit
        without a callback or binary attachments is encoded once: the socket.io
        packet this server sends, and the message published, made from it.
        """
        room = to or room
        namespace = namespace or "/"
        if isinstance(room, str) and self.is_sid_room(namespace, room):
            kwargs["ignore_queue"] = True
        elif callback is None and not kwargs.get("ignore_queue"):
            encoded = self.encode_event(event, data, namespace)
            if encoded is not None:
                if namespace in self.rooms:
                    self.deliver(encoded, namespace, room, skip_sid)
                await self._publish_encoded(
                    relay_message(event, data, encoded, namespace, room, skip_sid, self.host_id)
                )
                return
        await super().emit(
            event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs
        )

    @property
    def queued(self) -> int:
        """Messages Redis has not answered yet (waiting to be written, or written)."""
        return self.publisher.queued

    async def _publish(self, data: Any) -> None:
        # AsyncPubSubManager's hook, replaced (with _listen, it is all that used
        # redis-py).
        await self._publish_encoded(self.json.dumps(data).encode())

    async def _publish_encoded(self, message: bytes) -> None:
        # A handler that answers an ack waits at most relay_timeout to learn
        # whether its message went out, and reads it through relay_failed.
        if not relay_awaited():
            self.publisher.publish_nowait(message)
        elif not await self.publisher.publish(message):
            mark_relay_failed()

    async def _listen(self) -> AsyncIterator[dict[str, Any] | bytes]:
        # AsyncPubSubManager's hook for subclasses: yield each message published
        # on the channel, decoded when it is JSON (python-socketio's loop takes
        # both; its own decoding builds a decoder per message). Replaces
        # AsyncRedisManager's loop (see module doc).
        channel = self.channel.encode()
        # Redis sends this server's emits back to it; python-socketio would
        # decode each only to drop it.
        is_own_emit = own_emit_test(self.host_id)
        backoff = FIRST_BACKOFF
        while True:
            connection: WireConnection | None = None
            try:
                connection = await WireConnection.open(self.redis_url, timeout=CONNECT_TIMEOUT)
                connection.write(encode_command(b"SUBSCRIBE", channel))
                async for reply in self._replies(connection):
                    if not isinstance(reply, list) or len(reply) != 3:
                        continue  # a PING's answer
                    kind, on, data = reply
                    if kind == b"message" and on == channel:
                        if not is_own_emit(data):
                            yield decoded(data)
                    elif kind == b"subscribe" and on == channel:
                        backoff = FIRST_BACKOFF
                        await self._count_subscription()
            except (RedisError, OSError) as problem:
                logger.warning(
                    "pub/sub listener lost Redis (%s); retrying in %.1f s", problem, backoff
                )
            finally:
                if connection is not None:
                    await connection.close()
            await asyncio.sleep(backoff)  # paces reconnection attempts
            backoff = min(backoff * 2, self.max_backoff)

    async def _replies(self, connection: WireConnection) -> AsyncIterator[Any]:
        """Every reply on the subscribed ``connection``, pinging Redis when it is quiet.

        :raises ConnectionError: when a ``PING`` got no answer within ``idle_ping`` s.
        """
        pinged = False
        while True:
            try:
                async with deadline(self.idle_ping):
                    replies = await connection.read()
            except TIMED_OUT:
                if pinged:
                    raise ConnectionError(
                        f"no answer to a PING within {self.idle_ping:g} s"
                    ) from None
                connection.write(PING)
                pinged = True
                continue
            pinged = False
            for reply in replies:
                yield reply

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
        await self.publisher.close()
        await close_redis_manager(self)


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
