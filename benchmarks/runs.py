"""How a scenario measures: its servers and rooms opened and closed, runs
interleaved between contenders, and runs reduced to figures.

Where several servers are compared, they all run at once, each with its own
room of receivers, and their runs alternate (A, B, C, B, C, A, ...) so that a
slow moment of the machine hurts each of them alike; every figure is the
median of ``Config.runs`` runs.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Sequence
from typing import Any

from benchmarks.config import Config
from benchmarks.harness import BurstResult, Room, median, percentile
from benchmarks.servers import ServerKind, ServerProcess

__all__ = [
    "alternate",
    "busiest_server_share",
    "latency_figures",
    "loadgen_share",
    "projected_ratio",
    "rooms_open",
    "servers_running",
    "throughput_figures",
]


@contextlib.asynccontextmanager
async def servers_running(
    kinds: Sequence[ServerKind], config: Config, redis_url: str | None = None
) -> AsyncIterator[list[ServerProcess]]:
    """Servers of ``kinds`` on ``Config.server_cpu``, started in order and
    stopped on leaving."""
    started: list[ServerProcess] = []
    try:
        for kind in kinds:
            started.append(
                await ServerProcess.start(
                    kind, cpu=config.server_cpu, log_dir=config.log_dir, redis_url=redis_url
                )
            )
        yield started
    finally:
        for server in started:
            await server.stop()


@contextlib.asynccontextmanager
async def rooms_open(
    servers: Sequence[Sequence[ServerProcess]],
    receivers: int,
    config: Config,
    *,
    client_kinds: Sequence[str],
    loadgen_cpu: int | None,
    join: bool = True,
    sender_on_each: Sequence[bool] = (),
) -> AsyncIterator[list[Room]]:
    rooms: list[Room] = []
    spread = list(sender_on_each) or [False] * len(servers)
    try:
        for index, (group, kind, each) in enumerate(
            zip(servers, client_kinds, spread, strict=True)
        ):
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
                    sender_on_each=each,
                )
            )
        yield rooms
    finally:
        for room in rooms:
            await room.close()


def _rotation(count: int, run: int) -> list[int]:
    """Run ``run``'s order over ``count`` contenders: shifted by one each run."""
    return [(run + offset) % count for offset in range(count)]


def loadgen_share(result: BurstResult) -> float:
    return sum(share for name, share in result.cpu.items() if name.startswith("loadgen:"))


def _server_share(result: BurstResult) -> float:
    return sum(share for name, share in result.cpu.items() if name.startswith("server:"))


def _us_per_delivery(result: BurstResult, share: float) -> float:
    """µs of CPU per delivered message for a CPU ``share`` over ``result``'s burst."""
    if not result.delivered:
        return float("nan")
    return share * result.seconds / result.delivered * 1e6


def _server_us_per_delivery(result: BurstResult) -> float:
    return _us_per_delivery(result, _server_share(result))


def busiest_server_share(result: BurstResult) -> float:
    """The CPU share (1.0: a core) of the busiest server over ``result``'s burst."""
    return max(
        (share for name, share in result.cpu.items() if name.startswith("server:")), default=0.0
    )


def _busiest_server_us_per_delivery(result: BurstResult) -> float:
    # With a core per server, the busiest one decides how fast the group delivers.
    return _us_per_delivery(result, busiest_server_share(result))


def _worst_process_share(result: BurstResult) -> float:
    return max(
        (share for name, share in result.cpu.items() if name.startswith("loadgen:")), default=0.0
    )


async def alternate(
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


def throughput_figures(results: Sequence[BurstResult]) -> dict[str, Any]:
    return {
        "rate": median([result.rate for result in results]),
        "server_cpu": median([_server_share(result) for result in results]),
        "server_us_per_delivery": median([_server_us_per_delivery(r) for r in results]),
        "busiest_server_us_per_delivery": median(
            [_busiest_server_us_per_delivery(r) for r in results]
        ),
        "loadgen_cpu": median([loadgen_share(result) for result in results]),
        "loadgen_max_process_cpu": median([_worst_process_share(result) for result in results]),
        "timeouts": sum(result.timed_out for result in results),
        "runs": [result.summary() for result in results],
    }


def projected_ratio(one: dict[str, Any], group: dict[str, Any]) -> float:
    """How many times one server's deliveries per second a group of servers would
    reach with a core each: the group is as fast as its busiest server (the
    sender's, which also reads and publishes every message). ``one`` and
    ``group`` are :func:`throughput_figures`; the result is a projection from
    CPU time, not a measurement.
    """
    busiest = group["busiest_server_us_per_delivery"]
    if not busiest or math.isnan(busiest):
        return float("nan")
    return float(one["server_us_per_delivery"] / busiest)


def latency_figures(results: Sequence[BurstResult]) -> dict[str, Any]:
    """Percentiles of every run's deliveries pooled: at N=100 one run's p99 is the
    tail of about 50 bursts, so a single late burst moved a median of per-run p99s."""
    summaries = [result.summary() for result in results]
    pooled = [latency for result in results for latency in result.latencies_us]

    def ms(fraction: float) -> float:
        return round(percentile(pooled, fraction) / 1000, 3) if pooled else float("nan")

    return {
        "p50_ms": ms(0.50),
        "p99_ms": ms(0.99),
        "deliveries": len(pooled),
        "timeouts": sum(result.timed_out for result in results),
        "runs": summaries,
    }
