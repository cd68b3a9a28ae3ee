"""What every benchmark client shares: the :class:`Tally` its messages are
counted in, and the :class:`BenchClient` interface the load generator uses."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["NAMESPACE", "BenchClient", "Tally"]

NAMESPACE = "/chat"


@dataclass
class Tally:
    """Counts the messages of the burst in progress, for every client of a process.

    :param burst: the burst being counted; messages of other bursts are ignored.
    :param expected: messages after which :attr:`complete` is set.
    :param keep_latency: record each message's latency (send to receipt), in µs.
    """

    burst: int = -1
    expected: int = 0
    keep_latency: bool = False
    received: int = 0
    last_ns: int = 0
    latencies_us: list[int] = field(default_factory=list)
    complete: asyncio.Event = field(default_factory=asyncio.Event)

    def arm(self, burst: int, expected: int, keep_latency: bool) -> None:
        """Start counting burst ``burst``, complete after ``expected`` messages."""
        self.burst, self.expected, self.keep_latency = burst, expected, keep_latency
        self.received, self.last_ns = 0, 0
        self.latencies_us = []
        self.complete = asyncio.Event()
        if expected == 0:
            self.complete.set()

    def record(self, burst: int, sent_ns: int) -> None:
        """One benchmark message of ``burst``, sent at ``sent_ns`` (monotonic clock)."""
        if burst != self.burst:
            return
        now = time.monotonic_ns()
        self.received += 1
        self.last_ns = now
        if self.keep_latency:
            self.latencies_us.append((now - sent_ns) // 1000)
        if self.received >= self.expected:
            self.complete.set()


class BenchClient(Protocol):
    """What the load generator needs from a client."""

    async def connect(self, timeout: float) -> None:
        """Connect to ``/chat`` over websocket within ``timeout`` seconds."""

    async def join(self, room: str, timeout: float) -> None:
        """Join ``room``, waiting at most ``timeout`` seconds for the ack."""

    async def send_message(self, room: str, text: str) -> None:
        """Emit ``message`` ``{"room": room, "text": text}`` without asking for an ack."""

    async def close(self) -> None:
        """Disconnect (bounded in time; safe when not connected)."""
