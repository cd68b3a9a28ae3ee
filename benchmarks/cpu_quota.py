"""A slower core for a server: a CPU bandwidth limit (Linux cgroups).

Two servers over Redis can only be compared with one when each has a core of
its own and the load generator and Redis have others. A machine with two cores
cannot give that, but it can give each server a fixed part of a core: a cgroup
whose processes together run at most ``share`` of every period. Two servers
held to 0.3 of a core each leave 1.4 cores to the rest, so their rate against
one such server is measured, not projected.

cgroup v1's ``cpu`` hierarchy (``cpu.cfs_quota_us``) and cgroup v2
(``cpu.max``) are both handled; either needs root.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["CpuQuota", "quota_unavailable"]

_V1 = Path("/sys/fs/cgroup/cpu")
_V2 = Path("/sys/fs/cgroup")
PERIOD_US = 10_000  # short periods: a throttled server stalls for at most a few ms


def _v2_has_cpu() -> bool:
    try:
        return "cpu" in (_V2 / "cgroup.controllers").read_text().split()
    except OSError:
        return False


def quota_unavailable() -> str | None:
    """Why CPU quotas cannot be set here, or None when they can."""
    if (_V1 / "cpu.cfs_quota_us").exists():
        return None if os.access(_V1, os.W_OK) else "the cgroup cpu hierarchy is read-only"
    if _v2_has_cpu():
        return None if os.access(_V2, os.W_OK) else "the cgroup v2 hierarchy is read-only"
    return "no cgroup cpu controller"


class CpuQuota:
    """A cgroup whose processes together get at most ``share`` of one core.

    Use as a context manager: entering creates it, :meth:`add` moves a process
    (all its threads) in, leaving moves them back out and removes it.

    :param name: the cgroup's name (unique on the machine while it exists).
    :param share: the part of one core, e.g. 0.3.
    """

    def __init__(self, name: str, share: float) -> None:
        self.share = share
        self.v1 = (_V1 / "cpu.cfs_quota_us").exists()
        self.root = _V1 if self.v1 else _V2
        self.path = self.root / name

    def __enter__(self) -> CpuQuota:
        quota = max(1000, round(PERIOD_US * self.share))
        if not self.v1:
            # A controller must be enabled for the children of the group
            # that holds them; the root group may have processes and children.
            (_V2 / "cgroup.subtree_control").write_text("+cpu")
        self.path.mkdir(exist_ok=True)
        if self.v1:
            (self.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (self.path / "cpu.cfs_quota_us").write_text(str(quota))
        else:
            (self.path / "cpu.max").write_text(f"{quota} {PERIOD_US}")
        return self

    def add(self, pid: int) -> None:
        """Move process ``pid``, all its threads, into the group."""
        (self.path / "cgroup.procs").write_text(str(pid))

    def throttled_seconds(self) -> float:
        """How long the group's processes were held back so far."""
        for line in (self.path / "cpu.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "throttled_time":  # v1: nanoseconds
                return int(value) / 1e9
            if key == "throttled_usec":  # v2
                return int(value) / 1e6
        return 0.0

    def __exit__(self, *exc_info: object) -> None:
        try:
            pids = (self.path / "cgroup.procs").read_text().split()
        except OSError:
            return
        for pid in pids:
            with contextlib.suppress(OSError):  # it exited meanwhile
                (self.root / "cgroup.procs").write_text(pid)
        with contextlib.suppress(OSError):  # a process still inside: left for the OS
            self.path.rmdir()
