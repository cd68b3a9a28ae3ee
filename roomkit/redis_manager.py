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
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import socketio
from aiohttp import web
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from roomkit.errors import WaitTimeout
from roomkit.fanout import DirectFanoutManager
from roomkit.transport import TransportOptions

__all__ = ["RedisManager", "cancel_and_wait", "redis_client_options"]

logger = logging.getLogger("roomkit")

FIRST_BACKOFF = 0.1
CANCEL_ATTEMPTS = 20
CANCEL_INTERVAL = 0.1


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait until it has finished.

    On Python 3.11, redis-py's ``asyncio.wait_for`` around socket I/O can lose
    a cancellation that arrives as the I/O completes, so the task runs on. The
    cancellation is therefore repeated every ``CANCEL_INTERVAL`` seconds, at
    most ``CANCEL_ATTEMPTS`` times; each wait ends as soon as the task does.

    :param task: the task to stop.
    :raises RuntimeError: when the task still runs after every attempt.
    """
    for _ in range(CANCEL_ATTEMPTS):
        if task.done():
            break
        task.cancel()
        await asyncio.wait({task}, timeout=CANCEL_INTERVAL)
    if not task.done():
        raise RuntimeError(f"{task.get_name()} ignored {CANCEL_ATTEMPTS} cancellations")
    if not task.cancelled() and task.exception() is not None:
        logger.error("%s failed", task.get_name(), exc_info=task.exception())


def redis_client_options(timeout: float = 2.0) -> dict[str, Any]:
    """Options for roomkit's Redis clients: fail within about ``timeout``
    seconds when Redis is gone instead of redis-py's default of ten retries.

    One retry is kept: it reconnects a pooled connection that a Redis restart
    closed, so the first command after a restart succeeds.

    :param timeout: seconds for connecting and for each reply. Default 2.
    """
    return {
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        "retry": Retry(ExponentialBackoff(cap=0.05, base=0.01), retries=1),
    }


# python-socketio's pub/sub manager hands every emit, local or received from
# Redis, to ``super().emit``; with DirectFanoutManager next in the MRO
# (RedisManager, AsyncRedisManager, AsyncPubSubManager, DirectFanoutManager,
# AsyncManager, ...) that local delivery is the direct one.
class RedisManager(socketio.AsyncRedisManager, DirectFanoutManager):  # type: ignore[misc]
    """``socketio.AsyncRedisManager`` with an observable, bounded listener,
    delivering to its own clients through :class:`~roomkit.fanout.DirectFanoutManager`.

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
        transport: TransportOptions | None = None,
    ) -> None:
        # mypy resolves super() to DirectFanoutManager (socketio is untyped);
        # at run time it is AsyncRedisManager, which takes these arguments.
        super().__init__(  # type: ignore[call-arg]
            url,  # type: ignore[arg-type]
            channel=channel,
            redis_options=redis_client_options(),
        )
        # After super().__init__ (whose chain gives DirectFanoutManager no
        # arguments); the server reads it later, in set_server.
        self.transport_options = transport or TransportOptions()
        self.max_backoff = max_backoff
        self.ready_timeout = ready_timeout
        self.subscriptions = 0
        self._subscribed = asyncio.Condition()

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
                await pubsub.aclose()  # type: ignore[no-untyped-call]
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
        listener = getattr(self, "thread", None)
        if listener is not None:
            await cancel_and_wait(listener)
        if self.redis is not None:
            await self.redis.aclose()
        self.connected = False
