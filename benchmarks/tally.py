"""What every benchmark client shares: the :class:`Tally` its messages are
counted in, and the :class:`BenchClient` interface the load generator uses.

A throughput burst may be counted in bulk: a client that can (the ``frame``
client, on a connection without compression) only counts the burst's marker
in the bytes it receives, keeps them, and parses them once the burst is
complete, confirming each message it counted (:meth:`Tally.add`, then
:meth:`Tally.confirm`). The load generator's CPU per message then hardly
grows with the messages, so it is not what limits a fast server; the parse
afterwards proves that what was counted arrived, once each.
"""

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
    #: Messages counted in bulk, then confirmed by parsing (or found twice).
    bulk: int = 0
    confirmed: int = 0
    duplicates: int = 0
    all_confirmed: asyncio.Event = field(default_factory=asyncio.Event)

    def arm(self, burst: int, expected: int, keep_latency: bool) -> None:
        """Start counting burst ``burst``, complete after ``expected`` messages."""
        self.burst, self.expected, self.keep_latency = burst, expected, keep_latency
        self.received, self.last_ns = 0, 0
        self.bulk = self.confirmed = self.duplicates = 0
        self.latencies_us = []
        self.complete = asyncio.Event()
        self.all_confirmed = asyncio.Event()
        if expected == 0:
            self.complete.set()

    @property
    def counting_in_bulk(self) -> bool:
        """Whether clients may count this burst in bulk (a throughput burst)."""
        return self.burst >= 0 and not self.keep_latency

    @property
    def marker(self) -> bytes:
        """What every message of this burst holds once, and nothing else does."""
        return f'"text":"bm:{self.burst}:'.encode()

    def add(self, count: int) -> None:
        """``count`` messages of this burst counted in bulk, just received."""
        self.bulk += count
        self.received += count
        self.last_ns = time.monotonic_ns()
        if self.received >= self.expected:
            self.complete.set()

    def confirm(self, first_time: bool) -> None:
        """A message counted in bulk, found by parsing (``first_time``: not
        found before on its connection)."""
        if not first_time:
            self.duplicates += 1
            return
        self.confirmed += 1
        if self.confirmed >= self.bulk:
            self.all_confirmed.set()

    def bulk_problem(self) -> str | None:
        """Why this burst's bulk count cannot be trusted once parsing is done, or None."""
        if self.duplicates:
            return f"burst {self.burst}: {self.duplicates} messages arrived twice"
        if self.confirmed != self.bulk:
            return (
                f"burst {self.burst}: {self.bulk} messages counted in bulk, "
                f"{self.confirmed} found by parsing"
            )
        return None

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

    def settle(self) -> None:
        """After a burst: stop counting it in bulk and parse what was kept
        (nothing to do for a client that counts message by message)."""
