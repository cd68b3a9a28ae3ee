"""``roomkit cluster``: one ``redis-server`` and N ``roomkit serve`` processes.

A local cluster for learning and for the scaling notebook::

    roomkit cluster --nodes 2          # redis on a free port, servers on 8001, 8002

Every server gets the same admin token (``ROOMKIT_ADMIN_TOKEN``, or a random one
printed at start) and the same Redis, so a client on any port sees the same
rooms. Ctrl-C or SIGTERM stops the servers (each removes its members from
Redis), then Redis. The processes themselves are :mod:`roomkit.processes`.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from roomkit.processes import RedisProcess, ServerProcess, ServerProcessError
from roomkit.settings import DEFAULT_NODE_TTL, admin_token_from_env

__all__ = ["DEFAULT_FIRST_PORT", "add_cluster_command", "run_cluster"]

DEFAULT_FIRST_PORT = 8001


async def run_cluster(
    *,
    nodes: int = 2,
    first_port: int = DEFAULT_FIRST_PORT,
    redis_port: int = 0,
    host: str = "127.0.0.1",
    node_ttl: float = DEFAULT_NODE_TTL,
    log_level: str = "WARNING",
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
) -> int:
    """Run Redis and ``nodes`` servers until ``stop`` is set or a server dies.

    :param nodes: how many servers. Default 2.
    :param first_port: port of the first server; the others follow. Default 8001.
    :param redis_port: Redis port; 0 picks a free one. Default 0.
    :param host: address everything binds. Default ``"127.0.0.1"``.
    :param node_ttl: passed to every server. Default :data:`~roomkit.settings.DEFAULT_NODE_TTL`.
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
    cluster.add_argument("--nodes", type=int, default=2, help="how many servers")
    cluster.add_argument(
        "--first-port",
        type=int,
        default=DEFAULT_FIRST_PORT,
        help="port of the first server; the others follow",
    )
    cluster.add_argument(
        "--redis-port", type=int, default=0, help="port for redis-server; 0 picks a free one"
    )
    cluster.add_argument("--host", default="127.0.0.1", help="address to bind")
    cluster.add_argument(
        "--node-ttl",
        type=float,
        default=DEFAULT_NODE_TTL,
        help="seconds within which a dead server's members disappear",
    )
    cluster.add_argument("--log-level", default="WARNING", help="servers' logging level")
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
