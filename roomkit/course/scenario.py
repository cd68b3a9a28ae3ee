"""The scenario driver: named clients that connect, emit and call, and what they saw.

An exercise test writes each check as a *scenario*, an ``async`` function of a
:class:`Stage`: clients connect (``stage.connect("alice", "/chat")``), emit and
call; nothing is asserted by hand. :mod:`roomkit.course.judge` runs the scenario
against the learner's server and the reference's and :mod:`roomkit.course.compare`
says how they differ. Every step is bounded in time. :class:`ObservedServer` is
the ``socketio.AsyncServer`` a scenario runs against: it keeps the exceptions
its handlers raise for the failure message instead of logging them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import socketio

from roomkit.course.implementations import Implementation
from roomkit.errors import ConnectRefused, WaitTimeout
from roomkit.handler_errors import HandlerError
from roomkit.testing import RecordingClient, connect

__all__ = [
    "CALL_TIMEOUT",
    "CONNECT_TIMEOUT",
    "NO_ANSWER",
    "RUN_TIMEOUT",
    "SERVER_NAMES",
    "Build",
    "HandlerError",
    "Install",
    "ObservedServer",
    "Scenario",
    "Stage",
    "scenario_text",
]

CALL_TIMEOUT = 1.0
CONNECT_TIMEOUT = 2.0
RUN_TIMEOUT = 8.0
SERVER_NAMES = "ABCDEFGH"

Install = Callable[[Implementation, socketio.AsyncServer], "Awaitable[None] | None"]
Scenario = Callable[["Stage"], Awaitable[None]]
# build(implementation, redis_url, server_name): an async context manager that yields
# one server of a cluster set up with the implementation's code, and on exit
# releases what it started (a store, for instance).
Build = Callable[[Implementation, str, str], AbstractAsyncContextManager[socketio.AsyncServer]]


class _Collect(logging.Handler):
    def __init__(self, errors: list[HandlerError]) -> None:
        super().__init__(logging.ERROR)
        self.errors = errors

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            doing = f"in python-socketio ({record.getMessage()})"
            self.errors.append(HandlerError(doing, record.exc_info[1]))


class ObservedServer(socketio.AsyncServer):  # type: ignore[misc]
    """A ``socketio.AsyncServer`` that collects the exceptions its handlers raise.

    python-socketio would log them (and, for an event handler, send no answer);
    here they are kept in :attr:`handler_errors` for the failure message and not
    printed. An event whose handler raised still gets no answer; a connect
    handler that raised refuses the connection at once instead of leaving the
    client waiting.
    """

    def __init__(self) -> None:
        self.handler_errors: list[HandlerError] = []
        # An unregistered logger: it never reaches the root logger's handlers.
        quiet = logging.Logger("roomkit.exercise")
        quiet.addHandler(_Collect(self.handler_errors))
        super().__init__(async_mode="aiohttp", logger=quiet, engineio_logger=quiet)

    async def _trigger_event(self, event: str, namespace: str, *args: Any) -> Any:
        try:
            return await super()._trigger_event(event, namespace, *args)
        except (socketio.exceptions.ConnectionRefusedError, ConnectionRefusedError):
            raise
        except Exception as error:
            if event == "connect" and isinstance(error, TypeError):
                raise  # python-socketio retries the legacy connect signature on TypeError
            self.handler_errors.append(HandlerError(f"handling {event!r} on {namespace}", error))
            if event == "connect":
                raise socketio.exceptions.ConnectionRefusedError(
                    "the server's connect handler raised an exception"
                ) from None
            return self.not_handled


class _NoAnswer:
    """What a call got when no answer came in time (compared like any answer)."""

    def __repr__(self) -> str:
        return "no answer"


NO_ANSWER: Any = _NoAnswer()


def _named(value: Any, sids: Mapping[str, str]) -> Any:
    """``value`` with each known sid replaced by ``<name id>``: sids differ from run to run."""
    if isinstance(value, str):
        return f"<{sids[value]} id>" if value in sids else value
    if isinstance(value, Mapping):
        return {_named(key, sids): _named(item, sids) for key, item in value.items()}
    if isinstance(value, list):
        return [_named(item, sids) for item in value]
    if isinstance(value, tuple):
        return tuple(_named(item, sids) for item in value)
    return value


def _shown(args: list[Any], sids: Mapping[str, str]) -> str:
    return "" if args == [] else " " + " ".join(repr(_named(arg, sids)) for arg in args)


def _shown_auth(auth: Mapping[str, Any]) -> dict[str, Any]:
    """``auth`` as a failure message shows it: long tokens shortened, because the
    course teaches never to echo secrets and signed tokens are unreadable anyway."""
    return {
        key: f"{value[:8]}..."
        if key == "token" and isinstance(value, str) and len(value) > 24
        else value
        for key, value in auth.items()
    }


def scenario_text(steps: Sequence[str]) -> str:
    """The steps of a scenario as a failure message shows them, with the default auth."""
    return "Scenario (a client connects with auth {'name': <its name>} unless shown): " + "; ".join(
        steps
    )


class Stage:
    """The clients of one scenario run, against one server or a cluster.

    A scenario gets a stage and acts through it; the stage records what happens.

    :param url: the server's URL, or the URLs of a cluster's servers (named
        A, B, ... in the scenario's steps).
    """

    def __init__(self, url: str | Sequence[str]) -> None:
        self.urls = [url] if isinstance(url, str) else list(url)
        self.clients: dict[str, RecordingClient] = {}
        self.namespaces: dict[str, str] = {}
        self.refusals: dict[str, str | None] = {}
        self.answers: dict[str, list[tuple[str, Any]]] = {}
        self.steps: list[str] = []
        self.sids: dict[str, str] = {}

    async def connect(
        self,
        name: str,
        namespace: str = "/",
        *,
        auth: Mapping[str, Any] | None = None,
        server: int = 0,
    ) -> bool:
        """Connect client ``name`` to ``namespace``; returns whether it was accepted.

        :param name: a new client name (one client is one namespace connection).
        :param namespace: the namespace. Default ``"/"``.
        :param auth: the handshake's ``auth``. Default ``{"name": name}``.
        :param server: which server of a cluster: 0 is A, 1 is B... Default 0.
        """
        if name in self.namespaces:
            raise ValueError(f"client {name!r} is already in this scenario")
        where = f" on server {SERVER_NAMES[server]}" if len(self.urls) > 1 else ""
        if auth is None:
            shown = ""  # the default, which scenario_text states once
        elif not auth:
            # python-socketio sends an empty auth as none: the connect handler gets None.
            shown = " with no auth (the connect handler gets auth=None)"
        else:
            shown = f" with auth {_shown_auth(auth)!r}"
        self.steps.append(f"{name} connects to {namespace}{where}{shown}")
        self.namespaces[name] = namespace
        self.answers[name] = []
        try:
            client = await connect(
                self.urls[server], name, namespace=namespace, auth=auth, timeout=CONNECT_TIMEOUT
            )
        except ConnectRefused as refusal:
            self.refusals[name] = refusal.reason
            return False
        self.refusals[name] = None
        self.clients[name] = client
        if client.sid is not None:
            self.sids[client.sid] = name
        return True

    def _client(self, name: str) -> RecordingClient | None:
        if name not in self.namespaces:
            raise ValueError(f"client {name!r} never connected in this scenario")
        return self.clients.get(name)

    async def call(self, name: str, event: str, *args: Any) -> Any:
        """``name`` emits ``event`` with ``args`` and waits for the answer (the ack).

        :returns: the answer, or ``NO_ANSWER`` when none came within
            :data:`CALL_TIMEOUT` seconds or the client is not connected.
        """
        shown = f"{event!r}{_shown(list(args), self.sids)}"
        self.steps.append(f"{name} emits {shown} (with ack)")
        client = self._client(name)
        answer = NO_ANSWER
        if client is not None and client.connected:
            try:
                answer = await client.call(event, *args, timeout=CALL_TIMEOUT)
            except WaitTimeout:
                answer = NO_ANSWER
        self.answers[name].append((shown, answer))
        return answer

    async def emit(self, name: str, event: str, *args: Any) -> None:
        """``name`` emits ``event`` with ``args``, asking for no answer, then the stage settles.

        Prefer :meth:`call` where the protocol answers: an answer proves the
        handler finished, while settling only proves that the server read the
        event (a handler that awaits something first may still be running).
        """
        self.steps.append(f"{name} emits {event!r}{_shown(list(args), self.sids)}")
        client = self._client(name)
        if client is not None and client.connected:
            await client.emit(event, *args)
        await self.settle()

    async def disconnect(self, name: str) -> None:
        """Client ``name`` disconnects (its sid stays known for the comparison)."""
        self.steps.append(f"{name} disconnects")
        client = self._client(name)
        if client is not None:
            await client.disconnect()

    async def await_event(self, name: str, event: str, timeout: float = CALL_TIMEOUT) -> None:
        """Let client ``name`` wait, at most ``timeout`` seconds, for its next ``event``.

        For what no call can sequence (a disconnect, a message from another
        server). It never fails by itself: an event that never comes just costs
        the wait, and the comparison with the reference then says what is missing.
        """
        client = self._client(name)
        if client is not None:
            with contextlib.suppress(WaitTimeout):
                await client.wait_for(event, timeout=timeout)

    async def settle(self) -> None:
        """Round trip on every connected client, so what the server sent so far has arrived."""
        for client in self.clients.values():
            if client.connected:
                # A server that stopped answering shows up in the comparison.
                with contextlib.suppress(WaitTimeout):
                    await client.sync(CALL_TIMEOUT)

    async def close(self) -> None:
        """Disconnect every client (the stage's owner stops the server)."""
        for client in self.clients.values():
            await client.disconnect()
