"""The sizes and limits of one benchmark invocation: :class:`Config`."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.servers import SERVER_KINDS, ServerKind

__all__ = ["Config"]


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
    :param latency_seconds: how long the sender sends in a latency run: at N=500
        a second is 10 messages, and the p99 of 30 pooled messages was the tail
        of the single slowest one (a neighbour's moment on the shared core
        decided it); 3 s gives 90.
    :param servers: names from :data:`~benchmarks.servers.SERVER_KINDS` to compare.
    :param workers: load-generator processes per room.
    :param memory_clients: idle connections for the memory figure.
    :param scaleout_receivers: receivers for the 1-vs-2-server runs.
    :param scaleout_deliveries: deliveries per 1-vs-2-server burst: long enough
        (about a second; the busier of two servers then uses some 30 of the
        CPU counters' 10 ms ticks).
    :param scaleout_core_share: the part of a core each server gets in the
        scale-out runs measured with CPU quotas (two servers at 0.3 leave 1.4
        of this machine's cores to the load generator and Redis).
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
    latency_seconds: float = 3.0
    servers: list[str] = field(default_factory=lambda: list(SERVER_KINDS))
    workers: int = 1
    memory_clients: int = 1000
    scaleout_receivers: int = 500
    scaleout_deliveries: int = 600_000
    scaleout_core_share: float = 0.3
    client_receivers: int = 100
    client_deliveries: int = 30_000
    profile_seconds: float = 10.0
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
