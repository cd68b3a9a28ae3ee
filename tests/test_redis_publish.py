"""Publishing through Redis: a burst of emits from one server goes out in the
order it was made, in a few round trips instead of one per emit, without
waiting for the burst to be handled, and a stalled Redis gets a bounded queue."""

from __future__ import annotations

import asyncio
import json
import os
import signal

from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis_fixtures import listening_manager

from roomkit.processes import RedisProcess
from roomkit.redis_client import deadline
from roomkit.redis_manager import RedisManager
from roomkit.redis_publisher import EAGER_BATCH
from roomkit.relay import relay_failed, reset_relay

BURST = 200
QUEUE = 50


async def _reads(redis: Redis) -> int:
    # Redis counts the read events on its sockets: one per round trip a client makes.
    stats = await redis.info("stats")
    return int(stats["total_reads_processed"])


async def _next_data(pubsub: PubSub) -> object:
    """The ``data`` of the next message on the channel (subscribe confirmations skipped)."""
    async with deadline(5):
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
            if message is not None:
                return json.loads(message["data"])["data"]


async def test_a_burst_of_emits_is_published_in_order_in_few_round_trips(
    redis_url: str, manager: RedisManager
) -> None:
    observer = Redis.from_url(redis_url)
    pubsub = observer.pubsub()
    await pubsub.subscribe(manager.channel)
    try:
        await manager.emit("n", -1, namespace="/", room="r")  # opens the publishing connection
        assert await _next_data(pubsub) == [-1]
        before = await _reads(observer)
        await asyncio.gather(*(manager.emit("n", i, namespace="/", room="r") for i in range(BURST)))
        round_trips = await _reads(observer) - before - 1  # less this INFO
        assert [await _next_data(pubsub) for _ in range(BURST)] == [[i] for i in range(BURST)]
        # python-socketio publishes each emit in a round trip of its own.
        assert round_trips <= 10, f"{BURST} emits took {round_trips} round trips"
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
        await observer.aclose()


async def test_a_stalled_redis_gets_a_bounded_queue_and_honest_answers(
    redis_process: RedisProcess,
) -> None:
    pid = redis_process.pid
    assert pid is not None
    async with listening_manager(redis_process.url, relay_timeout=0.5, max_queued=QUEUE) as manager:

        async def relayed(i: int) -> bool:
            reset_relay()
            await manager.emit("n", i, namespace="/", room="r")
            return not relay_failed()

        assert await relayed(-1)  # opens the publishing connection
        os.kill(pid, signal.SIGSTOP)
        try:
            in_flight = asyncio.ensure_future(relayed(0))  # Redis never answers it
            # Two yields to the event loop (not waits for time): the sender takes
            # the first message, then the others run up to their wait for Redis.
            await asyncio.sleep(0)
            answers = asyncio.gather(*(relayed(i) for i in range(1, 2 * QUEUE)))
            await asyncio.sleep(0)
            assert manager.queued == QUEUE  # the rest were refused at once
            assert not any(await answers)
            assert not await in_flight
        finally:
            os.kill(pid, signal.SIGCONT)
        assert manager.publish_failures.failures >= QUEUE
        assert await relayed(10**6)  # Redis is back: publishing works again


async def test_a_burst_reaches_redis_while_its_turn_of_the_loop_still_runs(
    redis_url: str, manager: RedisManager
) -> None:
    # A plain (blocking) client: it reads while this test holds the event loop.
    watcher = SyncRedis.from_url(redis_url)
    pubsub = watcher.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(manager.channel)
    try:
        assert pubsub.get_message(timeout=5) is None  # the subscription's confirmation
        await manager.emit("n", -1, namespace="/", room="r")  # opens the publishing connection
        assert pubsub.get_message(timeout=5) is not None
        # From here on the event loop does not run: as in a burst of events
        # handled in one turn, which used to wait for the turn's end.
        for i in range(2 * EAGER_BATCH):
            assert manager.publisher.publish_nowait(b"m%d" % i)
        first = pubsub.get_message(timeout=5)
        assert first is not None, "nothing was published before the loop's turn ended"
        assert first["data"] == b"m0"
    finally:
        pubsub.close()
        watcher.close()
