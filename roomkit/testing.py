"""Live servers and recording clients for tests and notebooks.

Everything here runs inside the event loop that is already running (pytest's,
or the Jupyter kernel's), on 127.0.0.1 and a free port::

    server = await start_server(sio_or_app)        # a notebook cell
    alice = await connect(server.url, "alice")
    await alice.call("join room", "general")
    print(transcript(alice))
    await alice.disconnect(); await server.stop()

    async with serve(app) as server:                 # a test
        ...

The servers are served here; the clients (:func:`connect`,
:class:`RecordingClient`, :func:`transcript`, :func:`expect_silence`) come from
:mod:`roomkit.recording` and are re-exported. Waiting is always for an event,
with a timeout, never for a fixed time. What the server's handlers raise is
kept (:mod:`roomkit.handler_errors`) and shown where the learner looks: in a
client's :class:`~roomkit.errors.WaitTimeout` ("the server, handling 'join
room' on /chat, raised NameError ... cell In[7], line 4") and in
:func:`transcript`.
:meth:`RecordingClient.sync` is the barrier that makes "nothing arrived" a
sound assertion: it completes a round trip on the client's own connection, and
one connection delivers in order, so whatever the server sent that client
before answering has arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import socketio
from aiohttp import web

from roomkit.handler_errors import HandlerError, collect_handler_errors
from roomkit.processes import free_port
from roomkit.recording import (
    SYNC_EVENT,
    Received,
    RecordingClient,
    connect,
    expect_silence,
    server_errors_at,
    transcript,
)
from roomkit.redis_manager import close_redis_manager, start_listeners
from roomkit.server import close_connections

__all__ = [
    "SYNC_EVENT",
    "Received",
    "RecordingClient",
    "RunningServer",
    "connect",
    "expect_silence",
    "free_port",
    "serve",
    "serve_cluster",
    "start_server",
    "transcript",
]

SUBSCRIBE_TIMEOUT = 3.0
# Servers started with a name, so that starting one again (a notebook cell run
# twice) stops the first instead of leaving it listening, unreachable.
_named_servers: dict[str, RunningServer] = {}


def _sync_handler(namespace: str, sid: str, *args: Any) -> bool:
    return True


def _server_of(target: web.Application | socketio.AsyncServer) -> socketio.AsyncServer:
    if isinstance(target, socketio.AsyncServer):
        return target
    from roomkit.app import SERVER_KEY

    return target[SERVER_KEY]


@dataclass
class RunningServer:
    """A server listening on 127.0.0.1, started by :func:`start_server`.

    :attr url: ``http://127.0.0.1:<port>`` (or ``unix:<path>``), what clients connect to.
    :attr app: the ``aiohttp`` application being served.
    :attr sio: its Socket.IO server.
    :attr handler_errors: what its handlers raised so far.
    """

    url: str
    app: web.Application
    sio: socketio.AsyncServer
    _runner: web.AppRunner = field(repr=False)
    handler_errors: list[HandlerError] = field(default_factory=list, repr=False)
    stopped: bool = False
    _cleanup: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    async def stop(self) -> None:
        """Disconnect every client, stop background tasks and close the port.

        Safe to call twice. Cancelling the caller (an interrupted notebook cell)
        does not cancel the clean-up: it goes on in its own task until the port
        is closed, so an interrupt never leaves a half-stopped server behind.
        """
        self.stopped = True
        if self._cleanup is None:
            self._cleanup = asyncio.ensure_future(self._runner.cleanup())
        await asyncio.shield(self._cleanup)

    async def __aenter__(self) -> RunningServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


async def start_server(
    target: web.Application | socketio.AsyncServer | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    name: str | None = None,
    sock: socket.socket | None = None,
) -> RunningServer:
    """Serve ``target`` in the running event loop and return once it listens.

    :param target: an ``aiohttp`` application (for example from
        :func:`roomkit.create_app`) or a bare ``socketio.AsyncServer``, which is
        attached to a new application. Default: ``create_app()``.
    :param host: address to bind. Default ``"127.0.0.1"``.
    :param port: port to bind; 0 picks a free one. Default 0.
    :param name: a name for this server in this process: starting another
        server with the same name first stops this one, so a notebook cell that
        starts a server can run twice. Default None (no name).
    :param sock: serve on this listening Unix socket instead of ``host:port``
        (the URL is then ``unix:<its path>``, which :func:`connect` understands).
        Default None.
    """
    if name is not None and name in _named_servers:
        await _named_servers.pop(name).stop()
    if target is None:
        from roomkit.app import create_app
        from roomkit.settings import Settings

        target = create_app(Settings(metrics_interval=0))
    if isinstance(target, socketio.AsyncServer):
        app = web.Application()
        target.attach(app)
        bare_server = target

        async def close_bare_server(app: web.Application) -> None:
            await close_connections(bare_server)

        app.on_shutdown.append(close_bare_server)
    else:
        app = target
    sio = _server_of(target)
    # The barrier event of RecordingClient.sync(), answered on every namespace.
    sio.on(SYNC_EVENT, _sync_handler, namespace="*")
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site: web.BaseSite = (
        web.SockSite(runner, sock) if sock is not None else web.TCPSite(runner, host, port)
    )
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()  # setup already started the app's background tasks
        raise
    if sock is not None:
        url = f"unix:{sock.getsockname()}"
    else:
        url = f"http://{host}:{runner.addresses[0][1]}"
    errors = server_errors_at[url] = collect_handler_errors(sio)
    server = RunningServer(url, app, sio, runner, errors)
    if name is not None:
        _named_servers[name] = server
    return server


@contextlib.asynccontextmanager
async def serve(
    target: web.Application | socketio.AsyncServer | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
) -> AsyncIterator[RunningServer]:
    """``async with serve(app) as server:`` runs :func:`start_server` and stops on exit."""
    server = await start_server(target, host=host, port=port)
    try:
        yield server
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def serve_cluster(
    *servers: socketio.AsyncServer,
    timeout: float = SUBSCRIBE_TIMEOUT,
    socks: Sequence[socket.socket] | None = None,
) -> AsyncIterator[list[RunningServer]]:
    """Serve each server on a port of its own, with its Redis listener subscribed.

    ``async with serve_cluster(sio_a, sio_b) as (a, b):`` starts the servers
    (:func:`start_server`), starts the pub/sub listener of every
    ``socketio.AsyncRedisManager`` among them and waits until Redis has confirmed
    each subscription, so the first emit already crosses servers. On exit it stops
    the servers, then cancels the listeners and closes their Redis connections.
    Servers without a Redis manager are simply served.

    :param servers: fresh servers that no client has connected to yet.
    :param timeout: seconds to wait for the subscriptions. Default :data:`SUBSCRIBE_TIMEOUT`.
    :param socks: serve server ``i`` on listening Unix socket ``socks[i]``
        instead of a loopback port (see :func:`start_server`). Default None.
    :raises WaitTimeout: when Redis did not see every subscription in time.
    """
    running: list[RunningServer] = []
    try:
        for index, sio in enumerate(servers):
            listening = socks[index] if socks is not None else None
            running.append(await start_server(sio, sock=listening))
        await start_listeners(servers, timeout)
        yield running
    finally:
        for server in running:
            await server.stop()
        for sio in servers:
            if isinstance(sio.manager, socketio.AsyncRedisManager):
                await close_redis_manager(sio.manager)
