"""What every benchmark client shares: the :class:`Tally` its messages are
counted in, and the :class:`BenchClient` interface the load generator uses.

A throughput burst is also a :class:`BulkCount`: a client that can (the
``frame`` client, on a connection without compression) counts the burst's
messages by counting their marker in the bytes it receives, at C speed, and
keeps the bytes; :meth:`Tally.verify`, once the receivers have everything,
has every such client parse what it kept and check that what it counted is
every message of the burst, once each, in order. The load generator's CPU
per message then hardly grows with the messages, and the check still runs
on all of them, only after the burst (whose CPU time the load generator has
read by then).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["NAMESPACE", "BenchClient", "BulkCount", "BulkCounter", "Tally"]

NAMESPACE = "/chat"

# Problems quoted in a failed verification; the rest are only counted.
_QUOTED_PROBLEMS = 5


class BulkCounter(Protocol):
    """A connection that counts a burst in bulk (see :meth:`Tally.verify`).

    :param counted: the burst's messages it counted.
    :param found: how many of them parsing found so far.
    """

    counted: int
    found: int

    def parse_kept(self) -> None:
        """Parse the whole frames kept so far, answering pings and checking messages."""

    def settle(self) -> None:
        """Counting is over: parse what was kept and check it against the count."""


@dataclass(eq=False)
class BulkCount:
    """A throughput burst counted in bulk, and what checking it found.

    :param burst: the burst's number.
    :param marker: what every message of the burst holds once and nothing else
        the server sends holds: the start of its text's JSON string,
        ``:"bm:<burst>:`` (shorter than ``"text":"bm:...``, whose letters the
        messages' padding repeats, and so found twice as fast).
    :param messages: messages each connection receives.
    :param text_bytes: the length of the shortest text a message of the burst
        can have; 0 when not known (connections then wake on every byte).
    :param senders: the senders taking turns (message ``seq`` from sender
        ``seq % senders``): a connection receives each one's messages in order,
        theirs interleaved as it happens.
    """

    burst: int
    marker: bytes
    messages: int = 0
    text_bytes: int = 0
    senders: int = 1
    #: The connections counting it.
    counters: list[BulkCounter] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    #: Connections whose last counted message had not arrived whole when checked.
    waiting: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def problem(self, text: str) -> None:
        """Note that the count cannot be trusted, and why."""
        self.problem_count += 1
        if len(self.problems) < _QUOTED_PROBLEMS:
            self.problems.append(text)

    def wait_for(self) -> None:
        """One more connection must see a counted message arrive whole."""
        self.waiting += 1

    def done_waiting(self) -> None:
        """A connection's counted messages have all arrived whole."""
        self.waiting -= 1
        if self.waiting == 0:
            self.arrived.set()


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
    #: The throughput burst armed, while clients may count it in bulk; None once
    #: checked (and for latency bursts).
    counting: BulkCount | None = None
    #: Messages of the burst counted in bulk (the rest were parsed as they came).
    counted_in_bulk: int = 0

    def arm(
        self,
        burst: int,
        expected: int,
        keep_latency: bool,
        *,
        messages: int = 0,
        text_bytes: int = 0,
        senders: int = 1,
    ) -> None:
        """Start counting burst ``burst``, complete after ``expected`` messages.

        A throughput burst (not ``keep_latency``) may be counted in bulk.

        :param messages: messages each connection receives (for counting in bulk).
        :param text_bytes: the shortest text of the burst's messages; 0: not known.
        :param senders: the senders taking turns (see :class:`BulkCount`).
        """
        self.burst, self.expected, self.keep_latency = burst, expected, keep_latency
        self.received, self.last_ns, self.counted_in_bulk = 0, 0, 0
        self.latencies_us = []
        self.complete = asyncio.Event()
        self.counting = None
        if not keep_latency:
            marker = f':"bm:{burst}:'.encode()
            self.counting = BulkCount(burst, marker, messages, text_bytes, senders)
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

    def add(self, count: int) -> None:
        """``count`` messages of the armed burst, counted in bulk as they arrived."""
        self.counted_in_bulk += count
        self.received += count
        self.last_ns = time.monotonic_ns()
        if self.received >= self.expected:
            self.complete.set()

    def parse_kept(self) -> None:
        """Have every connection counting in bulk parse what it kept so far."""
        if self.counting is not None:
            for counter in self.counting.counters:
                counter.parse_kept()

    async def verify(self, timeout: float, *, timed_out: bool = False) -> str | None:
        """Stop counting in bulk and check what was counted; None when it all holds.

        Every connection that counted the burst in bulk parses the bytes it kept
        (answering pings and acks as usual) and checks that the messages it
        counted are the burst's, each once, in order; a message counted as its
        first bytes came in is waited for until it arrived whole.

        :param timeout: seconds to wait for such messages.
        :param timed_out: the burst ended at its deadline, incomplete: a message
            that never arrived whole is then not counted, rather than a failure.
        :returns: what went wrong, for the failure report; None when nothing did.
        """
        bulk, self.counting = self.counting, None
        if bulk is None:
            return None
        for counter in bulk.counters:
            counter.settle()
        if self.received > self.expected:
            bulk.problem(f"{self.received} messages counted, {self.expected} expected")
        if bulk.waiting:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(bulk.arrived.wait(), timeout)
        if bulk.waiting:
            missing = sum(max(0, c.counted - c.found) for c in bulk.counters)
            if timed_out:
                self.received -= missing
                self.counted_in_bulk -= missing
            else:
                bulk.problem(f"{missing} counted message(s) never arrived whole")
        if not bulk.problem_count:
            return None
        quoted = "; ".join(bulk.problems)
        return f"burst {bulk.burst} failed its check ({bulk.problem_count} problems): {quoted}"


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
