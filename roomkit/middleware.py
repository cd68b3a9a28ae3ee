"""Namespace middleware, the Python counterpart of Socket.IO's ``namespace.use()``.

In Node.js a namespace runs ``io.of('/admin').use((socket, next) => ...)``
functions, in order, before it accepts a connection; one that calls
``next(new Error('Unauthorized'))`` refuses it and the client's ``connect_error``
receives the message. python-socketio has a single ``connect`` handler instead.
:class:`MiddlewareNamespace` gives every namespace a chain::

    admin = MiddlewareNamespace("/admin")

    @admin.use
    def require_token(handshake: Handshake) -> None:
        if handshake.auth.get("token") != expected:
            raise Refused("Unauthorized")

A middleware is a plain or ``async`` function taking a :class:`Handshake`. It
lets the connection through by returning and refuses it by raising
:class:`~roomkit.errors.Refused`. It may store facts for later handlers in
``handshake.data`` (like ``socket.data`` in Node.js); they are saved in the
connection's session under ``"handshake"``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import socketio

from roomkit.environ import EnvironHeaders, EnvironQuery
from roomkit.errors import Refused
from roomkit.logthrottle import LogThrottle
from roomkit.settings import Limits

__all__ = ["Handshake", "Middleware", "MiddlewareNamespace", "run_middleware"]

logger = logging.getLogger("roomkit")

DEFAULT_LOG_INTERVAL = Limits().log_interval

Middleware = Callable[["Handshake"], "Awaitable[None] | None"]


@dataclass(slots=True)
class Handshake:
    """What a middleware knows about a connection that asks to join a namespace.

    :param sid: the session id the connection will have in the namespace.
    :param namespace: the namespace, e.g. ``"/admin"``.
    :param auth: the client's ``auth`` payload (``{}`` when it sent none or sent
        something other than an object).
    :param headers: HTTP headers of the handshake request, names lower-cased.
    :param remote_address: the peer's IP address (``""`` when unknown).
    :param query: the handshake URL's query parameters.
    :param data: facts middleware attach for later handlers. Default empty.
    """

    sid: str
    namespace: str
    auth: Mapping[str, Any]
    headers: Mapping[str, str]
    remote_address: str
    query: Mapping[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_environ(
        cls, sid: str, namespace: str, environ: Mapping[str, Any], auth: Any
    ) -> Handshake:
        """Build a handshake from python-socketio's WSGI-style ``environ``."""
        return cls(
            sid=sid,
            namespace=namespace,
            auth=auth if isinstance(auth, dict) else {},
            # Views, not copies: python-socketio keeps the environ for the
            # connection's life, and so does the session keep this handshake.
            headers=EnvironHeaders(environ),
            remote_address=str(environ.get("REMOTE_ADDR") or ""),
            query=EnvironQuery(environ),
        )


async def run_middleware(chain: Sequence[Middleware], handshake: Handshake) -> None:
    """Run ``chain`` in order; the first :class:`Refused` stops it and propagates."""
    for middleware in chain:
        result = middleware(handshake)
        if inspect.isawaitable(result):
            await result


class MiddlewareNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """A class-based namespace with a ``use()`` middleware chain.

    Subclasses put their connect logic in :meth:`on_accept`, which runs only for
    connections every middleware let through; ``on_connect`` is taken.

    :param namespace: the namespace's name, e.g. ``"/chat"``.
    """

    def __init__(self, namespace: str) -> None:
        super().__init__(namespace)
        self.middleware: list[Middleware] = []
        # Refusals are logged at a bounded rate: each wrong token guess or bad
        # handshake must not cost a log line.
        self.refusal_log = LogThrottle(logger, DEFAULT_LOG_INTERVAL)

    def use(self, middleware: Middleware) -> Middleware:
        """Append ``middleware`` to the chain; returns it, so it works as a decorator."""
        self.middleware.append(middleware)
        return middleware

    async def on_connect(self, sid: str, environ: Mapping[str, Any], auth: Any = None) -> None:
        handshake = Handshake.from_environ(sid, self.namespace, environ, auth)
        try:
            await run_middleware(self.middleware, handshake)
        except Refused as refusal:
            self.refusal_log.log(
                logging.INFO,
                "refused",
                "refused %s on %s from %s: %s",
                sid,
                self.namespace,
                handshake.remote_address or "?",
                refusal,
            )
            raise socketio.exceptions.ConnectionRefusedError(str(refusal)) from None
        except Exception:
            # python-socketio leaves a sid half-connected forever when a connect
            # handler raises anything but a refusal: refuse instead, and log it.
            logger.exception("middleware failed for %s on %s", sid, self.namespace)
            raise socketio.exceptions.ConnectionRefusedError("server error") from None
        await self.save_session(sid, {"handshake": handshake})
        await self.on_accept(sid, handshake)
        logger.info(
            "connect %s on %s from %s", sid, self.namespace, handshake.remote_address or "?"
        )

    async def on_accept(self, sid: str, handshake: Handshake) -> None:
        """Called once the chain accepted ``sid``. Default: nothing."""

    async def handshake(self, sid: str) -> Handshake:
        """The :class:`Handshake` that ``sid`` connected with."""
        session = await self.get_session(sid)
        result: Handshake = session["handshake"]
        return result
