"""Child processes roomkit starts and owns: ``redis-server`` and ``roomkit serve``.

Tests, ``roomkit cluster``, the benchmarks and the scaling notebook all need real
processes that they own: started, waited on until they say they are ready, their
output drained so they never block on a full pipe, and stopped with SIGTERM, then
SIGKILL if they linger. :class:`ChildProcess` is that life cycle, once;
:class:`RedisProcess` and :class:`ServerProcess` say only what to run and which
line means "ready". Everything is a coroutine, so it never blocks the event loop
of a server, a test or a Jupyter kernel::

    redis = RedisProcess()
    await redis.start()
    print(redis.url)            # redis://127.0.0.1:<port>/0
    await redis.restart()       # same port, empty database
    await redis.stop()
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import shutil
import signal
import socket
import sys
import tempfile
from typing import ClassVar

from roomkit.errors import RoomkitError
from roomkit.settings import ADMIN_TOKEN_ENV, DEFAULT_NODE_TTL

__all__ = [
    "REDIS_READY_LINE",
    "SERVING_LINE",
    "ChildProcess",
    "ChildProcessError",
    "RedisProcess",
    "RedisProcessError",
    "ServerProcess",
    "ServerProcessError",
    "free_port",
]

# redis-server logs this line (at the default "notice" level) once it listens.
REDIS_READY_LINE = "Ready to accept connections"
# ``roomkit serve`` prints this once its port accepts connections.
SERVING_LINE = "roomkit serving on"
LOG_LINES_KEPT = 20
FREE_PORT_ATTEMPTS = 3


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (another process may take it).

    :param host: the address to probe. Default ``"127.0.0.1"``.
    """
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class ChildProcessError(RoomkitError):
    """A child process is missing, or it exited or stalled before it was ready."""


class RedisProcessError(ChildProcessError):
    """``redis-server`` is missing, or it exited or stalled before it was ready."""


class ServerProcessError(ChildProcessError):
    """A ``roomkit serve`` process exited or stalled before it served."""


class ChildProcess:
    """The life cycle every child process shares; subclasses say what to run.

    :param start_timeout: seconds to wait for the ready line.
    :param stop_timeout: seconds to wait after SIGTERM before SIGKILL.
    :param new_session: run the child in its own session, so a terminal's Ctrl-C
        reaches only its parent, which can then stop things in order.
    :param label: prefix for the lines the child prints once ready, echoed to our
        stdout; None keeps them only in :attr:`log`. Default None.
    """

    ready_line: ClassVar[str]
    error: ClassVar[type[ChildProcessError]] = ChildProcessError
    # Whether the child's stderr joins its stdout in :attr:`log`; else it is ours.
    capture_stderr: ClassVar[bool] = True

    def __init__(
        self,
        *,
        start_timeout: float,
        stop_timeout: float,
        new_session: bool,
        label: str | None = None,
    ) -> None:
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.new_session = new_session
        self.label = label
        self.log: collections.deque[str] = collections.deque(maxlen=LOG_LINES_KEPT)
        self.process: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None

    def command(self) -> list[str]:
        """The command line (subclasses define it)."""
        raise NotImplementedError

    def environment(self) -> dict[str, str] | None:
        """The child's environment. Default None: ours."""
        return None

    def describe(self) -> str:
        """The child in a few words, for error messages (subclasses name it)."""
        return self.command()[0]

    def on_line(self, line: str) -> None:
        """Called with every line the child prints, ready line included; default nothing
        (:attr:`log` keeps the last lines; the benchmarks' servers write them all to a file)."""

    @property
    def running(self) -> bool:
        """Whether the child has been started and has not exited."""
        return self.process is not None and self.process.returncode is None

    @property
    def pid(self) -> int | None:
        """The child's process id, once started."""
        return self.process.pid if self.process is not None else None

    async def spawn(self) -> None:
        """Start the child and return once it printed :attr:`ready_line`.

        :raises ChildProcessError: (the subclass's :attr:`error`) when it exits
            first or stays silent for ``start_timeout`` seconds; the message
            holds its last lines.
        """
        self.log.clear()
        self.process = await asyncio.create_subprocess_exec(
            *self.command(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT if self.capture_stderr else None,
            env=self.environment(),
            start_new_session=self.new_session,
        )
        assert self.process.stdout is not None
        try:
            await asyncio.wait_for(self._read_until_ready(self.process.stdout), self.start_timeout)
        except (asyncio.TimeoutError, ChildProcessError) as problem:
            await self.end(signal.SIGKILL)
            tail = "\n".join(self.log) or "(no output)"
            raise self.error(
                f"{self.describe()} did not start ({problem or 'timed out'}):\n{tail}"
            ) from None
        self._drain = asyncio.create_task(self._keep_reading(self.process.stdout))

    async def _read_until_ready(self, output: asyncio.StreamReader) -> None:
        while True:
            raw = await output.readline()
            if not raw:
                assert self.process is not None
                raise self.error(f"it exited with status {await self.process.wait()}")
            line = raw.decode(errors="replace").rstrip()
            self.log.append(line)
            self.on_line(line)
            if self.ready_line in line:
                return

    async def _keep_reading(self, output: asyncio.StreamReader) -> None:
        # Keeps the pipe empty, so the child never blocks writing to it.
        while raw := await output.readline():
            line = raw.decode(errors="replace").rstrip()
            self.log.append(line)
            self.on_line(line)
            if self.label is not None:
                print(f"[{self.label}] {line}", flush=True)

    async def wait(self) -> int:
        """Wait for the child to exit; return its status."""
        assert self.process is not None
        return await self.process.wait()

    async def end(self, how: signal.Signals = signal.SIGTERM) -> int | None:
        """Send ``how``, then SIGKILL after ``stop_timeout`` seconds; safe when stopped.

        :param how: the first signal. Default SIGTERM (a clean shutdown).
        :returns: the exit status, or None if the child was never started.
        """
        process = self.process
        if process is None:
            return None
        if process.returncode is None:
            process.send_signal(how)
            try:
                await asyncio.wait_for(process.wait(), self.stop_timeout)
            except asyncio.TimeoutError:
                process.kill()
                await process.wait()
        if self._drain is not None:
            drain, self._drain = self._drain, None
            # The pipe reaches end of file once the process is gone.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(drain, self.stop_timeout)
        return process.returncode


class RedisProcess(ChildProcess):
    """One throwaway ``redis-server`` on a loopback port, with no persistence
    (so a restart loses every key, like a crash); restartable on the same port.

    :param port: TCP port to listen on; 0 picks a free one on ``start()`` and
        keeps it for ``restart()``. Default 0.
    :param host: loopback address to bind. Default ``"127.0.0.1"``.
    :param executable: the server binary, looked up on ``PATH``. Default
        ``"redis-server"``.
    :param start_timeout: seconds to wait for the server to be ready. Default 10.
    :param stop_timeout: seconds to wait after SIGTERM before SIGKILL. Default 5.
    :param new_session: run Redis in its own session (see :class:`ChildProcess`).
        Default False: Redis shares its parent's process group and goes down
        with it on Ctrl-C.
    """

    ready_line = REDIS_READY_LINE
    error = RedisProcessError

    def __init__(
        self,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        executable: str = "redis-server",
        start_timeout: float = 10.0,
        stop_timeout: float = 5.0,
        new_session: bool = False,
    ) -> None:
        super().__init__(
            start_timeout=start_timeout, stop_timeout=stop_timeout, new_session=new_session
        )
        self.host = host
        self.port = port
        self.executable = executable
        self._binary = ""
        self._workdir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        """``redis://host:port/0`` (valid once a port is chosen)."""
        return f"redis://{self.host}:{self.port}/0"

    def describe(self) -> str:
        return f"redis-server on port {self.port}"

    def command(self) -> list[str]:
        assert self._workdir is not None
        return [
            self._binary,
            *("--port", str(self.port), "--bind", self.host),
            *("--save", "", "--appendonly", "no", "--dir", self._workdir.name),
            *("--logfile", "", "--loglevel", "notice"),
        ]

    async def start(self) -> str:
        """Start the server and return its URL once it accepts connections.

        :raises RedisProcessError: when the binary is missing or the server does
            not become ready (its last log lines are in the message).
        """
        if self.running:
            return self.url
        binary = shutil.which(self.executable)
        if binary is None:
            raise RedisProcessError(f"{self.executable!r} not found on PATH")
        self._binary = binary
        if self._workdir is None:
            # Redis may write a crash report or temp files into its working dir.
            self._workdir = tempfile.TemporaryDirectory(prefix="roomkit-redis-")
        pick_port = self.port == 0
        for attempt in range(1, FREE_PORT_ATTEMPTS + 1):
            if pick_port:
                self.port = free_port(self.host)
            try:
                await self.spawn()
                return self.url
            except RedisProcessError:
                # A free port can be taken between picking and binding it.
                if not pick_port or attempt == FREE_PORT_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def stop(self, *, kill: bool = False) -> None:
        """Stop the server; its data is gone. Safe to call when stopped.

        :param kill: SIGKILL at once (a crash) instead of SIGTERM (a clean
            shutdown). Default False.
        """
        await self.end(signal.SIGKILL if kill else signal.SIGTERM)
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    async def restart(self, *, kill: bool = False) -> str:
        """Stop and start again on the same port, with an empty database.

        :param kill: stop with SIGKILL instead of SIGTERM. Default False.
        """
        await self.end(signal.SIGKILL if kill else signal.SIGTERM)
        return await self.start()

    async def __aenter__(self) -> RedisProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<RedisProcess {self.url} {state}>"


class ServerProcess(ChildProcess):
    """One ``roomkit serve --redis-url ...`` child process, in a session of its own
    (Ctrl-C reaches the cluster, which stops its servers in order).

    :param port: TCP port to serve on.
    :param redis_url: the cluster's Redis.
    :param admin_token: the ``/admin`` token (passed as ``ROOMKIT_ADMIN_TOKEN``).
    :param host: address to bind. Default ``"127.0.0.1"``.
    :param node_ttl: seconds within which a dead server's members disappear.
        Default :data:`roomkit.settings.DEFAULT_NODE_TTL`.
    :param log_level: the server's logging level. Default ``"WARNING"``.
    :param label: see :class:`ChildProcess`. Default None.
    :param start_timeout: seconds to wait for the serving line. Default 20.
    :param stop_timeout: seconds to wait after SIGTERM before SIGKILL. Default 5.
    """

    ready_line = SERVING_LINE
    error = ServerProcessError
    capture_stderr = False  # the server logs to our stderr

    def __init__(
        self,
        *,
        port: int,
        redis_url: str,
        admin_token: str,
        host: str = "127.0.0.1",
        node_ttl: float = DEFAULT_NODE_TTL,
        log_level: str = "WARNING",
        label: str | None = None,
        start_timeout: float = 20.0,
        stop_timeout: float = 5.0,
    ) -> None:
        super().__init__(
            start_timeout=start_timeout, stop_timeout=stop_timeout, new_session=True, label=label
        )
        self.port = port
        self.host = host
        self.redis_url = redis_url
        self.admin_token = admin_token
        self.node_ttl = node_ttl
        self.log_level = log_level

    @property
    def url(self) -> str:
        """``http://host:port``."""
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        return [
            sys.executable,
            *("-m", "roomkit", "serve", "--host", self.host, "--port", str(self.port)),
            *("--redis-url", self.redis_url, "--node-ttl", str(self.node_ttl)),
            *("--log-level", self.log_level),
        ]

    def environment(self) -> dict[str, str]:
        return {**os.environ, ADMIN_TOKEN_ENV: self.admin_token}

    def describe(self) -> str:
        return f"roomkit serve on port {self.port}"

    async def start(self) -> str:
        """Start the server; return its URL once it accepts connections.

        :raises ServerProcessError: when it exits or stays silent for
            ``start_timeout`` seconds.
        """
        await self.spawn()
        return self.url

    async def stop(self) -> int | None:
        """SIGTERM (the server removes its members from Redis), SIGKILL after
        ``stop_timeout`` seconds. Returns the exit status (None if never started)."""
        return await self.end(signal.SIGTERM)

    async def kill(self) -> int | None:
        """SIGKILL: a crash that leaves the server's members behind in Redis."""
        return await self.end(signal.SIGKILL)
