"""Server processes under test: start, pin, watch (CPU, RSS) and stop.

Every server is a separate process listening on 127.0.0.1, started with
``taskset -c <cpu>`` when ``taskset`` exists, so that it has a core of its own
and the load generator has the other.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

__all__ = [
    "ADMIN_TOKEN",
    "HERE",
    "REPO",
    "SERVER_KINDS",
    "ServerKind",
    "ServerProcess",
    "free_port",
    "node_available",
    "pinned",
    "uvloop_available",
]

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ADMIN_TOKEN = "benchmark-admin-token"
READY_TIMEOUT = 20.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


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
            command = [*program, "serve", "--port", str(port), "--no-rate-limit"]
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


@dataclass
class ServerProcess:
    """A running server process.

    :param kind: what it runs.
    :param port: its port on 127.0.0.1.
    :param process: the OS process.
    :param log_path: the file its stdout and stderr go to.
    """

    kind: ServerKind
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    _ps: psutil.Process = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._ps = psutil.Process(self.process.pid)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(
        cls,
        kind: ServerKind,
        *,
        cpu: int | None,
        log_dir: Path,
        redis_url: str | None = None,
        port: int | None = None,
        wrap: Sequence[str] = (),
    ) -> ServerProcess:
        """Start ``kind`` pinned to ``cpu`` and return once it accepts connections.

        :param cpu: the core to pin it to; None leaves it to the OS.
        :param log_dir: where its stdout/stderr go (``<name>-<port>.log``).
        :param redis_url: the Redis to share rooms through (roomkit only). Default None.
        :param port: the port; default a free one.
        :param wrap: a command to run it under (e.g. a profiler). Default none.
        :raises RuntimeError: when it exits or does not listen within 20 s.
        """
        port = port or free_port()
        env = dict(os.environ, ROOMKIT_ADMIN_TOKEN=ADMIN_TOKEN, PYTHONPATH=str(REPO))
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{kind.name}-{port}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                pinned([*wrap, *kind.argv(port, redis_url)], cpu),
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = cls(kind, port, process, log_path)
        try:
            server._wait_listening(READY_TIMEOUT)
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.kind.name} exited with {self.process.returncode}: {self.log_tail()}"
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return
            time.sleep(0.05)  # polling a port another process opens; bounded by deadline
        raise RuntimeError(f"{self.kind.name} did not listen within {timeout:g} s")

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of its output, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def rss(self) -> int:
        """Resident memory, in bytes (its process tree when wrapped by a profiler)."""
        return int(self.served_process().memory_info().rss)

    def cpu_seconds(self) -> float:
        """User + system CPU time the server has used so far."""
        times = self.served_process().cpu_times()
        return float(times.user + times.system)

    def served_process(self) -> psutil.Process:
        """The process that runs the server (the profiler's child when wrapped)."""
        children = self._ps.children(recursive=True)
        return children[-1] if children else self._ps

    def stop(self, timeout: float = 5.0) -> None:
        """Interrupt it (SIGINT, as Ctrl-C), kill it after ``timeout`` s. Safe twice."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)
