"""roomkit's Redis clients: bounded pools, short timeouts, and cancellation that sticks.

Shared by the room store (:mod:`roomkit.stores.redis`) and the pub/sub manager
(:mod:`roomkit.redis_manager`).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

if sys.version_info >= (3, 11):
    from asyncio import timeout as deadline
else:  # redis-py depends on async-timeout before Python 3.11.3
    from async_timeout import timeout as deadline

__all__ = [
    "TIMED_OUT",
    "cancel_and_wait",
    "deadline",
    "redis_client",
    "redis_client_options",
]


# What a call bounded by ``deadline`` raises when it runs out of time
# (``asyncio.TimeoutError`` is the built-in ``TimeoutError`` only from 3.11).
TIMED_OUT = (TimeoutError, asyncio.TimeoutError)

logger = logging.getLogger("roomkit")

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


def redis_client(
    url: str, *, timeout: float = 2.0, max_connections: int = 4, **options: Any
) -> Redis:
    """A Redis client on a pool of at most ``max_connections`` connections.

    redis-py's default pool opens a connection for every concurrent command
    and keeps them all: a burst of concurrent calls leaves that many
    connections open until Redis's ``maxclients`` refuses every server. This
    pool makes callers wait for a free connection instead, for at most
    ``timeout`` seconds (then redis-py raises its ``ConnectionError``).

    :param url: ``redis://``, ``rediss://`` or ``unix://`` URL.
    :param timeout: seconds for connecting, for each reply and for waiting for
        a free connection. Default 2.
    :param max_connections: the pool's size. Default 4.
    :param options: more keyword arguments for the connections (e.g.
        ``decode_responses=True``).
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        **redis_client_options(timeout),
        **options,
    )
    return Redis.from_pool(pool)
