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

Waiting is always for an event, with a timeout, never for a fixed time.
:meth:`RecordingClient.sync` is the barrier that makes "nothing arrived" a
sound assertion: it completes a round trip on the client's own connection, and
one connection delivers in order, so whatever the server sent that client
before answering has arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import socketio
from aiohttp import web

from roomkit.errors import ConnectRefused, WaitTimeout
from roomkit.processes import free_port
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

SYNC_EVENT = "roomkit:sync"
DEFAULT_TIMEOUT = 3.0
SUBSCRIBE_TIMEOUT = 3.0


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
    """

    url: str
    app: web.Application
    sio: socketio.AsyncServer
    _runner: web.AppRunner = field(repr=False)
    stopped: bool = False

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    async def stop(self) -> None:
        """Disconnect every client, stop background tasks and close the port.

        Safe to call twice.
        """
        if self.stopped:
            return
        self.stopped = True
        await self._runner.cleanup()

    async def __aenter__(self) -> RunningServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


async def start_server(
    target: web.Application | socketio.AsyncServer | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    sock: socket.socket | None = None,
) -> RunningServer:
    """Serve ``target`` in the running event loop and return once it listens.

    :param target: an ``aiohttp`` application (for example from
        :func:`roomkit.create_app`) or a bare ``socketio.AsyncServer``, which is
        attached to a new application. Default: ``create_app()``.
    :param host: address to bind. Default ``"127.0.0.1"``.
    :param port: port to bind; 0 picks a free one. Default 0.
    :param sock: serve on this listening Unix socket instead of ``host:port``
        (the URL is then ``unix:<its path>``, which :func:`connect` understands).
        Default None.
    """
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
        return RunningServer(f"unix:{sock.getsockname()}", app, sio, runner)
    bound_port = runner.addresses[0][1]
    return RunningServer(f"http://{host}:{bound_port}", app, sio, runner)


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


@dataclass(frozen=True, slots=True)
class Received:
    """One event a :class:`RecordingClient` received."""

    event: str
    args: tuple[Any, ...]

    @property
    def data(self) -> Any:
        """The payload: the single argument, None for none, a tuple for several."""
        if not self.args:
            return None
        return self.args[0] if len(self.args) == 1 else self.args


class RecordingClient:
    """A Socket.IO client on one namespace that records every event it receives.

    Build it with :func:`connect`.

    :param name: a label for transcripts and messages (e.g. ``"alice"``).
    :param namespace: the namespace it connects to.
    """

    def __init__(self, name: str, namespace: str, *, unix_socket: str | None = None) -> None:
        self.name = name
        self.namespace = namespace
        self.received: list[Received] = []
        self.refusal: str | None = None
        self._taken: set[int] = set()
        self._arrived = asyncio.Condition()
        # Our own HTTP session, closed in disconnect(): the one engine.io would
        # make is left open when the server ends the connection.
        # unix_socket: a server on a Unix socket (a sandboxed learner's server).
        connector = aiohttp.UnixConnector(unix_socket) if unix_socket is not None else None
        self._http = aiohttp.ClientSession(connector=connector)
        self.sio = socketio.AsyncClient(reconnection=False, http_session=self._http)
        self.sio.on("*", self._record, namespace=namespace)
        self.sio.on("connect_error", self._refused, namespace=namespace)
        self.sio.on("disconnect", self._disconnected, namespace=namespace)

    def __repr__(self) -> str:
        return f"<RecordingClient {self.name} on {self.namespace} sid={self.sid}>"

    async def _record(self, event: str, *args: Any) -> None:
        async with self._arrived:
            self.received.append(Received(event, args))
            self._arrived.notify_all()

    async def _disconnected(self, reason: Any = None) -> None:
        # The server may end the connection (e.g. a stopped notebook server)
        # before anyone calls disconnect(): release the HTTP session either way.
        await self._http.close()

    def _refused(self, data: Any = None) -> None:
        message = data.get("message") if isinstance(data, dict) else data
        self.refusal = str(message) if message is not None else "refused"

    @property
    def sid(self) -> str | None:
        """The session id in the namespace (None when not connected)."""
        sid: str | None = self.sio.get_sid(self.namespace)
        return sid

    @property
    def connected(self) -> bool:
        return self.sid is not None

    async def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` without asking for an ack (as most browser code does)."""
        await self.sio.emit(event, _pack(args), namespace=self.namespace)

    async def call(self, event: str, *args: Any, timeout: float = DEFAULT_TIMEOUT) -> Any:
        """Send ``event`` asking for an ack and return the server's answer.

        :raises WaitTimeout: when no ack comes back within ``timeout`` seconds.
        """
        try:
            return await self.sio.call(
                event, _pack(args), namespace=self.namespace, timeout=timeout
            )
        except socketio.exceptions.TimeoutError:
            raise WaitTimeout(
                f"{self.name} got no answer to {event!r} within {timeout:g} s"
            ) from None

    async def sync(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Round trip to the server, so everything it already sent us has arrived."""
        await self.call(SYNC_EVENT, timeout=timeout)

    def _first_untaken(self, event: str, where: Callable[[Any], bool] | None) -> int | None:
        for index, item in enumerate(self.received):
            if index in self._taken or item.event != event:
                continue
            if where is None or where(item.data):
                return index
        return None

    async def wait_for(
        self,
        event: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        where: Callable[[Any], bool] | None = None,
    ) -> Any:
        """Wait for the next ``event`` not returned before and return its payload.

        :param event: the event name.
        :param timeout: seconds to wait. Default 3.
        :param where: only accept payloads for which this returns True. Default: any.
        :raises WaitTimeout: naming what did arrive, when nothing matched in time.
        """
        index: int | None = None

        def ready() -> bool:
            nonlocal index
            index = self._first_untaken(event, where)
            return index is not None

        try:
            async with self._arrived:
                await asyncio.wait_for(self._arrived.wait_for(ready), timeout)
        except asyncio.TimeoutError:
            seen = ", ".join(sorted({item.event for item in self.received})) or "nothing"
            raise WaitTimeout(
                f"{self.name} did not receive {event!r} within {timeout:g} s (it received: {seen})"
            ) from None
        assert index is not None
        self._taken.add(index)
        return self.received[index].data

    def events(self, event: str | None = None) -> list[Any]:
        """Payloads received so far, of ``event`` only when given."""
        return [item.data for item in self.received if event in (None, item.event)]

    def unclaimed(self, event: str | None = None) -> list[Received]:
        """Events received but not yet returned by :meth:`wait_for`."""
        return [
            item
            for index, item in enumerate(self.received)
            if index not in self._taken and event in (None, item.event)
        ]

    def clear(self) -> None:
        """Forget what was received so far."""
        self.received.clear()
        self._taken.clear()

    async def disconnect(self) -> None:
        """Close the connection (safe when already closed)."""
        await self.sio.disconnect()
        await self._http.close()


def _pack(args: Sequence[Any]) -> Any:
    # python-socketio sends a tuple as several arguments and None as none, so
    # a lone None or tuple argument must travel inside a one-element tuple.
    if not args:
        return None
    if len(args) == 1 and not isinstance(args[0], (tuple, type(None))):
        return args[0]
    return tuple(args)


async def connect(
    url: str,
    name: str,
    *,
    namespace: str = "/chat",
    auth: Mapping[str, Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> RecordingClient:
    """Connect a :class:`RecordingClient` over websocket.

    :param url: the server's URL, e.g. ``server.url``; ``unix:<path>`` for a
        server on a Unix socket (see :func:`start_server`).
    :param name: the client's label; also sent as ``auth.name`` unless ``auth``
        is given.
    :param namespace: the namespace to join. Default ``"/chat"``.
    :param auth: the handshake ``auth`` payload. Default ``{"name": name}``.
    :param timeout: seconds to wait for the namespace to accept. Default 3.
    :raises ConnectRefused: with the server's reason when the namespace refuses.
    """
    unix_socket = url.removeprefix("unix:") if url.startswith("unix:") else None
    client = RecordingClient(name, namespace, unix_socket=unix_socket)
    try:
        await client.sio.connect(
            "http://localhost" if unix_socket is not None else url,
            namespaces=[namespace],
            auth=dict(auth) if auth is not None else {"name": name},
            transports=["websocket"],
            wait_timeout=timeout,
        )
    except socketio.exceptions.ConnectionError as error:
        await client.disconnect()
        raise ConnectRefused(client.refusal or str(error)) from None
    return client


async def expect_silence(
    *clients: RecordingClient, event: str | None = None, timeout: float = DEFAULT_TIMEOUT
) -> None:
    """Assert that no client received ``event`` (any event when None) beyond those
    already claimed by :meth:`RecordingClient.wait_for`.

    Each client first completes :meth:`RecordingClient.sync`, so anything the
    server sent it earlier has arrived: the check cannot pass by being early.

    :raises AssertionError: naming the client and what it received.
    """
    for client in clients:
        await client.sync(timeout)
        extra = client.unclaimed(event)
        if extra:
            shown = "; ".join(f"{item.event} {list(item.args)!r}" for item in extra)
            raise AssertionError(f"{client.name} should have received nothing, got: {shown}")


def transcript(*clients: RecordingClient) -> str:
    """What each client received, one line per event, for printing in a notebook."""
    lines = []
    width = max((len(client.name) for client in clients), default=0)
    for client in clients:
        if not client.received:
            lines.append(f"{client.name:<{width}}  (nothing)")
        for item in client.received:
            shown = ", ".join(repr(arg) for arg in item.args)
            lines.append(f"{client.name:<{width}}  <- {item.event}: {shown}")
    return "\n".join(lines)


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
