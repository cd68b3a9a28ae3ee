"""Server processes under test: start, pin, watch (CPU, RSS) and stop.

Every server is a separate process listening on 127.0.0.1, started with
``taskset -c <cpu>`` when ``taskset`` exists, so that it has a core of its own
and the load generator has the other. Its life cycle (start, wait until ready,
drain its output, stop) is :class:`roomkit.processes.ChildProcess`'s.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import psutil

from roomkit.processes import ChildProcess, free_port

__all__ = [
    "ADMIN_TOKEN",
    "HERE",
    "READY_LINE",
    "REPO",
    "SERVER_KINDS",
    "ServerKind",
    "ServerProcess",
    "cpu_seconds",
    "node_available",
    "pinned",
    "uvloop_available",
]

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ADMIN_TOKEN = "benchmark-admin-token"
READY_TIMEOUT = 20.0
# What every server kind prints once it accepts connections (``roomkit serve``:
# "roomkit serving on http://...", the bare and Node servers alike).
READY_LINE = "serving on http://"


def pinned(argv: Sequence[str], cpu: int | None) -> list[str]:
    """``argv`` prefixed with ``taskset -c cpu`` (unchanged without taskset or ``cpu``)."""
    if cpu is None or shutil.which("taskset") is None or cpu >= (os.cpu_count() or 1):
        return list(argv)
    return ["taskset", "-c", str(cpu), *argv]


def node_available() -> bool:
    """Whether ``node`` and the ``socket.io`` npm package are installed."""
    return shutil.which("node") is not None and (REPO / "node_modules" / "socket.io").is_dir()


def uvloop_available() -> bool:
    """Whether the ``uvloop`` package can be imported."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class ServerKind:
    """One server implementation under test.

    :param name: short name used in results (``roomkit``, ``bare``, ``node``...).
    :param label: how tables and plots call it.
    :param family: ``roomkit``, ``bare`` or ``node``.
    :param loop: the Python event loop it runs: ``asyncio``, ``uvloop``, or ``""``
        for node and for ``roomkit serve``'s own default.
    :param options: extra command-line options (not for node).
    """

    name: str
    label: str
    family: str
    loop: str = ""
    options: tuple[str, ...] = ()

    def argv(self, port: int, redis_url: str | None = None) -> list[str]:
        """The command that serves on ``127.0.0.1:port``."""
        if self.family == "roomkit":
            roomkit = Path(sys.executable).with_name("roomkit")
            program = [str(roomkit)] if roomkit.exists() else [sys.executable, "-m", "roomkit"]
            # Every load-generator client comes from 127.0.0.1: the per-address room
            # quota (30 new rooms a minute) would refuse the scale-out's rooms.
            command = [*program, "serve", "--port", str(port), "--no-rate-limit"]
            command += ["--room-creations-per-minute", "1000000", "--room-creation-burst", "100000"]
            command += ["--log-level", "WARNING", *self.options]
            if redis_url:
                command += ["--redis-url", redis_url]
            return command
        if self.family == "bare":
            module = [sys.executable, "-m", "benchmarks.bare_server"]
            return [*module, "--port", str(port), "--loop", self.loop, *self.options]
        if self.family == "node":
            return ["node", str(HERE / "node_server.js"), str(port)]
        raise ValueError(f"unknown server family {self.family!r}")

    def available(self) -> bool:
        """Whether this machine can run it."""
        if self.family == "node":
            return node_available()
        return self.loop != "uvloop" or uvloop_available()


SERVER_KINDS = {
    kind.name: kind
    for kind in (
        ServerKind("roomkit", "roomkit serve (defaults)", "roomkit"),
        ServerKind(
            "roomkit-deflate",
            "roomkit serve --websocket-compression",
            "roomkit",
            options=("--websocket-compression",),
        ),
        ServerKind(
            "roomkit-uvloop",
            "roomkit serve --loop uvloop --gc-threshold 0",
            "roomkit",
            "uvloop",
            ("--loop", "uvloop", "--gc-threshold", "0"),
        ),
        ServerKind(
            "roomkit-asyncio",
            "roomkit serve --loop asyncio --gc-threshold 0",
            "roomkit",
            "asyncio",
            ("--loop", "asyncio", "--gc-threshold", "0"),
        ),
        ServerKind("bare", "bare python-socketio (asyncio)", "bare", "asyncio"),
        ServerKind("bare-uvloop", "bare python-socketio (uvloop)", "bare", "uvloop"),
        ServerKind(
            "bare-direct",
            "bare python-socketio (uvloop) + roomkit's direct fan-out and transport",
            "bare",
            "uvloop",
            ("--fanout", "direct"),
        ),
        ServerKind("node", "Node socket.io 4.8", "node"),
    )
}


def cpu_seconds(process: psutil.Process) -> float:
    """CPU time ``process`` has used so far, to the nanosecond where Linux says.

    ``/proc/<pid>/task/<tid>/schedstat`` counts each thread's time on a CPU in
    nanoseconds; the user and system times of ``/proc/<pid>/stat`` come in
    10 ms ticks, which is a few percent of a burst's CPU time. The nanosecond
    sum covers the threads alive now: every process measured here keeps its
    threads for its whole life. Without schedstat, the ticks.
    """
    try:
        total = 0
        for thread in os.scandir(f"/proc/{process.pid}/task"):
            with open(f"{thread.path}/schedstat", encoding="ascii") as stats:
                total += int(stats.read().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        times = process.cpu_times()
        return float(times.user + times.system)


class ServerProcess(ChildProcess):
    """A server under test, as a child process (see :class:`roomkit.processes.ChildProcess`).

    Build it with :meth:`start`. Every server kind prints a line with
    :data:`READY_LINE` once its port accepts connections; everything it prints
    goes to ``log_path`` too, kept for a scenario that fails.

    :param kind: what it runs.
    :param port: its port on 127.0.0.1.
    :param cpu: the core it is pinned to; None leaves it to the OS.
    :param log_path: the file its stdout and stderr go to.
    :param redis_url: the Redis it shares rooms through (roomkit only).
    """

    ready_line = READY_LINE

    def __init__(
        self,
        kind: ServerKind,
        *,
        port: int,
        cpu: int | None,
        log_path: Path,
        redis_url: str | None = None,
    ) -> None:
        # Its own session: a Ctrl-C in the terminal reaches only the coordinator.
        super().__init__(start_timeout=READY_TIMEOUT, stop_timeout=5.0, new_session=True)
        self.kind = kind
        self.port = port
        self.cpu = cpu
        self.log_path = log_path
        self.redis_url = redis_url
        self._log_file: BinaryIO | None = None
        self._ps: psutil.Process | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return pinned(self.kind.argv(self.port, self.redis_url), self.cpu)

    def environment(self) -> dict[str, str]:
        # PYTHONPATH: ``python -m benchmarks.bare_server`` from any working directory.
        return dict(os.environ, ROOMKIT_ADMIN_TOKEN=ADMIN_TOKEN, PYTHONPATH=str(REPO))

    def describe(self) -> str:
        return f"{self.kind.name} on port {self.port}"

    def _open_log(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log_path.open("wb")

    def on_line(self, line: str) -> None:
        if self._log_file is not None:
            self._log_file.write(line.encode() + b"\n")
            self._log_file.flush()

    @classmethod
    async def start(
        cls,
        kind: ServerKind,
        *,
        cpu: int | None,
        log_dir: Path,
        redis_url: str | None = None,
        port: int | None = None,
    ) -> ServerProcess:
        """Start ``kind`` pinned to ``cpu`` and return once it accepts connections.

        :param cpu: the core to pin it to; None leaves it to the OS.
        :param log_dir: where its stdout/stderr go (``<name>-<port>.log``).
        :param redis_url: the Redis to share rooms through (roomkit only). Default None.
        :param port: the port; default a free one.
        :raises ChildProcessError: when it exits or is not ready within 20 s.
        """
        port = port or free_port()
        server = cls(
            kind,
            port=port,
            cpu=cpu,
            log_path=log_dir / f"{kind.name}-{port}.log",
            redis_url=redis_url,
        )
        server._open_log()
        try:
            await server.spawn()
        except BaseException:
            await server.stop()
            raise
        assert server.pid is not None
        server._ps = psutil.Process(server.pid)
        return server

    def rss(self) -> int:
        """Resident memory, in bytes."""
        assert self._ps is not None
        return int(self._ps.memory_info().rss)

    def cpu_seconds(self) -> float:
        """CPU time the server has used so far (see :func:`cpu_seconds`)."""
        assert self._ps is not None
        return cpu_seconds(self._ps)

    async def stop(self) -> None:
        """Interrupt it (SIGINT, as Ctrl-C), kill it after 5 s. Safe twice."""
        # Every server kind here shuts down cleanly on SIGINT.
        await self.end(signal.SIGINT)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
