"""Child processes roomkit starts and owns: ``redis-server`` and ``roomkit serve``.

Tests, ``roomkit cluster``, the benchmarks and the scaling notebook all need real
processes that they own: started, waited on until they say they are ready, their
output drained so they never block on a full pipe, and stopped with SIGTERM, then
SIGKILL if they linger. :class:`ChildProcess` is that life cycle, once (in
:mod:`roomkit.child_process`, re-exported here); :class:`RedisProcess` and
:class:`ServerProcess` say only what to run and which line means "ready".
Everything is a coroutine, so it never blocks the event loop of a server, a test
or a Jupyter kernel::

    redis = RedisProcess()
    await redis.start()
    print(redis.url)            # redis://127.0.0.1:<port>/0
    await redis.restart()       # same port, empty database
    await redis.stop()
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence

from roomkit.child_process import ChildProcess, ChildProcessError, free_port
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
FREE_PORT_ATTEMPTS = 3


class RedisProcessError(ChildProcessError):
    """``redis-server`` is missing, or it exited or stalled before it was ready."""


class ServerProcessError(ChildProcessError):
    """A ``roomkit serve`` process exited or stalled before it served."""


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
    """One ``roomkit serve`` child process (of a cluster, with ``redis_url``), in a
    session of its own (Ctrl-C reaches the cluster, which stops its servers in order).

    :param port: TCP port to serve on.
    :param redis_url: the cluster's Redis; None serves alone, with the memory
        store (and no ``--node-ttl``). Default None.
    :param admin_token: the ``/admin`` token (passed as ``ROOMKIT_ADMIN_TOKEN``);
        None removes that variable, so the server makes one up and prints it.
    :param host: address to bind. Default ``"127.0.0.1"``.
    :param node_ttl: seconds within which a dead server's members disappear.
        Default :data:`roomkit.settings.DEFAULT_NODE_TTL`.
    :param log_level: the server's logging level. Default ``"WARNING"``.
    :param extra_flags: more ``roomkit serve`` flags, appended as they are.
        Default none.
    :param capture_stderr: read the server's log (its stderr) with its stdout,
        into :attr:`log` and :meth:`on_line`, instead of leaving it on ours.
        Default False.
    :param label: see :class:`ChildProcess`. Default None.
    :param start_timeout: seconds to wait for the serving line. Default 20.
    :param stop_timeout: seconds to wait after SIGTERM before SIGKILL. Default 5.
    """

    ready_line = SERVING_LINE
    error = ServerProcessError

    def __init__(
        self,
        *,
        port: int,
        admin_token: str | None,
        redis_url: str | None = None,
        host: str = "127.0.0.1",
        node_ttl: float = DEFAULT_NODE_TTL,
        log_level: str = "WARNING",
        extra_flags: Sequence[str] = (),
        capture_stderr: bool = False,
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
        self.extra_flags = tuple(extra_flags)
        self.capture_stderr = capture_stderr

    @property
    def url(self) -> str:
        """``http://host:port``."""
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        cluster = ("--redis-url", self.redis_url, "--node-ttl", str(self.node_ttl))
        return [
            sys.executable,
            *("-m", "roomkit", "serve", "--host", self.host, "--port", str(self.port)),
            *(cluster if self.redis_url is not None else ()),
            *("--log-level", self.log_level, *self.extra_flags),
        ]

    def environment(self) -> dict[str, str]:
        environment = {name: value for name, value in os.environ.items() if name != ADMIN_TOKEN_ENV}
        if self.admin_token is not None:
            environment[ADMIN_TOKEN_ENV] = self.admin_token
        return environment

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
