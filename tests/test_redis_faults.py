"""Attacks and faults on the Redis side of a cluster, against real servers and
a real ``redis-server``: floods that used to grow the connection pools without
bound, a full Redis (OOM) and an evicting one, and acks while Redis is gone or
paused (docs/security.md, docs/scaling.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from raw_clients import RawChatClient, event_packet
from redis.asyncio import Redis
from serve_support import Served, rss_bytes, rss_peak, serving

from roomkit import Settings, create_app
from roomkit.app import SERVER_KEY, STORE_KEY
from roomkit.chat import NOT_RELAYED
from roomkit.errors import StoreMisconfigured
from roomkit.events import STORE_UNAVAILABLE
from roomkit.processes import RedisProcess, ServerProcessError
from roomkit.redis_manager import RedisManager
from roomkit.settings import Limits, LoadLimits
from roomkit.stores.redis import RedisStore
from roomkit.testing import RecordingClient, RunningServer, connect, free_port, start_server

pytestmark = pytest.mark.redis

POOL = 4  # LoadLimits.redis_max_connections in these tests (the default)
FLOODERS = 20
FLOOD = 40  # per flooder: the rate limit's burst, so nothing is refused


def settings(redis_url: str, **load: Any) -> Settings:
    # Every flooder here connects from 127.0.0.1; the per-address bucket would
    # turn them into one client, so it is as large as the flood.
    return Settings(
        admin_token="faults-admin-token",
        redis_url=redis_url,
        metrics_interval=0,
        limits=Limits(address_rate_per_second=FLOODERS * 20, address_burst=FLOODERS * FLOOD),
        load=LoadLimits(redis_max_connections=POOL, **load),
    )


@contextlib.asynccontextmanager
async def cluster_client(url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def chat_clients(url: str, count: int, prefix: str) -> AsyncIterator[list[RecordingClient]]:
    made = await asyncio.gather(*(connect(url, f"{prefix}{i}") for i in range(count)))
    try:
        yield list(made)
    finally:
        await asyncio.gather(*(client.disconnect() for client in made))


async def connection_count(redis: Redis) -> int:
    clients: list[Any] = await redis.client_list()
    return len(clients)


@pytest.fixture
async def server(redis_url: str) -> AsyncIterator[RunningServer]:
    running = await start_server(create_app(settings(redis_url)))
    yield running
    await running.stop()


async def test_floods_keep_redis_connections_at_a_fixed_number(redis_url: str) -> None:
    # Before: every concurrent publish or store read opened a pooled connection
    # that stayed open (4,448 after 10 s of 100 flooders, then maxclients).
    # Generous timeouts: 800 calls queue for 4 connections on a busy machine,
    # and this test is about connections, not about answering in time.
    app = create_app(settings(redis_url, redis_timeout=20, relay_timeout=20))
    async with (
        await start_server(app) as server,
        cluster_client(redis_url) as redis,
        chat_clients(server.url, FLOODERS, "flooder") as flooders,
    ):
        await asyncio.gather(*(client.call("join room", "flooded") for client in flooders))
        # Concurrent messages (published) and room listings (store reads).
        replies = await asyncio.gather(
            *(
                client.call(
                    "message" if n % 2 else "list rooms",
                    *([{"room": "flooded", "text": f"{n}"}] if n % 2 else []),
                    timeout=10,
                )
                for client in flooders
                for n in range(FLOOD)
            )
        )
        assert all(reply["ok"] for reply in replies), [r for r in replies if not r["ok"]][:3]
        # The store's pool, the publishing connection, the pub/sub listener,
        # and this test's own client.
        bound = POOL + 1 + 1 + 1
        assert await connection_count(redis) <= bound


# A flood against `roomkit serve` with Redis, as the attack was run: raw
# clients sending the rate limit's burst of messages and unknown events (whose
# `error` answers were published too) without waiting. Bounds written down in
# docs/security.md: Redis connections of the server at most 4 + 2, RSS
# growth at most 48 MiB (measured: 4 MiB for 100 flooders here; 202 connections
# without the bounded pools).
RAW_FLOODERS = 100
RSS_GROWTH_BOUND = 48 * 2**20


async def test_a_raw_flood_keeps_redis_connections_and_memory_bounded(redis_url: str) -> None:
    # Without the rate limit (all the flooders share one loopback address, whose
    # bucket would otherwise refuse most of the flood): every event is handled.
    async with (
        serving("--no-rate-limit", redis_url=redis_url, log_level="ERROR") as server,
        cluster_client(redis_url) as redis,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session,
    ):
        clients = [RawChatClient(session, server.url, f"raw{i}") for i in range(RAW_FLOODERS)]
        await asyncio.gather(*(client.open() for client in clients))
        await asyncio.gather(*(client.call("join room", "flood") for client in clients))
        assert server.pid is not None
        before = rss_bytes(server.pid)
        own = await connection_count(redis)
        async with rss_peak(server.pid) as peak:
            for client in clients:
                await client.send_raw(
                    *(
                        event_packet("/chat", "message", {"room": "flood", "text": f"{n}"})
                        for n in range(20)
                    ),
                    *(event_packet("/chat", "no such event", n) for n in range(19)),
                )
            # Answered in order: after the client's flood was read.
            await asyncio.gather(*(client.call("list rooms", timeout=30) for client in clients))
            during = await connection_count(redis)
        after = rss_bytes(server.pid)
        print(
            f"\nraw flood: Redis connections {own} -> {during}; RSS {before / 2**20:.0f} -> "
            f"peak {peak.peak / 2**20:.0f} -> after {after / 2**20:.0f} MiB"
        )
        # This test's client, and the server's store pool, its publishing
        # connection and its listener.
        assert during <= 1 + POOL + 1 + 1
        assert peak.peak - before <= RSS_GROWTH_BOUND
        await asyncio.gather(*(client.close() for client in clients))


async def test_answers_for_one_connection_are_not_published(
    redis_url: str, server: RunningServer
) -> None:
    # Before: an `error` event for a local sid went through Redis to every server.
    async with cluster_client(redis_url) as redis, chat_clients(server.url, 1, "noisy") as (noisy,):
        before = await publish_calls(redis)
        # As many as are answered back to back (beyond, refusals go unanswered).
        for n in range(Limits().refusal_burst):
            await noisy.emit("no such event", n)
        for _ in range(Limits().refusal_burst):
            await noisy.wait_for("error")
        await noisy.call("join room", "quiet")
        assert (await noisy.call("message", {"room": "quiet", "text": "one"}))["ok"]
        # The join's `user joined` (no other member: still published, other
        # servers may have members) and the message: nothing for the errors.
        assert await publish_calls(redis) - before == 2


async def publish_calls(redis: Redis) -> int:
    stats: dict[str, Any] = await redis.info("commandstats")
    return int(stats.get("cmdstat_publish", {}).get("calls", 0))


async def test_a_full_redis_gets_every_event_answered(
    redis_url: str, server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    # Before: redis-py's ResponseError (OOM) escaped the handlers: no answer, no log.
    async with cluster_client(redis_url) as redis, chat_clients(server.url, 1, "full") as (client,):
        assert (await client.call("join room", "lobby"))["ok"]
        await redis.config_set("maxmemory", 1)  # noeviction (the default): writes refused
        try:
            with caplog.at_level(logging.WARNING, logger="roomkit"):
                for event, argument in [
                    ("join room", "kitchen"),
                    ("create room", {"name": "attic"}),
                ]:
                    reply = await client.call(event, argument)
                    assert reply == {"ok": False, "error": STORE_UNAVAILABLE}, (event, reply)
                # Reads may or may not work on a full Redis; either way they are
                # answered.
                assert "ok" in await client.call("members", "lobby")
                assert "ok" in await client.call("list rooms")
            assert any("maxmemory" in record.getMessage() for record in caplog.records)
        finally:
            await redis.config_set("maxmemory", 0)
        assert (await client.call("join room", "kitchen"))["ok"]


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-ttl"])
async def test_an_evicting_redis_is_refused_at_start(redis_url: str, policy: str) -> None:
    # Evicted keys would make a private room joinable by anyone.
    async with cluster_client(redis_url) as redis:
        await redis.config_set("maxmemory-policy", policy)
        with pytest.raises(StoreMisconfigured, match=policy):
            await start_server(create_app(settings(redis_url)))
        assert not await redis.keys("roomkit:*")


async def test_redis_turning_evicting_stops_changes(redis_url: str, server: RunningServer) -> None:
    # Evicted keys would let a join recreate someone's private room as public.
    store = server.app[STORE_KEY]
    assert isinstance(store, RedisStore)
    async with (
        cluster_client(redis_url) as redis,
        chat_clients(server.url, 1, "evict") as (client,),
    ):
        assert (await client.call("create room", {"name": "secret", "private": True}))["ok"]
        await redis.config_set("maxmemory-policy", "allkeys-lru")
        assert "allkeys-lru" in str(await store.check_policy())  # what each heartbeat does
        refused = {"ok": False, "error": STORE_UNAVAILABLE}
        assert await client.call("join room", "elsewhere") == refused
        assert await client.call("create room", {"name": "attic"}) == refused
        assert (await client.call("members", "secret"))["ok"]  # reads go on
        await redis.config_set("maxmemory-policy", "noeviction")
        assert await store.check_policy() is None
        assert (await client.call("join room", "elsewhere"))["ok"]


async def test_roomkit_serve_refuses_an_evicting_redis(redis_process: RedisProcess) -> None:
    async with cluster_client(redis_process.url) as redis:
        await redis.config_set("maxmemory-policy", "allkeys-lru")
    server = Served(
        port=free_port(),
        admin_token="faults-admin-token",
        redis_url=redis_process.url,
        log_level="INFO",
        capture_stderr=True,
        stop_timeout=30,
    )
    with pytest.raises(ServerProcessError):  # it exits before it serves
        await server.start()
    output = server.output()
    assert server.process is not None
    assert server.process.returncode == 2, output[-2000:]
    assert "maxmemory-policy allkeys-lru" in output
    assert "Traceback" not in output


async def test_acks_say_when_a_message_was_not_relayed(redis_process: RedisProcess) -> None:
    # Before: {"ok": true} while Redis was gone (the other servers never got
    # it), and over 5 s for the ack while Redis was paused.
    load = {"relay_timeout": 0.5, "redis_timeout": 0.5}
    a = await start_server(create_app(settings(redis_process.url, **load)))
    b = await start_server(create_app(settings(redis_process.url, **load)))
    try:
        async with (
            chat_clients(a.url, 2, "on-a") as (sender, neighbour),
            chat_clients(b.url, 1, "on-b") as (remote,),
            chat_clients(a.url, 6, "joiner") as joiners,
        ):
            for client in (sender, neighbour, remote, *joiners):
                assert (await client.call("join room", "r"))["ok"]
            assert await sender.call("message", {"room": "r", "text": "fine"}) == {"ok": True}
            await remote.wait_for("message")

            os.kill(redis_process_pid(redis_process), signal.SIGSTOP)
            try:
                # Answered within the bound (the call's timeout), honestly.
                reply = await sender.call("message", {"room": "r", "text": "paused"}, timeout=3)
                assert reply == {"ok": True, "relayed": False, "warning": NOT_RELAYED}
                await neighbour.wait_for("message", where=lambda m: m["text"] == "paused")
                # Changes queue behind one another on a server's store lock (a
                # member joining again goes straight to the store): each is
                # still answered within redis_timeout, not after 6 x 2 socket
                # timeouts.
                replies = await asyncio.gather(
                    *(joiner.call("join room", "r", timeout=3) for joiner in joiners)
                )
                assert all(reply == {"ok": False, "error": STORE_UNAVAILABLE} for reply in replies)
            finally:
                os.kill(redis_process_pid(redis_process), signal.SIGCONT)

            await redis_process.stop()
            reply = await sender.call("message", {"room": "r", "text": "gone"}, timeout=3)
            assert reply == {"ok": True, "relayed": False, "warning": NOT_RELAYED}
            await neighbour.wait_for("message", where=lambda m: m["text"] == "gone")
            manager = a.app[SERVER_KEY].manager
            assert isinstance(manager, RedisManager)
            assert manager.publish_failures.failures >= 2
    finally:
        await a.stop()
        await b.stop()


def redis_process_pid(process: RedisProcess) -> int:
    pid = process.pid
    assert pid is not None, "redis-server is not running"
    return pid
