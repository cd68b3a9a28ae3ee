"""Recording clients: connect, call, wait for events, and say what arrived.

:func:`connect` makes a :class:`RecordingClient`, a Socket.IO client on one
namespace that records every event it receives; :func:`transcript` prints what
clients received, and :func:`expect_silence` asserts that nothing more came.
:mod:`roomkit.testing` serves the servers they connect to and re-exports all
of this, which is where tests and notebooks import it from.

What the server's handlers raised while handling a client's events (kept by
:func:`roomkit.handler_errors.collect_handler_errors`, registered here by the
server's URL in :data:`server_errors_at`) is told in that client's
:class:`~roomkit.errors.WaitTimeout` and in :func:`transcript`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import socketio

from roomkit.errors import ConnectRefused, WaitTimeout
from roomkit.handler_errors import HandlerError

__all__ = [
    "DEFAULT_TIMEOUT",
    "SYNC_EVENT",
    "Received",
    "RecordingClient",
    "connect",
    "expect_silence",
    "server_errors_at",
    "transcript",
]

SYNC_EVENT = "roomkit:sync"
DEFAULT_TIMEOUT = 3.0

# What the handlers of each server started by roomkit.testing raised, by the
# server's URL: a client only knows the URL it connected to.
server_errors_at: dict[str, list[HandlerError]] = {}


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
        # What the server's handlers raised (shared with the server), this
        # client's session ids, and how many of those errors were reported.
        self.server_errors: list[HandlerError] = []
        self.session_ids: set[str] = set()
        self._errors_reported = 0
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
                + self._server_raised()
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
                + self._server_raised()
            ) from None
        assert index is not None
        self._taken.add(index)
        return self.received[index].data

    def raised(self) -> list[HandlerError]:
        """What the server's handlers raised while handling this client's events."""
        return [error for error in self.server_errors if error.sid in self.session_ids]

    def _server_raised(self) -> str:
        # Each error is told once: a later timeout is not blamed on an old typo.
        mine = self.raised()
        fresh, self._errors_reported = mine[self._errors_reported :], len(mine)
        return "".join(f"; the server, {error.describe()}" for error in fresh)

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
        # A polling client whose session was closed under it (see
        # _disconnected) opens one of its own for its last requests.
        spare = self.sio.eio.http
        if spare is not None and spare is not self._http and not spare.closed:
            await spare.close()


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
    transports: Sequence[str] = ("websocket",),
) -> RecordingClient:
    """Connect a :class:`RecordingClient` (over websocket unless told otherwise).

    :param url: the server's URL, e.g. ``server.url``; ``unix:<path>`` for a
        server on a Unix socket (see :func:`roomkit.testing.start_server`).
    :param name: the client's label; also sent as ``auth.name`` unless ``auth``
        is given.
    :param namespace: the namespace to join. Default ``"/chat"``.
    :param auth: the handshake ``auth`` payload. Default ``{"name": name}``.
    :param timeout: seconds to wait for the namespace to accept. Default 3.
    :param transports: engine.io transports the client may use:
        ``("polling",)`` stays on long-polling, ``("polling", "websocket")``
        starts polling and upgrades. Default ``("websocket",)``.
    :raises ConnectRefused: with the server's reason when the namespace refuses.
    """
    unix_socket = url.removeprefix("unix:") if url.startswith("unix:") else None
    client = RecordingClient(name, namespace, unix_socket=unix_socket)
    client.server_errors = server_errors_at.get(url.rstrip("/"), [])
    before = len(client.server_errors)
    try:
        await client.sio.connect(
            "http://localhost" if unix_socket is not None else url,
            namespaces=[namespace],
            auth=dict(auth) if auth is not None else {"name": name},
            transports=list(transports),
            wait_timeout=timeout,
        )
    except socketio.exceptions.ConnectionError as error:
        await client.disconnect()
        raised = "".join(
            f"; the server, {failure.describe()}"
            for failure in client.server_errors[before:]
            if failure.doing.startswith("handling 'connect' on ")
        )
        raise ConnectRefused((client.refusal or str(error)) + raised) from None
    if client.sid is not None:
        client.session_ids.add(client.sid)
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
    """What each client received, one line per event, for printing in a notebook.

    After a client's events come the exceptions the server's handlers raised
    while handling that client's events (``!! the server, handling ...``).
    """
    lines = []
    width = max((len(client.name) for client in clients), default=0)
    for client in clients:
        if not client.received:
            lines.append(f"{client.name:<{width}}  (nothing)")
        for item in client.received:
            shown = ", ".join(repr(arg) for arg in item.args)
            lines.append(f"{client.name:<{width}}  <- {item.event}: {shown}")
        for error in client.raised():
            described = error.describe().replace("\n", "\n" + " " * (width + 2))
            lines.append(f"{client.name:<{width}}  !! the server, {described}")
    return "\n".join(lines)
