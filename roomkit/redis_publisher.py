"""Publishing a server's messages on a Redis channel: in order, pipelined,
each answered within a deadline, with a bounded queue.

A chat server publishes every message a client sends to a room, and a burst of
them arrives at once (each event is handled in its own task, many in one turn
of the event loop). Messages go out on one connection, so they reach Redis,
and the other servers, in the order they were published, as batches of
``PUBLISH`` commands: a batch is written as soon as it holds
:data:`EAGER_BATCH` messages, and whatever is left at the end of the loop's
turn goes out then. Writing does not wait for the previous batch's replies:
Redis answers in order, and one reader matches its replies to the batches
written. So the other servers get the first messages of a burst while this
one is still handling the rest (waiting for each round trip would hold them
until the burst's turn of the loop had ended).

Each message's publisher learns within ``timeout`` seconds whether Redis took
it: one timer per batch (not one per message) answers "no" to everyone still
waiting when it fires. A message that timed out may still go out later (it is
already queued or on the wire); the answer "no" means "the other servers may
not have it".
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from redis.exceptions import RedisError

from roomkit.errors import RelayBacklogFull
from roomkit.logthrottle import FailureReport
from roomkit.redis_client import TIMED_OUT, cancel_and_wait, deadline
from roomkit.redis_wire import WireConnection, bulk_string

__all__ = ["EAGER_BATCH", "MAX_BATCH", "Publisher"]

# Messages per write: bounds one write's size when a burst piled up.
MAX_BATCH = 500
# A batch this full is written at once, without waiting for the loop's turn to end.
EAGER_BATCH = 64


class _Batch:
    """Messages that go out in one write, and who waits for which."""

    __slots__ = ("commands", "error", "outcomes", "replies_due", "size", "timer")

    def __init__(self) -> None:
        self.commands: list[bytes] = []
        self.size = 0  # messages in it (its commands are dropped once written)
        self.outcomes: list[asyncio.Future[bool]] = []
        self.timer: asyncio.TimerHandle | None = None
        self.replies_due = 0  # set when written
        self.error: RedisError | None = None  # the first error reply

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
        message, and seconds connecting, or waiting for Redis to answer
        anything while answers are due, may take.
    :param max_queued: messages that may be unanswered by Redis (waiting to be
        written, or written); past it :meth:`publish` answers False at once
        (Redis slow or gone), so memory stays bounded.
    :param failures: where failed writes, connections and refused messages are
        counted and logged.
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
        self._waiting: deque[_Batch] = deque()  # not written yet
        self._written: deque[_Batch] = deque()  # written, replies due, in order
        self._queued = 0
        self._worker: asyncio.Task[None] | None = None
        self._flush: asyncio.Handle | None = None
        self._connection: WireConnection | None = None

    @property
    def queued(self) -> int:
        """Messages Redis has not answered yet (waiting to be written, or written)."""
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
        if batch is None or batch.size >= MAX_BATCH:
            batch = _Batch()
            self._waiting.append(batch)
        batch.commands.append(self._prefix + bulk_string(message))
        batch.size += 1
        self._queued += 1
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name="redis publisher")
        if batch.size >= EAGER_BATCH:
            self._write_waiting()
        elif self._flush is None:
            self._flush = asyncio.get_running_loop().call_soon(self._flush_now)
        return batch

    def _flush_now(self) -> None:
        self._flush = None
        self._write_waiting()

    def _write_waiting(self) -> None:
        """Write every waiting batch, in order, if the connection is up (else
        the worker writes them once it is)."""
        connection = self._connection
        if connection is None or not connection.usable:
            return
        while self._waiting:
            batch = self._waiting.popleft()
            connection.write(b"".join(batch.commands))
            batch.replies_due, batch.commands = batch.size, []
            self._written.append(batch)

    async def _work(self) -> None:
        # The only reader of the connection: replies come in the order the
        # batches were written, so each settles when its last reply is in.
        try:
            while self._waiting or self._written:
                try:
                    async with deadline(self.timeout):
                        connection = await self._connected()
                        self._write_waiting()
                        if self._written:
                            self._take(await connection.read())
                except (RedisError, OSError, *TIMED_OUT) as problem:
                    # Replies may still come on this connection: its state is
                    # unknown, so the next write starts on a new one. What it
                    # could not connect for is answered too, not retried.
                    self.failures.failed(problem)
                    if self._connection is None:
                        self._settle_all(self._waiting, False)
                    self._settle_all(self._written, False)
                    await self._disconnect()
        finally:  # cancelled (the server stops): nobody waits in vain
            self._settle_all(self._written, False)

    def _take(self, replies: Any) -> None:
        for reply in replies:
            if not self._written:
                raise RedisError("Redis sent a reply to nothing that was sent")
            batch = self._written[0]
            if isinstance(reply, RedisError) and batch.error is None:
                batch.error = reply
            batch.replies_due -= 1
            if not batch.replies_due:
                self._written.popleft()
                self._queued -= batch.size
                if batch.error is not None:
                    self.failures.failed(batch.error)
                batch.settle(batch.error is None)

    def _settle_all(self, batches: deque[_Batch], published: bool) -> None:
        while batches:
            batch = batches.popleft()
            self._queued -= batch.size
            batch.settle(published)

    async def _connected(self) -> WireConnection:
        if self._connection is not None and not self._connection.usable:
            # Redis restarted or closed it: what was written there gets no reply.
            self._settle_all(self._written, False)
            await self._disconnect()
        if self._connection is None:
            self._connection = await WireConnection.open(self.url, timeout=self.timeout)
        return self._connection

    async def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    async def close(self) -> None:
        """Stop sending, answer False to everyone waiting, close the connection."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        if self._worker is not None:
            await cancel_and_wait(self._worker)
        self._settle_all(self._written, False)
        self._settle_all(self._waiting, False)
        await self._disconnect()
