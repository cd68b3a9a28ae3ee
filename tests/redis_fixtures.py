"""Fixtures for tests that need a real Redis.

``ROOMKIT_REDIS_URL`` (a database these tests may wipe) is used when set;
otherwise each test gets its own ``redis-server`` on a free loopback port, no
persistence, stopped at teardown. Tests that stop and restart Redis always
need the binary (``redis_process``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio
from redis.asyncio import Redis

from roomkit.processes import RedisProcess
from roomkit.redis_manager import RedisManager, start_listeners

__all__ = [
    "REDIS_URL_ENV",
    "listening_manager",
    "manager",
    "redis_process",
    "redis_url",
    "redis_url_for_test",
]

REDIS_URL_ENV = "ROOMKIT_REDIS_URL"


def _no_redis_server() -> bool:
    return shutil.which("redis-server") is None


@contextlib.asynccontextmanager
async def redis_url_for_test() -> AsyncIterator[str]:
    """An empty Redis database for one test: ``ROOMKIT_REDIS_URL`` flushed, or
    a fresh ``redis-server``. Skips the test when there is neither."""
    external = os.environ.get(REDIS_URL_ENV)
    if external:
        client = Redis.from_url(external)
        try:
            await client.flushdb()
        finally:
            await client.aclose()
        yield external
        return
    if _no_redis_server():
        pytest.skip(f"needs redis-server on PATH or {REDIS_URL_ENV}")
    async with RedisProcess() as process:
        yield process.url


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """URL of an empty Redis database owned by this test."""
    async with redis_url_for_test() as url:
        yield url


@pytest.fixture
async def redis_process() -> AsyncIterator[RedisProcess]:
    """A ``redis-server`` this test may stop and restart (needs the binary)."""
    if _no_redis_server():
        pytest.skip("needs a redis-server binary to stop and restart it")
    async with RedisProcess() as process:
        yield process


@contextlib.asynccontextmanager
async def listening_manager(url: str, **options: Any) -> AsyncIterator[RedisManager]:
    """A :class:`RedisManager` on a server of its own, subscribed, stopped at the end.

    :param options: :class:`RedisManager`'s keyword arguments.
    """
    manager = RedisManager(url, **options)
    sio = socketio.AsyncServer(client_manager=manager, async_mode="aiohttp")
    await start_listeners([sio], timeout=5)
    try:
        yield manager
    finally:
        await manager.stop()


@pytest.fixture
async def manager(redis_url: str) -> AsyncIterator[RedisManager]:
    """A subscribed :class:`RedisManager` with its defaults, on this test's Redis."""
    async with listening_manager(redis_url) as started:
        yield started
