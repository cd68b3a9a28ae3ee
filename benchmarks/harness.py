"""The coordinator's side of a measurement: one room, its receivers, one sender, bursts.

A :class:`Room` spreads its receivers over load-generator processes
(:class:`~benchmarks.loadgen.Worker`) and keeps the sender in this process.
:meth:`Room.burst` sends ``messages`` messages, waits (with a deadline) until
every receiver counted all of them, and returns the delivery rate, the
latencies when asked, and the CPU share of every process involved.
"""

from __future__ import annotations

import asyncio
import logging
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import psutil

from benchmarks.loadgen import Worker
from benchmarks.raw_client import RawClient
from benchmarks.servers import ServerProcess, cpu_seconds
from benchmarks.tally import Tally
from benchmarks.wire import burst_text

__all__ = ["BurstResult", "Room", "median", "percentile"]

logger = logging.getLogger("benchmarks")

_MACHINE = "machine"

ROOM = "bench"
TEXT_PADDING = 40  # a message text of about 80 characters, a typical chat line


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` (0..1) percentile of ``values`` (nearest rank); NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return float(ordered[rank])


def median(values: Sequence[float]) -> float:
    """The median of ``values`` ignoring NaN; NaN when nothing is left."""
    kept = [value for value in values if not math.isnan(value)]
    return float(statistics.median(kept)) if kept else math.nan


@dataclass
class BurstResult:
    """What one burst measured.

    :param messages: messages the sender sent.
    :param expected: deliveries expected (messages x receivers).
    :param delivered: deliveries counted before the deadline.
    :param seconds: from the first send to the last delivery.
    :param timed_out: whether some receiver was still missing messages at the deadline.
    :param cpu: CPU share (1.0 = one core busy) of each process over the burst.
    :param latencies_us: every delivery's latency, in µs (latency bursts only).
    :param counted_in_bulk: deliveries counted in bulk, then confirmed by parsing
        (see :mod:`benchmarks.tally`).
    """

    messages: int
    expected: int
    delivered: int
    seconds: float
    timed_out: bool
    cpu: dict[str, float]
    latencies_us: list[int] = field(default_factory=list, repr=False)
    counted_in_bulk: int = 0

    @property
    def rate(self) -> float:
        """Delivered messages per second."""
        return self.delivered / self.seconds if self.seconds > 0 else math.nan

    def summary(self) -> dict[str, Any]:
        """The JSON-ready numbers (latencies reduced to percentiles)."""
        out: dict[str, Any] = {
            "messages": self.messages,
            "expected": self.expected,
            "delivered": self.delivered,
            "seconds": round(self.seconds, 4),
            "rate": round(self.rate, 1),
            "timed_out": self.timed_out,
            "counted_in_bulk": self.counted_in_bulk,
            "cpu": {name: round(share, 3) for name, share in self.cpu.items()},
        }
        if self.latencies_us:
            out["p50_ms"] = round(percentile(self.latencies_us, 0.50) / 1000, 3)
            out["p99_ms"] = round(percentile(self.latencies_us, 0.99) / 1000, 3)
            out["max_ms"] = round(max(self.latencies_us) / 1000, 3)
        return out


class _CpuMeter:
    """CPU seconds of named processes over a burst, and of everything else the
    machine ran meanwhile (``"others"``)."""

    def __init__(self, owner: Room) -> None:
        self.owner = owner
        self.me = psutil.Process()  # the coordinator, where the sender runs
        self.before: dict[str, float] = {}
        self.started = 0.0

    def _now(self) -> dict[str, float]:
        readings = {f"server:{s.kind.name}:{s.port}": s.cpu_seconds() for s in self.owner.servers}
        readings.update({f"loadgen:{w.name}": w.cpu_seconds() for w in self.owner.workers})
        readings["loadgen:sender"] = cpu_seconds(self.me)
        machine = psutil.cpu_times()
        # Steal too: on a shared virtual machine, time the neighbours took is
        # what slows a run. Interrupt time is left out: loopback traffic is ours.
        readings[_MACHINE] = machine.user + machine.nice + machine.system + machine.steal
        return readings

    def start(self) -> None:
        self.before = self._now()
        self.started = time.monotonic()

    def shares(self, seconds: float, at_done: dict[str, float]) -> dict[str, float]:
        """Each process's CPU over the burst's ``seconds`` (1.0: a core busy), and
        the others' over the whole measurement.

        :param at_done: CPU seconds that load-generator processes read themselves
            when their receivers had everything, before parsing what they kept:
            that parsing is not part of the burst.
        """
        wall = max(time.monotonic() - self.started, 1e-9)
        after = self._now()
        used = {name: after[name] - self.before.get(name, 0.0) for name in after}
        machine = used.pop(_MACHINE)
        others = max(0.0, machine - sum(used.values())) / wall
        used.update({name: at_done[name] - self.before[name] for name in at_done})
        span = seconds if seconds > 0 else wall  # nothing delivered: the whole wait
        shares = {name: cpu / span for name, cpu in used.items()}
        shares["others"] = others
        return shares


class Room:
    """One room on one or more servers, filled with receivers, and its senders.

    Build it with :meth:`open`; close it with :meth:`close`.

    :param servers: the servers, whose CPU is reported.
    :param workers: the load-generator processes holding the receivers.
    :param senders: the connections that send the messages, in turn: one on the
        first server, or one on each.
    :param receivers: how many receivers joined.
    """

    def __init__(
        self,
        servers: Sequence[ServerProcess],
        workers: Sequence[Worker],
        session: aiohttp.ClientSession,
        senders: Sequence[RawClient],
        receivers: int,
        room: str,
    ) -> None:
        self.servers = list(servers)
        self.workers = list(workers)
        self.session = session
        self.senders = list(senders)
        self.receivers = receivers
        self.room = room
        self._burst = 0
        # Set when a server dropped a sender (a saturated server can miss
        # its pongs for longer than ping_timeout): later bursts are not run.
        self.sender_lost: str | None = None

    @classmethod
    async def open(
        cls,
        servers: Sequence[ServerProcess],
        receivers: int,
        *,
        workers: int = 1,
        cpu: int | None = None,
        client_kind: str = "raw",
        worker_loop: str = "asyncio",
        join: bool = True,
        timeout: float = 90.0,
        label: str = "",
        room: str = ROOM,
        sender_on_each: bool = False,
    ) -> Room:
        """Connect ``receivers`` clients (split evenly over ``servers``) and a sender
        on the first server (or on each).

        :param workers: load-generator processes to spread the receivers over.
        :param cpu: the core the load generator is pinned to; None: anywhere.
        :param client_kind: ``frame``, ``raw`` or ``socketio`` (see :mod:`benchmarks.clients`).
        :param worker_loop: the load generator's event loop, ``asyncio`` or ``uvloop``.
        :param join: join the room; False leaves the clients idle in ``/chat``.
        :param timeout: seconds allowed for connecting everyone.
        :param label: prefix of the clients' names.
        :param room: the room's name. Default ``"bench"``.
        :param sender_on_each: a sender on every server, sending in turn (as users
            spread over servers by a load balancer would); each also receives the
            others' messages, which no figure counts. Default False: one sender,
            on the first server.
        :raises TimeoutError: when connecting takes longer than ``timeout``.
        """
        started = await asyncio.gather(
            *(
                Worker.start(f"{label}w{index}", cpu=cpu, loop=worker_loop)
                for index in range(workers)
            )
        )
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        senders = [
            RawClient(session, server.url, f"{label}sender{index}", Tally())
            for index, server in enumerate(servers if sender_on_each else servers[:1])
        ]
        opened = cls(servers, started, session, senders, receivers, room)
        try:
            urls = [server.url for server in servers]
            shares = [
                receivers // workers + (index < receivers % workers) for index in range(workers)
            ]
            await asyncio.gather(
                *(
                    worker.ask(
                        {
                            "cmd": "connect",
                            "urls": urls,
                            "count": share,
                            "kind": client_kind,
                            "room": room if join else None,
                            "prefix": f"{label}{worker.name}-",
                            "timeout": timeout,
                        },
                        timeout + 5.0,
                    )
                    for worker, share in zip(started, shares, strict=True)
                )
            )
            for sender in senders:
                await sender.connect(timeout=15.0)
                if join:
                    await sender.join(room, timeout=15.0)
        except BaseException:
            await opened.close()
            raise
        return opened

    async def burst(
        self,
        messages: int,
        *,
        rate: float | None = None,
        latency: bool = False,
        timeout: float = 60.0,
    ) -> BurstResult:
        """Send ``messages`` messages and wait until every receiver counted them.

        :param rate: messages per second to pace the sender at; None sends them
            back to back. Default None.
        :param latency: record each delivery's latency. Default False.
        :param timeout: seconds after the last send before giving up on stragglers.
        """
        if self.sender_lost is not None:
            return BurstResult(messages, 0, 0, 0.0, True, {})
        self._burst += 1
        burst = self._burst
        await asyncio.gather(
            *(
                worker.ask(
                    {
                        "cmd": "arm",
                        "burst": burst,
                        "messages": messages,
                        "latency": latency,
                        "timeout": timeout + (messages / rate if rate else 0.0),
                        # The least a message's text can be: one-digit seq and time.
                        "text_bytes": len(burst_text(burst, 0, 0, TEXT_PADDING)),
                        "senders": len(self.senders),
                    },
                    10.0,
                )
                for worker in self.workers
            )
        )
        meter = _CpuMeter(self)
        meter.start()
        started_ns = time.monotonic_ns()
        await self._send(burst, messages, rate)
        reports = await asyncio.gather(
            *(
                worker.read(timeout + 10.0 + (messages / rate if rate else 0.0))
                for worker in self.workers
            )
        )
        last_ns = max((report["last_ns"] for report in reports), default=started_ns)
        seconds = max(last_ns - started_ns, 0) / 1e9
        cpu = meter.shares(
            seconds,
            {
                f"loadgen:{worker.name}": report["cpu_seconds_at_done"]
                for worker, report in zip(self.workers, reports, strict=True)
            },
        )
        latencies: list[int] = []
        for report in reports:
            latencies.extend(report["latencies_us"])
        return BurstResult(
            messages=messages,
            expected=sum(report["expected"] for report in reports),
            delivered=sum(report["received"] for report in reports),
            seconds=seconds,
            timed_out=any(report["timed_out"] for report in reports),
            cpu=cpu,
            latencies_us=latencies,
            counted_in_bulk=sum(report["counted_in_bulk"] for report in reports),
        )

    async def _send(self, burst: int, messages: int, rate: float | None) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        for seq in range(messages):
            if rate:
                # A pacing timer for the open-loop sender, not synchronisation.
                delay = began + seq / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            text = burst_text(burst, seq, time.monotonic_ns(), TEXT_PADDING)
            try:
                await self.senders[seq % len(self.senders)].send_message(self.room, text)
            except ConnectionError as lost:
                # The receivers then time out on this burst; it counts as timed out.
                self.sender_lost = f"{type(lost).__name__}: {lost}"
                logger.warning("room %s: the server dropped the sender (%s)", self.room, lost)
                return

    async def close(self) -> None:
        """Disconnect everyone and stop the load-generator processes."""
        for sender in self.senders:
            await sender.close()
        await asyncio.gather(*(worker.stop() for worker in self.workers))
        await self.session.close()
