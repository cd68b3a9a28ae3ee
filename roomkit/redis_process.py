"""A throwaway ``redis-server`` process on a loopback port.

Tests, ``roomkit cluster`` and the scaling notebook all need a real Redis that
they own: started on a free port with no persistence (so a restart loses every
key, like a crash), stopped at the end, and restartable on the same port to
practise faults. Everything here is a coroutine so it never blocks the event
loop of a server, a test or a Jupyter kernel::

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
import shutil
import signal
import tempfile

from roomkit.errors import RoomkitError
from roomkit.testing import free_port

__all__ = ["READY_LINE", "RedisProcess", "RedisProcessError"]

# redis-server logs this line (at the default "notice" level) once it listens.
READY_LINE = "Ready to accept connections"
LOG_LINES_KEPT = 20
FREE_PORT_ATTEMPTS = 3


class RedisProcessError(RoomkitError):
    """``redis-server`` is missing, or it exited or stalled before it was ready."""


class RedisProcess:
    """One ``redis-server`` child process, owned by the caller.

    :param port: TCP port to listen on; 0 picks a free one on ``start()`` and
        keeps it for ``restart()``. Default 0.
    :param host: loopback address to bind. Default ``"127.0.0.1"``.
    :param executable: the server binary, looked up on ``PATH``. Default
        ``"redis-server"``.
    :param start_timeout: seconds to wait for the server to be ready. Default 10.
    :param stop_timeout: seconds to wait after SIGTERM before SIGKILL. Default 5.
    :param new_session: run Redis in its own session, so a terminal's Ctrl-C
        reaches only its parent, which can then stop things in order (the
        cluster command). Default False: Redis shares its parent's process
        group and goes down with it on Ctrl-C.
    """

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
        self.host = host
        self.port = port
        self.executable = executable
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.new_session = new_session
        self.log: collections.deque[str] = collections.deque(maxlen=LOG_LINES_KEPT)
        self._process: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        """``redis://host:port/0`` (valid once a port is chosen)."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

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
        if self._workdir is None:
            # Redis may write a crash report or temp files into its working dir.
            self._workdir = tempfile.TemporaryDirectory(prefix="roomkit-redis-")
        pick_port = self.port == 0
        for attempt in range(1, FREE_PORT_ATTEMPTS + 1):
            if pick_port:
                self.port = free_port(self.host)
            try:
                await self._launch(binary)
                return self.url
            except RedisProcessError:
                # A free port can be taken between picking and binding it.
                if not pick_port or attempt == FREE_PORT_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _launch(self, binary: str) -> None:
        assert self._workdir is not None
        self.log.clear()
        self._process = await asyncio.create_subprocess_exec(
            binary,
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self._workdir.name,
            "--logfile",
            "",
            "--loglevel",
            "notice",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=self.new_session,
        )
        try:
            await asyncio.wait_for(self._read_until_ready(), self.start_timeout)
        except (asyncio.TimeoutError, RedisProcessError) as problem:
            await self._terminate()
            tail = "\n".join(self.log) or "(no output)"
            raise RedisProcessError(
                f"redis-server on port {self.port} did not start ({problem or 'timed out'}):\n"
                f"{tail}"
            ) from None
        assert self._process.stdout is not None
        self._drain = asyncio.create_task(self._keep_reading(self._process.stdout))

    async def _read_until_ready(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        while True:
            raw = await self._process.stdout.readline()
            if not raw:
                raise RedisProcessError("it exited")
            line = raw.decode(errors="replace").rstrip()
            self.log.append(line)
            if READY_LINE in line:
                return

    async def _keep_reading(self, output: asyncio.StreamReader) -> None:
        # Keep the pipe empty so the server never blocks on a full log pipe.
        while raw := await output.readline():
            self.log.append(raw.decode(errors="replace").rstrip())

    async def stop(self, *, kill: bool = False) -> None:
        """Stop the server; its data is gone. Safe to call when stopped.

        :param kill: SIGKILL at once (a crash) instead of SIGTERM (a clean
            shutdown). Default False.
        """
        await self._terminate(kill=kill)
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    async def _terminate(self, *, kill: bool = False) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
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

    async def restart(self, *, kill: bool = False) -> str:
        """Stop and start again on the same port, with an empty database.

        :param kill: stop with SIGKILL instead of SIGTERM. Default False.
        """
        await self._terminate(kill=kill)
        return await self.start()

    async def __aenter__(self) -> RedisProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<RedisProcess {self.url} {state}>"
