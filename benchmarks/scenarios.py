"""The server benchmark scenarios. Each returns a JSON-ready dict for the results file.

Servers are pinned to one core (``Config.server_cpu``) and the load generator
to the other (``Config.loadgen_cpu``); :mod:`benchmarks.runs` says how runs
alternate between the servers compared.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from collections.abc import Sequence
from typing import Any

from benchmarks.config import Config
from benchmarks.cpu_quota import CpuQuota, quota_unavailable
from benchmarks.harness import BurstResult, median
from benchmarks.runs import (
    alternate,
    busiest_server_share,
    latency_figures,
    loadgen_share,
    projected_ratio,
    rooms_open,
    servers_running,
    throughput_figures,
)
from benchmarks.servers import SERVER_KINDS, ServerProcess
from roomkit.processes import RedisProcess

__all__ = ["client_cost", "fanout", "memory", "scaleout"]

logger = logging.getLogger("benchmarks")


async def client_cost(config: Config) -> dict[str, Any]:
    """Load-generator CPU per delivered message for each client kind; picks the cheapest.

    The receivers of every kind sit in rooms of the same server, the fastest
    (``roomkit serve``, whose coalesced writes keep the clients busiest), and
    their bursts alternate.
    """
    preferred = ["roomkit", "node", "bare-uvloop", "bare"]
    server_kind = next(SERVER_KINDS[name] for name in preferred if SERVER_KINDS[name].available())
    kinds = ["frame", "raw", "socketio"]
    receivers = config.client_receivers
    messages = max(5, config.client_deliveries // receivers)
    timeout = config.burst_timeout(config.client_deliveries)
    async with (
        servers_running([server_kind], config) as (server,),
        rooms_open(
            [[server]] * len(kinds),
            receivers,
            config,
            client_kinds=kinds,
            loadgen_cpu=config.loadgen_cpu,
        ) as rooms,
    ):
        for room in rooms:
            await room.burst(max(2, messages // 10), timeout=timeout)
        results = await alternate(rooms, config.runs, messages, timeout=timeout)
    figures: dict[str, Any] = {}
    for kind, runs in zip(kinds, results, strict=True):
        cost = [
            loadgen_share(result) * result.seconds / result.delivered * 1e6
            for result in runs
            if result.delivered
        ]
        figures[kind] = {
            "us_per_message": median(cost),
            "rate": median([result.rate for result in runs]),
            "loadgen_cpu": median([loadgen_share(result) for result in runs]),
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
        async with (
            servers_running(kinds, config) as servers,
            rooms_open(
                [[server] for server in servers],
                receivers,
                config,
                client_kinds=[client_kind] * len(servers),
                loadgen_cpu=config.loadgen_cpu,
            ) as rooms,
        ):
            for room in rooms:  # warm-up, not counted: also drains the joins' traffic
                await room.burst(max(5, messages // 5), timeout=timeout)
            throughput = await alternate(rooms, config.runs, messages, timeout=timeout)
            latency = await alternate(
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
                    "throughput": throughput_figures(throughput[index]),
                    "latency": latency_figures(latency[index]),
                }
                for index, kind in enumerate(kinds)
            },
        }
    return out


async def memory(config: Config, client_kind: str) -> dict[str, Any]:
    """Server RSS with one idle connection, then with ``memory_clients`` more."""
    out: dict[str, Any] = {"clients": config.memory_clients, "servers": {}}
    for kind in config.kinds():
        async with (
            servers_running([kind], config) as (server,),
            rooms_open(
                [[server]],
                1,
                config,
                client_kinds=[client_kind],
                loadgen_cpu=config.loadgen_cpu,
                join=False,
            ),
        ):
            before = server.rss()
            async with rooms_open(
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


async def scaleout(config: Config, client_kind: str) -> dict[str, Any]:
    """One vs two ``roomkit serve`` processes sharing rooms through Redis.

    Three setups: one server; two with the sender on the first; two with a
    sender on each, sending in turn. They run at once on the same Redis, in
    different rooms, and alternate. Server 1 is pinned to the server core and
    server 2 to the other; the load generator and Redis are left to the OS (with
    two cores there is no core to spare for them), so the ratio of two CPU
    readings projects what a core each would give. Then the same setups are
    measured with a CPU quota per server instead (:func:`_scaleout_capped`).
    """
    if shutil.which("redis-server") is None:
        return {"available": False, "reason": "redis-server is not installed"}
    receivers = config.scaleout_receivers
    messages = max(10, round(config.scaleout_deliveries / receivers))
    kind = SERVER_KINDS["roomkit"]
    # The projection divides CPU readings of setups measured at different
    # moments, so it moves more than any one reading: more runs for its medians.
    scaleout_runs = 2 * config.runs + 1
    async with RedisProcess() as redis:
        first = await ServerProcess.start(
            kind, cpu=config.server_cpu, log_dir=config.log_dir, redis_url=redis.url
        )
        try:
            second = await ServerProcess.start(
                kind, cpu=config.loadgen_cpu, log_dir=config.log_dir, redis_url=redis.url
            )
            try:
                results = await _three_setups(
                    (first, second), config, client_kind, receivers, messages, scaleout_runs
                )
            finally:
                await second.stop()
        finally:
            await first.stop()
    one, two, spread = (throughput_figures(runs) for runs in results)
    capped = await _scaleout_capped(config, client_kind, receivers, messages, scaleout_runs)
    return {
        "available": True,
        "receivers": receivers,
        "messages": messages,
        "runs": scaleout_runs,
        "one_server": one,
        "two_servers": two,
        "two_servers_spread": spread,
        "ratio": two["rate"] / one["rate"] if one["rate"] else float("nan"),
        "projected_ratio": projected_ratio(one, two),
        "spread_ratio": spread["rate"] / one["rate"] if one["rate"] else float("nan"),
        "spread_projected_ratio": projected_ratio(one, spread),
        "capped": capped,
    }


async def _scaleout_capped(
    config: Config, client_kind: str, receivers: int, messages: int, runs: int
) -> dict[str, Any]:
    """The same three setups, measured with a core's worth for each server.

    Each server is held to ``Config.scaleout_core_share`` of a core by a CPU
    quota (:mod:`benchmarks.cpu_quota`) and left unpinned, so that two of them,
    the load generator and Redis fit this machine's cores: the rates compare
    like servers on cores of their own.
    """
    reason = quota_unavailable()
    if reason is not None:
        return {"available": False, "reason": reason}
    share = config.scaleout_core_share
    # Three times the messages: a burst's start and end, where the relay's
    # pipeline fills and drains and one server waits for the other, then take
    # a small part of it (with 1,200 messages two servers measured 1.66x one;
    # with 3,600, 1.84x).
    messages *= 3
    kind = SERVER_KINDS["roomkit"]
    tag = f"roomkit-bench-{os.getpid()}"
    with CpuQuota(f"{tag}-1", share) as quota_1, CpuQuota(f"{tag}-2", share) as quota_2:
        async with (
            RedisProcess() as redis,
            # Not pinned: each server goes wherever the scheduler finds room.
            servers_running(
                [kind, kind], dataclasses.replace(config, server_cpu=None), redis_url=redis.url
            ) as servers,
        ):
            for server, quota in zip(servers, (quota_1, quota_2), strict=True):
                assert server.pid is not None
                quota.add(server.pid)
            results = await _three_setups(
                (servers[0], servers[1]), config, client_kind, receivers, messages, runs, share
            )
    one, two, spread = (throughput_figures(setup) for setup in results)
    for figures, setup in zip((one, two, spread), results, strict=True):
        figures["busiest_server_cpu"] = median([busiest_server_share(r) for r in setup])
    return {
        "available": True,
        "core_share": share,
        "messages": messages,
        "one_server": one,
        "two_servers": two,
        "two_servers_spread": spread,
        "ratio": two["rate"] / one["rate"] if one["rate"] else float("nan"),
        "spread_ratio": spread["rate"] / one["rate"] if one["rate"] else float("nan"),
        # Run by run, to show how far one ratio moves on this machine.
        "ratio_runs": _paired_ratios(results[1], results[0]),
        "spread_ratio_runs": _paired_ratios(results[2], results[0]),
    }


def _paired_ratios(group: Sequence[BurstResult], one: Sequence[BurstResult]) -> list[float]:
    """Each run of ``group`` over the run of one server it alternated with."""
    return [mine.rate / theirs.rate for mine, theirs in zip(group, one, strict=True) if theirs.rate]


async def _three_setups(
    servers: tuple[ServerProcess, ServerProcess],
    config: Config,
    client_kind: str,
    receivers: int,
    messages: int,
    runs: int,
    core_share: float = 1.0,
) -> list[list[BurstResult]]:
    """Runs of one server, two with the sender on the first, and two with a
    sender on each, alternating; each setup's rooms warmed up first.

    :param core_share: the part of a core each server has: a burst takes
        1/core_share times longer, and so may its deadline.
    """
    first, second = servers
    timeout = config.burst_timeout(round(messages * receivers / core_share))
    async with rooms_open(
        [[first], [first, second], [first, second]],
        receivers,
        config,
        client_kinds=[client_kind] * 3,
        loadgen_cpu=None,
        sender_on_each=[False, False, True],
    ) as rooms:
        for room in rooms:
            await room.burst(max(5, messages // 5), timeout=timeout)
        return await alternate(rooms, runs, messages, timeout=timeout)
