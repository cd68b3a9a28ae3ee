"""A real ``roomkit serve`` child process for tests, and its resident memory.

Built on :class:`roomkit.processes.ServerProcess` (spawn, wait for the serving
line, drain the output, SIGTERM then SIGKILL)::

    async with serving("--no-rate-limit", log_level="ERROR") as server:
        before = rss_bytes(server.pid)
        ...
        assert await server.stop() == 0
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from roomkit.processes import ServerProcess, free_port

__all__ = ["ADMIN_TOKEN", "RssPeak", "Served", "rss_bytes", "rss_peak", "serving"]

ADMIN_TOKEN = "serve-support-admin-token"


class Served(ServerProcess):
    """``roomkit serve`` that keeps every line it prints (:attr:`lines`; with
    ``capture_stderr=True`` its log too)."""

    lines: list[str]

    async def spawn(self) -> None:
        self.lines = []
        await super().spawn()

    def on_line(self, line: str) -> None:
        self.lines.append(line)

    def output(self) -> str:
        """Everything read so far, one line each."""
        return "".join(line + "\n" for line in self.lines)

    def log_bytes(self) -> int:
        """How much it printed so far, in bytes."""
        return len(self.output().encode())

    @property
    def polling(self) -> str:
        """The engine.io long-polling endpoint."""
        return f"{self.url}/socket.io/?EIO=4&transport=polling"

    def rss_bytes(self) -> int:
        """The server's resident memory."""
        assert self.pid is not None
        return rss_bytes(self.pid)


@contextlib.asynccontextmanager
async def serving(
    *flags: str,
    port: int = 0,
    admin_token: str | None = ADMIN_TOKEN,
    log_level: str = "WARNING",
    redis_url: str | None = None,
    capture_stderr: bool = False,
    stop_timeout: float = 5.0,
) -> AsyncIterator[Served]:
    """``roomkit serve --port P --log-level L *flags``, stopped (SIGTERM) when the block
    ends; the parameters are :class:`ServerProcess`'s.

    :param port: Default 0: a free one.
    """
    server = Served(
        port=port or free_port(),
        admin_token=admin_token,
        redis_url=redis_url,
        log_level=log_level,
        extra_flags=flags,
        capture_stderr=capture_stderr,
        stop_timeout=stop_timeout,
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def rss_bytes(pid: int) -> int:
    """Resident memory of process ``pid`` (Linux ``/proc/PID/status`` VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


class RssPeak:
    """The highest RSS of a process, sampled while a phase of the test runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = rss_bytes(pid)

    async def sample(self) -> None:
        while True:
            self.peak = max(self.peak, rss_bytes(self.pid))
            await asyncio.sleep(0.05)  # a sampling period, not synchronisation


@contextlib.asynccontextmanager
async def rss_peak(pid: int) -> AsyncIterator[RssPeak]:
    """Samples the RSS of ``pid`` while the block runs; ``.peak`` is the highest."""
    peak = RssPeak(pid)
    task = asyncio.create_task(peak.sample())
    try:
        yield peak
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, FileNotFoundError):
            await task
