"""Publishing a server's messages on a Redis channel: in order, many per round
trip, each answered within a deadline, with a bounded queue.

A chat server publishes every message a client sends to a room, and a burst of
them arrives at once (each event is handled in its own task). One sender task
writes everything that piled up during the previous round trip as one batch of
``PUBLISH`` commands on one connection, so the messages reach Redis, and the
other servers, in the order they were published, and a burst costs a round
trip per batch instead of one per message.

Each message's publisher learns within ``timeout`` seconds whether Redis took
it: one timer per batch (not one per message) answers "no" to everyone still
waiting when it fires. A message that timed out may still go out later (it is
already queued or on the wire); the answer "no" means "the other servers may
not have it".
"""

from __future__ import annotations

import asyncio
from collections import deque

from redis.exceptions import RedisError

from roomkit.errors import RelayBacklogFull
from roomkit.logthrottle import FailureReport
from roomkit.redis_client import TIMED_OUT, cancel_and_wait, deadline
from roomkit.redis_wire import WireConnection, bulk_string

__all__ = ["MAX_BATCH", "Publisher"]

# Messages per round trip: bounds one write's size when a burst piled up.
MAX_BATCH = 500


class _Batch:
    """Messages that go out in one round trip, and who waits for which."""

    __slots__ = ("commands", "outcomes", "timer")

    def __init__(self) -> None:
        self.commands: list[bytes] = []
        self.outcomes: list[asyncio.Future[bool]] = []
        self.timer: asyncio.TimerHandle | None = None

    def outcome(self, timeout: float) -> asyncio.Future[bool]:
        """A future for the last message added: whether it went out, known
        within ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        if self.timer is None:
            # Starts with the first waiting publisher: nobody waits longer.
            self.timer = loop.call_later(timeout, self.settle, False)
        outcome: asyncio.Future[bool] = loop.create_future()
        self.outcomes.append(outcome)
        return outcome

    def settle(self, published: bool) -> None:
        if self.timer is not None:
            self.timer.cancel()
        for outcome in self.outcomes:
            if not outcome.done():
                outcome.set_result(published)


class Publisher:
    """Publishes messages on one Redis channel through one connection.

    :param url: ``redis://``, ``rediss://`` or ``unix://`` URL of the Redis.
    :param channel: the pub/sub channel.
    :param timeout: seconds a publisher waits to learn whether Redis took its
        message, and seconds one round trip (connecting included) may take.
    :param max_queued: messages that may wait to be sent; past it
        :meth:`publish` answers False at once (Redis slow or gone), so memory
        stays bounded.
    :param failures: where failed round trips and refused messages are counted
        and logged.
    """

    def __init__(
        self,
        url: str,
        channel: str,
        *,
        timeout: float,
        max_queued: int,
        failures: FailureReport,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.max_queued = max_queued
        self.failures = failures
        # Every command is PUBLISH channel <message>: the first two parts are shared.
        self._prefix = b"*3\r\n" + bulk_string(b"PUBLISH") + bulk_string(channel.encode())
        self._waiting: deque[_Batch] = deque()
        self._queued = 0
        self._sender: asyncio.Task[None] | None = None
        self._connection: WireConnection | None = None

    @property
    def queued(self) -> int:
        """Messages waiting to be sent (not those of the round trip under way)."""
        return self._queued

    async def publish(self, message: bytes) -> bool:
        """Publish ``message``; True once Redis took it, False when it may not
        have (the queue is full, Redis failed or did not answer in time)."""
        batch = self._enqueue(message)
        return False if batch is None else await batch.outcome(self.timeout)

    def publish_nowait(self, message: bytes) -> bool:
        """Queue ``message`` for publishing and return at once: False when the
        queue is full. Whoever calls this does not learn whether it went out;
        failures are counted and logged all the same."""
        return self._enqueue(message) is not None

    def _enqueue(self, message: bytes) -> _Batch | None:
        if self._queued >= self.max_queued:
            self.failures.failed(RelayBacklogFull(f"{self.max_queued} messages wait"))
            return None
        batch = self._waiting[-1] if self._waiting else None
        if batch is None or len(batch.commands) >= MAX_BATCH:
            batch = _Batch()
            self._waiting.append(batch)
        batch.commands.append(self._prefix + bulk_string(message))
        self._queued += 1
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_waiting(), name="redis publisher")
        return batch

    async def _send_waiting(self) -> None:
        # One sender at a time keeps the messages in order; what piles up
        # during a round trip goes out together in the next.
        batch: _Batch | None = None
        try:
            while self._waiting:
                batch = self._waiting.popleft()
                self._queued -= len(batch.commands)
                batch.settle(await self._round_trip(batch.commands))
                batch = None
        finally:  # cancelled (the server stops): nobody waits in vain
            if batch is not None:
                batch.settle(False)

    async def _round_trip(self, commands: list[bytes]) -> bool:
        try:
            async with deadline(self.timeout):
                connection = await self._connected()
                connection.write(b"".join(commands))
                await _read_replies(connection, len(commands))
        except (RedisError, OSError, *TIMED_OUT) as problem:
            # The connection's state is unknown (replies may still come): the
            # next round trip starts on a new one.
            self.failures.failed(problem)
            await self._disconnect()
            return False
        return True

    async def _connected(self) -> WireConnection:
        if self._connection is not None and not self._connection.usable:
            await self._disconnect()  # Redis restarted or closed it while idle
        if self._connection is None:
            self._connection = await WireConnection.open(self.url, timeout=self.timeout)
        return self._connection

    async def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    async def close(self) -> None:
        """Stop sending, answer False to everyone waiting, close the connection."""
        if self._sender is not None:
            await cancel_and_wait(self._sender)
        for batch in self._waiting:
            batch.settle(False)
        self._waiting.clear()
        self._queued = 0
        await self._disconnect()


async def _read_replies(connection: WireConnection, count: int) -> None:
    """Read ``count`` replies; raise the first error reply after reading them all
    (so the connection stays in step with the commands sent)."""
    error: RedisError | None = None
    while count:
        for reply in await connection.read():
            count -= 1
            if isinstance(reply, RedisError) and error is None:
                error = reply
    if error is not None:
        raise error
