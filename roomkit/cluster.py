"""``roomkit cluster``: one ``redis-server`` and N ``roomkit serve`` processes.

A local cluster for learning and for the scaling notebook::

    roomkit cluster --nodes 2          # redis on a free port, servers on 8001, 8002

Every server gets the same admin token (``ROOMKIT_ADMIN_TOKEN``, or a random one
printed at start) and the same Redis, so a client on any port sees the same
rooms. Ctrl-C or SIGTERM stops the servers (each removes its members from
Redis), then Redis. :class:`ServerProcess` is also what the tests use to run a
server in another process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence

from roomkit.errors import RoomkitError
from roomkit.redis_process import RedisProcess
from roomkit.settings import ADMIN_TOKEN_ENV, admin_token_from_env

__all__ = [
    "DEFAULT_FIRST_PORT",
    "SERVING_LINE",
    "ServerProcess",
    "ServerProcessError",
    "add_cluster_command",
    "run_cluster",
]

DEFAULT_FIRST_PORT = 8001
# ``roomkit serve`` prints this once its port accepts connections.
SERVING_LINE = "roomkit serving on"


class ServerProcessError(RoomkitError):
    """A ``roomkit serve`` process exited or stalled before it served."""


class ServerProcess:
    """One ``roomkit serve --redis-url ...`` child process.

    :param port: TCP port to serve on.
    :param redis_url: the cluster's Redis.
    :param admin_token: the ``/admin`` token (passed as ``ROOMKIT_ADMIN_TOKEN``).
    :param host: address to bind. Default ``"127.0.0.1"``.
    :param node_ttl: seconds within which a dead server's members disappear.
        Default 10.
    :param log_level: the server's logging level (it logs to our stderr).
        Default ``"WARNING"``.
    :param label: prefix for the lines it prints after starting, which are
        echoed to our stdout; None discards them. Default None.
    :param start_timeout: seconds to wait for the serving line. Default 20.
    :param stop_timeout: seconds to wait after SIGTERM before SIGKILL. Default 5.
    """

    def __init__(
        self,
        *,
        port: int,
        redis_url: str,
        admin_token: str,
        host: str = "127.0.0.1",
        node_ttl: float = 10.0,
        log_level: str = "WARNING",
        label: str | None = None,
        start_timeout: float = 20.0,
        stop_timeout: float = 5.0,
    ) -> None:
        self.port = port
        self.host = host
        self.redis_url = redis_url
        self.admin_token = admin_token
        self.node_ttl = node_ttl
        self.log_level = log_level
        self.label = label
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.process: asyncio.subprocess.Process | None = None
        self._echo: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def command(self) -> list[str]:
        """The command line that starts the server."""
        return [
            sys.executable,
            "-m",
            "roomkit",
            "serve",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--redis-url",
            self.redis_url,
            "--node-ttl",
            str(self.node_ttl),
            "--log-level",
            self.log_level,
        ]

    async def start(self) -> str:
        """Start the server; return its URL once it accepts connections.

        :raises ServerProcessError: when it exits or stays silent for
            ``start_timeout`` seconds.
        """
        env = {**os.environ, ADMIN_TOKEN_ENV: self.admin_token}
        self.process = await asyncio.create_subprocess_exec(
            *self.command(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,  # Ctrl-C reaches the cluster, which stops us in order
        )
        assert self.process.stdout is not None
        try:
            await asyncio.wait_for(
                self._read_until_serving(self.process.stdout), self.start_timeout
            )
        except (asyncio.TimeoutError, ServerProcessError) as problem:
            await self.kill()
            raise ServerProcessError(
                f"roomkit serve on port {self.port} did not start: {problem or 'timed out'}"
            ) from None
        self._echo = asyncio.create_task(self._echo_output(self.process.stdout))
        return self.url

    async def _read_until_serving(self, output: asyncio.StreamReader) -> None:
        while True:
            raw = await output.readline()
            if not raw:
                assert self.process is not None
                raise ServerProcessError(f"it exited with status {await self.process.wait()}")
            if SERVING_LINE in raw.decode(errors="replace"):
                return

    async def _echo_output(self, output: asyncio.StreamReader) -> None:
        # Also keeps the pipe empty, so the server never blocks writing to it.
        while raw := await output.readline():
            if self.label is not None:
                print(f"[{self.label}] {raw.decode(errors='replace').rstrip()}", flush=True)

    async def wait(self) -> int:
        """Wait for the process to exit; return its status."""
        assert self.process is not None
        return await self.process.wait()

    async def stop(self) -> int | None:
        """SIGTERM (the server removes its members from Redis), SIGKILL after
        ``stop_timeout`` seconds. Returns the exit status (None if never started)."""
        return await self._end(signal.SIGTERM)

    async def kill(self) -> int | None:
        """SIGKILL: a crash that leaves the server's members behind in Redis."""
        return await self._end(signal.SIGKILL)

    async def _end(self, how: signal.Signals) -> int | None:
        if self.process is None:
            return None
        if self.process.returncode is None:
            self.process.send_signal(how)
            try:
                await asyncio.wait_for(self.process.wait(), self.stop_timeout)
            except asyncio.TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self._echo is not None:
            echo, self._echo = self._echo, None
            await asyncio.wait_for(echo, self.stop_timeout)  # the pipe closed with the process
        return self.process.returncode


async def run_cluster(
    *,
    nodes: int = 2,
    first_port: int = DEFAULT_FIRST_PORT,
    redis_port: int = 0,
    host: str = "127.0.0.1",
    node_ttl: float = 10.0,
    log_level: str = "WARNING",
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
) -> int:
    """Run Redis and ``nodes`` servers until ``stop`` is set or a server dies.

    :param nodes: how many servers. Default 2.
    :param first_port: port of the first server; the others follow. Default 8001.
    :param redis_port: Redis port; 0 picks a free one. Default 0.
    :param host: address everything binds. Default ``"127.0.0.1"``.
    :param node_ttl: passed to every server. Default 10.
    :param log_level: the servers' logging level. Default ``"WARNING"``.
    :param stop: set it to stop the cluster. Default: a new event nobody sets
        (the cluster runs until a server dies or the task is cancelled).
    :param ready: set once every server serves. Default None.
    :returns: 0 after a requested stop, 1 when a server died or did not start.
    """
    stop = stop or asyncio.Event()
    token, generated = admin_token_from_env()
    # Redis in its own session too: it must outlive the servers, which remove
    # their members from it as they stop.
    async with RedisProcess(port=redis_port, host=host, new_session=True) as redis:
        servers = [
            ServerProcess(
                port=first_port + index,
                host=host,
                redis_url=redis.url,
                admin_token=token,
                node_ttl=node_ttl,
                log_level=log_level,
                label=f"node{index + 1}",
            )
            for index in range(nodes)
        ]
        try:
            try:
                await asyncio.gather(*(server.start() for server in servers))
            except ServerProcessError as problem:
                print(f"roomkit cluster: {problem}", file=sys.stderr, flush=True)
                return 1
            print(f"roomkit cluster: redis-server at {redis.url}", flush=True)
            for index, server in enumerate(servers, start=1):
                print(f"  node{index}: {server.url}  (pid {server.pid})", flush=True)
            source = "random; set ROOMKIT_ADMIN_TOKEN to choose one" if generated else "from env"
            print(f"admin token ({source}): {token}", flush=True)
            print("press Ctrl-C to stop", flush=True)
            if ready is not None:
                ready.set()
            return await _until_stop_or_death(stop, servers)
        finally:
            await asyncio.gather(*(server.stop() for server in servers))


async def _until_stop_or_death(stop: asyncio.Event, servers: Sequence[ServerProcess]) -> int:
    stopping = asyncio.create_task(stop.wait())
    deaths = {asyncio.create_task(server.wait()): server for server in servers}
    done, pending = await asyncio.wait({stopping, *deaths}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    if stopping in done:
        print("roomkit cluster: stopping", flush=True)
        return 0
    for task in done:
        server = deaths[task]
        print(
            f"roomkit cluster: server on port {server.port} exited with status {task.result()}",
            file=sys.stderr,
            flush=True,
        )
    return 1


def add_cluster_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``roomkit cluster`` to the command line's subcommands."""
    cluster = commands.add_parser(
        "cluster", help="run redis-server and several chat servers sharing it"
    )
    cluster.add_argument("--nodes", type=int, default=2, help="how many servers (2)")
    cluster.add_argument(
        "--first-port",
        type=int,
        default=DEFAULT_FIRST_PORT,
        help=f"port of the first server; the others follow ({DEFAULT_FIRST_PORT})",
    )
    cluster.add_argument(
        "--redis-port", type=int, default=0, help="port for redis-server (0: a free one)"
    )
    cluster.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    cluster.add_argument(
        "--node-ttl",
        type=float,
        default=10.0,
        help="seconds within which a dead server's members disappear (10)",
    )
    cluster.add_argument("--log-level", default="WARNING", help="servers' logging level (WARNING)")
    cluster.set_defaults(run=_cluster)


def _cluster(args: argparse.Namespace) -> int:
    if args.nodes < 1:
        raise SystemExit("roomkit: --nodes must be at least 1")

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, stop.set)
        return await run_cluster(
            nodes=args.nodes,
            first_port=args.first_port,
            redis_port=args.redis_port,
            host=args.host,
            node_ttl=args.node_ttl,
            log_level=args.log_level,
            stop=stop,
        )

    return asyncio.run(main())
