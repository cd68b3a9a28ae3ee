"""HTTP and engine.io hardening below the Socket.IO layer.

python-engineio leaves four gaps that roomkit closes here:

* its aiohttp driver reports every peer as ``127.0.0.1`` and lets any client
  set ``X-Forwarded-Proto``/``X-Forwarded-Host``, which feed its same-origin
  check; :class:`RoomkitEngineServer` takes the address from the TCP peer and
  honours ``X-Forwarded-*`` only from configured proxies;
* after a bad polling POST (too long, or a packet type a client may not send)
  it disconnects the session and *waits for the client to poll the close
  packet*, which a client that never polls again never does, so the request
  handler hangs forever; :class:`RoomkitEngineServer` closes without waiting;
* a polling session that stops polling (or never starts) stays connected
  until the heartbeat gives up, 45 s or more; :class:`RoomkitEngineServer`
  closes it after ``max_poll_gap`` seconds without a GET request open;
* it trusts the ``Host`` header, so a page on a rebound DNS name passes the
  same-origin check; :func:`host_guard` refuses requests for other names.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import engineio
from aiohttp import web
from aiohttp.typedefs import Middleware

from roomkit.environ import interned
from roomkit.logthrottle import LogThrottle

__all__ = ["RoomkitEngineServer", "client_address", "host_allowed", "host_guard"]

logger = logging.getLogger("roomkit")

_FORWARDED_PREFIX = "HTTP_X_FORWARDED_"


def client_address(peer: str, forwarded_for: str | None, trusted_proxies: Collection[str]) -> str:
    """The client's address as far as the trusted chain can vouch for it.

    :param peer: the TCP peer's address.
    :param forwarded_for: the ``X-Forwarded-For`` header, or None.
    :param trusted_proxies: addresses of the reverse proxies in front of the
        server; ``X-Forwarded-For`` is read only when ``peer`` is one of them.
    :returns: the rightmost address of the chain that is not a trusted proxy
        (anything left of it may be forged by the client), else ``peer``.
    """
    if peer not in trusted_proxies or not forwarded_for:
        return peer
    for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
        if hop and hop not in trusted_proxies:
            return hop
    return peer


class _QuietExceptions(logging.LoggerAdapter):  # type: ignore[type-arg]
    """python-engineio's logger, whose ``exception()`` lines (a full traceback
    each, for input any client can send) become one throttled WARNING line of
    roomkit's per kind; the traceback only at DEBUG."""

    def __init__(self, engine_logger: Any, throttle: LogThrottle) -> None:
        super().__init__(engine_logger, {})
        self.throttle = throttle

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        problem = sys.exc_info()[1]
        self.throttle.log(
            logging.WARNING,
            f"engine.io {msg}",  # python-engineio's messages are a fixed few
            "engine.io: %s (%s: %.80s)",
            msg,
            type(problem).__name__,
            str(problem),
        )
        logger.debug("engine.io: %s", msg, exc_info=True)


class RoomkitEngineServer(engineio.AsyncServer):  # type: ignore[misc]
    """``engineio.AsyncServer`` with real peer addresses and non-blocking closes.

    Takes the arguments of ``engineio.AsyncServer`` (aiohttp mode only), plus:

    :param trusted_proxies: addresses whose ``X-Forwarded-*`` headers are
        believed. Default empty: such headers are dropped from every request.
    :param max_poll_gap: seconds a long-polling session may have no GET request
        open before it is closed. Default 10.
    :param log_interval: seconds between two log lines of one kind of error
        python-engineio reports with a traceback (a polling POST it cannot
        decode writes one per request). Default 10.
    """

    def __init__(
        self,
        *args: Any,
        trusted_proxies: Collection[str] = (),
        max_poll_gap: float = 10.0,
        log_interval: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.logger = _QuietExceptions(
            self.logger,  # type: ignore[has-type]
            LogThrottle(logger, log_interval),
        )
        self.trusted_proxies = frozenset(trusted_proxies)
        self.max_poll_gap = max_poll_gap
        # Per polling session: GET requests open now, and since when none is.
        self._polls_open: dict[str, int] = {}
        self._poll_idle_since: dict[str, float] = {}
        # `_async` is the driver module's own dict, shared by every server:
        # copy it before replacing the request translation.
        driver: dict[str, Any] = dict(self._async)  # type: ignore[has-type]
        self._translate_driver = driver["translate_request"]
        driver["translate_request"] = self._translate
        self._async = driver

    def _translate(self, request: web.Request) -> dict[str, Any]:
        environ: dict[str, Any] = interned(self._translate_driver(request))
        peer = request.remote or ""
        if peer in self.trusted_proxies:
            environ["REMOTE_ADDR"] = client_address(
                peer, environ.get("HTTP_X_FORWARDED_FOR"), self.trusted_proxies
            )
            return environ
        # Not from a proxy we know: such headers are whatever the client wants.
        for key in [key for key in environ if key.startswith(_FORWARDED_PREFIX)]:
            del environ[key]
        environ.pop("HTTP_FORWARDED", None)
        environ["REMOTE_ADDR"] = peer
        environ["wsgi.url_scheme"] = request.scheme
        return environ

    async def handle_request(self, *args: Any, **kwargs: Any) -> Any:
        request: web.Request = args[0]
        sid = request.query.get("sid")
        # Only polls of sessions that exist are counted: any sid may be sent.
        polls = request.method == "GET" and "upgrade" not in request.headers
        if sid is None or not polls or sid not in self.sockets:
            return await super().handle_request(*args, **kwargs)
        self._polls_open[sid] = self._polls_open.get(sid, 0) + 1
        try:
            return await super().handle_request(*args, **kwargs)
        finally:
            self._polls_open[sid] -= 1
            if not self._polls_open[sid]:
                del self._polls_open[sid]
                self._poll_idle_since[sid] = time.monotonic()

    # python-engineio runs this from the first connection until shutdown.
    async def _service_task(self) -> None:
        sweeper = asyncio.ensure_future(self._close_idle_polling())
        try:
            await super()._service_task()
        finally:
            sweeper.cancel()

    async def _close_idle_polling(self) -> None:
        """Close polling sessions that have had no GET open for ``max_poll_gap``
        seconds: a client that stopped polling, or never started. python-engineio
        notices them only through the heartbeat, 45 s or more later."""
        while True:
            await asyncio.sleep(self.max_poll_gap / 2)  # a sweep's pace, not a wait
            now = time.monotonic()
            for sid, socket in list(self.sockets.items()):
                if socket.upgraded or socket.upgrading or sid in self._polls_open:
                    continue
                since = self._poll_idle_since.setdefault(sid, now)
                if now - since > self.max_poll_gap:
                    await self.disconnect(sid)
            for sid in self._poll_idle_since.keys() - self.sockets.keys():
                del self._poll_idle_since[sid]

    async def disconnect(self, sid: str | None = None) -> None:
        """Close one session without waiting for its client to collect the close
        packet (python-engineio waits forever for a polling client that stopped
        polling); ``sid=None`` closes all, as python-engineio does."""
        if sid is None:
            await super().disconnect()
            return
        socket = self.sockets.pop(sid, None)
        if socket is None or socket.closed:
            return
        await socket.close(wait=False, reason=self.reason.SERVER_DISCONNECT)
        # Ends a websocket's writer, and a pending poll, after the close packet.
        await socket.queue.put(None)


def _hostname(host_header: str) -> str:
    """The name part of a ``Host`` header (``[::1]:80`` -> ``::1``), lower-cased."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    name, _, port = host.rpartition(":")
    return name if name and port.isdigit() else host


def host_allowed(host_header: str, allowed_hosts: Collection[str]) -> bool:
    """Whether a request's ``Host`` header names this server.

    :param host_header: the header's value (``name`` or ``name:port``).
    :param allowed_hosts: names the server answers to; ``"*"`` allows any. IP
        address literals and ``localhost`` are always allowed: a DNS rebinding
        attack needs a name of its own, and the server's addresses are its own.
    """
    if "*" in allowed_hosts:
        return True
    name = _hostname(host_header)
    if name == "localhost" or name in {each.lower() for each in allowed_hosts}:
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def host_guard(allowed_hosts: Collection[str]) -> Middleware:
    """An aiohttp middleware answering 421 to requests whose ``Host`` is not ours.

    :param allowed_hosts: see :func:`host_allowed`.
    """
    allowed = frozenset(allowed_hosts)

    @web.middleware
    async def check_host(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not host_allowed(request.headers.get("Host", ""), allowed):
            return web.Response(status=421, text="misdirected request: unknown host name\n")
        return await handler(request)

    return check_host
