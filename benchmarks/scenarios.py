"""The benchmark scenarios. Each returns a JSON-ready dict for the results file.

Servers are pinned to one core (``Config.server_cpu``) and the load generator
to the other (``Config.loadgen_cpu``). Where several servers are compared, they
all run at once, each with its own room of receivers, and their runs alternate
(A, B, C, B, C, A, ...) so that a slow moment of the machine hurts each of them
alike; every figure is the median of ``Config.runs`` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import shutil
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import BurstResult, Room, median
from benchmarks.servers import (
    SERVER_KINDS,
    ServerKind,
    ServerProcess,
    free_port,
)

__all__ = [
    "Config",
    "client_cost",
    "fanout",
    "memory",
    "scaleout",
]

logger = logging.getLogger("benchmarks")


def _default_cpus() -> tuple[int | None, int | None]:
    if (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        return None, None
    return 0, 1


@dataclass
class Config:
    """Sizes and limits of one benchmark invocation.

    :param sizes: receivers in the room for the fan-out and latency runs.
    :param runs: measured runs per figure (the median is reported).
    :param deliveries: deliveries per fan-out burst (messages = deliveries / N),
        unless ``burst_messages`` names the size.
    :param burst_messages: messages per burst for some sizes: N=200 gets 1,000
        (the issue's "room of 200, burst of 1,000").
    :param latency_load: deliveries per second while measuring latency.
    :param latency_seconds: how long the sender sends in a latency run.
    :param servers: names from :data:`~benchmarks.servers.SERVER_KINDS` to compare.
    :param workers: load-generator processes per room.
    :param memory_clients: idle connections for the memory figure.
    :param scaleout_receivers: receivers for the 1-vs-2-server runs.
    :param client_receivers: receivers per client kind in the client-cost runs.
    :param client_deliveries: deliveries per client-cost burst.
    :param profile_seconds: how long py-spy samples the server under load.
    :param class_size: submissions in the generated class that ``roomkit grade`` grades.
    :param sealing_size: submissions graded sealed and unsealed, for the cost of sealing.
    :param timeout: the longest any single wait may take, in seconds.
    :param log_dir: where server logs go.
    :param server_cpu: the server's core (None: not pinned).
    :param loadgen_cpu: the load generator's core (None: not pinned).
    """

    sizes: list[int] = field(default_factory=lambda: [100, 200, 500])
    runs: int = 3
    deliveries: int = 60_000
    burst_messages: dict[int, int] = field(default_factory=lambda: {200: 1000})
    latency_load: float = 5_000.0
    latency_seconds: float = 1.0
    servers: list[str] = field(default_factory=lambda: list(SERVER_KINDS))
    workers: int = 1
    memory_clients: int = 1000
    scaleout_receivers: int = 500
    client_receivers: int = 100
    client_deliveries: int = 30_000
    profile_seconds: float = 3.0
    class_size: int = 200
    sealing_size: int = 10
    timeout: float = 60.0
    log_dir: Path = field(default_factory=lambda: Path("/tmp/roomkit-bench-logs"))
    server_cpu: int | None = field(default_factory=lambda: _default_cpus()[0])
    loadgen_cpu: int | None = field(default_factory=lambda: _default_cpus()[1])

    def kinds(self) -> list[ServerKind]:
        """The servers to compare that this machine can run."""
        return [SERVER_KINDS[name] for name in self.servers if SERVER_KINDS[name].available()]

    def burst_timeout(self, deliveries: int) -> float:
        """Deadline for a burst: assumes at least 2,000 deliveries/s, capped by ``timeout``."""
        return min(self.timeout, 10.0 + deliveries / 2_000)


@contextlib.contextmanager
def _servers(
    kinds: Sequence[ServerKind], config: Config, redis_url: str | None = None
) -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    try:
        for kind in kinds:
            started.append(
                ServerProcess.start(
                    kind, cpu=config.server_cpu, log_dir=config.log_dir, redis_url=redis_url
                )
            )
        yield started
    finally:
        for server in started:
            server.stop()


@contextlib.asynccontextmanager
async def _rooms(
    servers: Sequence[Sequence[ServerProcess]],
    receivers: int,
    config: Config,
    *,
    client_kinds: Sequence[str],
    loadgen_cpu: int | None,
    join: bool = True,
) -> AsyncIterator[list[Room]]:
    rooms: list[Room] = []
    try:
        for index, (group, kind) in enumerate(zip(servers, client_kinds, strict=True)):
            rooms.append(
                await Room.open(
                    group,
                    receivers,
                    workers=config.workers,
                    cpu=loadgen_cpu,
                    client_kind=kind,
                    join=join,
                    timeout=config.timeout + receivers * 0.05,
                    label=f"r{index}",
                    room=f"bench-{index}",
                )
            )
        yield rooms
    finally:
        for room in rooms:
            await room.close()


def _rotation(count: int, run: int) -> list[int]:
    """Run ``run``'s order over ``count`` contenders: shifted by one each run."""
    return [(run + offset) % count for offset in range(count)]


def _loadgen_share(result: BurstResult) -> float:
    return sum(share for name, share in result.cpu.items() if name.startswith("loadgen:"))


def _server_share(result: BurstResult) -> float:
    return sum(share for name, share in result.cpu.items() if name.startswith("server:"))


def _server_us_per_delivery(result: BurstResult) -> float:
    if not result.delivered:
        return float("nan")
    return _server_share(result) * result.seconds / result.delivered * 1e6


def _worst_process_share(result: BurstResult) -> float:
    return max(
        (share for name, share in result.cpu.items() if name.startswith("loadgen:")), default=0.0
    )


async def _alternate(
    rooms: Sequence[Room], runs: int, messages: int, **burst: Any
) -> list[list[BurstResult]]:
    """``runs`` bursts of ``messages`` in every room, interleaved; results per room.

    :param burst: the other arguments of :meth:`Room.burst`.
    """
    results: list[list[BurstResult]] = [[] for _ in rooms]
    for run in range(runs):
        for index in _rotation(len(rooms), run):
            results[index].append(await rooms[index].burst(messages, **burst))
    return results


def _throughput_figures(results: Sequence[BurstResult]) -> dict[str, Any]:
    return {
        "rate": median([result.rate for result in results]),
        "server_cpu": median([_server_share(result) for result in results]),
        "server_us_per_delivery": median([_server_us_per_delivery(r) for r in results]),
        "loadgen_cpu": median([_loadgen_share(result) for result in results]),
        "loadgen_max_process_cpu": median([_worst_process_share(result) for result in results]),
        "timeouts": sum(result.timed_out for result in results),
        "runs": [result.summary() for result in results],
    }


def _latency_figures(results: Sequence[BurstResult]) -> dict[str, Any]:
    summaries = [result.summary() for result in results]
    return {
        "p50_ms": median([summary.get("p50_ms", float("nan")) for summary in summaries]),
        "p99_ms": median([summary.get("p99_ms", float("nan")) for summary in summaries]),
        "timeouts": sum(result.timed_out for result in results),
        "runs": summaries,
    }


async def client_cost(config: Config) -> dict[str, Any]:
    """Load-generator CPU per delivered message for each client kind; picks the cheapest.

    The receivers of every kind sit in rooms of the same server (node when
    present, the fastest server, so that the clients are busy), and their
    bursts alternate.
    """
    preferred = ["node", "bare-uvloop", "bare"]
    server_kind = next(SERVER_KINDS[name] for name in preferred if SERVER_KINDS[name].available())
    kinds = ["frame", "raw", "socketio"]
    receivers = config.client_receivers
    messages = max(5, config.client_deliveries // receivers)
    timeout = config.burst_timeout(config.client_deliveries)
    with _servers([server_kind], config) as (server,):
        async with _rooms(
            [[server]] * len(kinds),
            receivers,
            config,
            client_kinds=kinds,
            loadgen_cpu=config.loadgen_cpu,
        ) as rooms:
            for room in rooms:
                await room.burst(max(2, messages // 10), timeout=timeout)
            results = await _alternate(rooms, config.runs, messages, timeout=timeout)
    figures: dict[str, Any] = {}
    for kind, runs in zip(kinds, results, strict=True):
        cost = [
            _loadgen_share(result) * result.seconds / result.delivered * 1e6
            for result in runs
            if result.delivered
        ]
        figures[kind] = {
            "us_per_message": median(cost),
            "rate": median([result.rate for result in runs]),
            "loadgen_cpu": median([_loadgen_share(result) for result in runs]),
            "timeouts": sum(result.timed_out for result in runs),
        }
    measured = {kind: figure["us_per_message"] for kind, figure in figures.items()}
    # A burst shorter than the CPU clock's tick measures 0: keep the default then.
    chosen = "frame"
    if all(cost > 0 for cost in measured.values()):
        chosen = min(measured, key=lambda kind: measured[kind])
    return {
        "server": server_kind.name,
        "receivers": receivers,
        "messages": messages,
        "kinds": figures,
        "chosen": chosen,
    }


async def fanout(config: Config, client_kind: str) -> dict[str, Any]:
    """Fan-out throughput, then latency, for every server and room size.

    :returns: ``{"sizes": {N: {server: {"throughput": {...}, "latency": {...}}}}}``.
    """
    kinds = config.kinds()
    out: dict[str, Any] = {"servers": [kind.name for kind in kinds], "sizes": {}}
    for receivers in config.sizes:
        messages = config.burst_messages.get(
            receivers, max(10, round(config.deliveries / receivers))
        )
        latency_rate = config.latency_load / receivers
        latency_messages = max(5, round(latency_rate * config.latency_seconds))
        timeout = config.burst_timeout(messages * receivers)
        logger.info(
            "fan-out N=%d: %d messages a burst; latency at %.1f messages/s",
            receivers,
            messages,
            latency_rate,
        )
        with _servers(kinds, config) as servers:
            async with _rooms(
                [[server] for server in servers],
                receivers,
                config,
                client_kinds=[client_kind] * len(servers),
                loadgen_cpu=config.loadgen_cpu,
            ) as rooms:
                for room in rooms:  # warm-up, not counted: also drains the joins' traffic
                    await room.burst(max(5, messages // 5), timeout=timeout)
                throughput = await _alternate(rooms, config.runs, messages, timeout=timeout)
                latency = await _alternate(
                    rooms,
                    config.runs,
                    latency_messages,
                    rate=latency_rate,
                    latency=True,
                    timeout=timeout,
                )
        out["sizes"][str(receivers)] = {
            "messages": messages,
            "latency_messages_per_second": round(latency_rate, 3),
            "latency_messages": latency_messages,
            "servers": {
                kind.name: {
                    "throughput": _throughput_figures(throughput[index]),
                    "latency": _latency_figures(latency[index]),
                }
                for index, kind in enumerate(kinds)
            },
        }
    return out


async def memory(config: Config, client_kind: str) -> dict[str, Any]:
    """Server RSS with one idle connection, then with ``memory_clients`` more."""
    out: dict[str, Any] = {"clients": config.memory_clients, "servers": {}}
    for kind in config.kinds():
        with _servers([kind], config) as (server,):
            async with _rooms(
                [[server]],
                1,
                config,
                client_kinds=[client_kind],
                loadgen_cpu=config.loadgen_cpu,
                join=False,
            ):
                before = server.rss()
                async with _rooms(
                    [[server]],
                    config.memory_clients,
                    config,
                    client_kinds=[client_kind],
                    loadgen_cpu=config.loadgen_cpu,
                    join=False,
                ):
                    after = server.rss()
        added = config.memory_clients + 1  # the receivers and the second sender
        out["servers"][kind.name] = {
            "rss_before_mib": round(before / 2**20, 2),
            "rss_after_mib": round(after / 2**20, 2),
            "kib_per_connection": round((after - before) / added / 1024, 2),
        }
    return out


@contextlib.asynccontextmanager
async def _redis() -> AsyncIterator[str]:
    """A throwaway redis-server on a free loopback port; yields its URL."""
    if importlib.util.find_spec("roomkit.processes") is not None:
        from roomkit.processes import RedisProcess

        redis = RedisProcess()
        await redis.start()
        try:
            yield redis.url
        finally:
            await redis.stop()
        return
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *["redis-server", "--port", str(port), "--bind", "127.0.0.1"],
        *["--save", "", "--appendonly", "no"],
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10.0
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                if time.monotonic() > deadline or process.returncode is not None:
                    raise RuntimeError("redis-server did not start") from None
                await asyncio.sleep(0.05)  # polling a port, bounded by the deadline
                continue
            writer.close()
            break
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        if process.returncode is None:
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5.0)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()


async def scaleout(config: Config, client_kind: str) -> dict[str, Any]:
    """One vs two ``roomkit serve`` processes sharing rooms through Redis.

    Both setups run at once on the same Redis, in different rooms, and
    alternate. Server 1 is pinned to the server core and server 2 to the other;
    the load generator and Redis are left to the OS (with two cores there is no
    core to spare for them).
    """
    if shutil.which("redis-server") is None:
        return {"available": False, "reason": "redis-server is not installed"}
    if importlib.util.find_spec("roomkit.stores.redis") is None:
        return {"available": False, "reason": "roomkit.stores.redis does not exist yet"}
    receivers = config.scaleout_receivers
    messages = max(10, round(config.deliveries / receivers))
    timeout = config.burst_timeout(messages * receivers)
    kind = SERVER_KINDS["roomkit"]
    async with _redis() as redis_url:
        first = ServerProcess.start(
            kind, cpu=config.server_cpu, log_dir=config.log_dir, redis_url=redis_url
        )
        try:
            second = ServerProcess.start(
                kind, cpu=config.loadgen_cpu, log_dir=config.log_dir, redis_url=redis_url
            )
            try:
                async with _rooms(
                    [[first], [first, second]],
                    receivers,
                    config,
                    client_kinds=[client_kind] * 2,
                    loadgen_cpu=None,
                ) as rooms:
                    for room in rooms:
                        await room.burst(max(5, messages // 5), timeout=timeout)
                    results = await _alternate(rooms, config.runs, messages, timeout=timeout)
            finally:
                second.stop()
        finally:
            first.stop()
    one, two = (_throughput_figures(runs) for runs in results)
    return {
        "available": True,
        "receivers": receivers,
        "messages": messages,
        "one_server": one,
        "two_servers": two,
        "ratio": two["rate"] / one["rate"] if one["rate"] else float("nan"),
    }


def py_spy() -> str | None:
    """The py-spy executable next to this Python or on PATH, if any."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.exists():
        return str(beside)
    return shutil.which("py-spy")
