"""Exercise tests: one scenario, run against the learner's code and the reference, compared.

A test module in ``tests/exercises/`` writes each test as a *scenario*: named
clients connect, emit and call; nothing is asserted by hand. The harness runs
the scenario twice, each time on a fresh ``socketio.AsyncServer`` set up by
``install`` (once with the candidate, once with the reference), and compares,
client by client, the connection outcome, what each client received (in order)
and the answers to its calls. A difference fails the test with a sentence such
as::

    bob should have received 'user joined' ['<alice id>'] (the reference sends it);
    your server sent bob nothing

Session ids differ between runs, so every client's sid is replaced by
``<name id>`` before comparing, and error texts (the value of an ``"error"``
key) are not compared: only that there is one. Every step is bounded in time.

:func:`check_cluster_against_reference` does the same with several servers per
implementation (a cluster) that share a ``redis-server`` of their own, for
exercises about rooms that span servers; :func:`serve_cluster` is its way of
serving one cluster, and notebooks use it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import socketio
from redis.asyncio import Redis
from redis.asyncio.client import Monitor

from roomkit.errors import ConnectRefused, WaitTimeout
from roomkit.feedback import (
    BrokenTest,
    ExerciseFailure,
    ExerciseTimeout,
    NotSolved,
    describe_exception,
)
from roomkit.implementations import Implementation
from roomkit.redis_manager import RedisManager, cancel_and_wait
from roomkit.redis_process import RedisProcess, RedisProcessError
from roomkit.testing import RecordingClient, RunningServer, connect, start_server

__all__ = [
    "CALL_TIMEOUT",
    "CONNECT_TIMEOUT",
    "RUN_TIMEOUT",
    "SUBSCRIBE_TIMEOUT",
    "Build",
    "HandlerError",
    "Install",
    "Observed",
    "ObservedServer",
    "Scenario",
    "Stage",
    "check_against_reference",
    "check_cluster_against_reference",
    "compare",
    "serve_cluster",
]

CALL_TIMEOUT = 1.0
CONNECT_TIMEOUT = 2.0
RUN_TIMEOUT = 8.0
ANY_ERROR_TEXT = "<any error text>"
MAX_DIFFERENCES = 3
SUBSCRIBE_TIMEOUT = 3.0
SERVER_NAMES = "ABCDEFGH"

Install = Callable[[Implementation, socketio.AsyncServer], "Awaitable[None] | None"]
Scenario = Callable[["Stage"], Awaitable[None]]
# build(implementation, redis_url, server_name): an async context manager that yields
# one server of a cluster set up with the implementation's code, and on exit
# releases what it started (a store, for instance).
Build = Callable[[Implementation, str, str], AbstractAsyncContextManager[socketio.AsyncServer]]


@dataclass(frozen=True, slots=True)
class HandlerError:
    """An exception raised in the server: while doing what, and the exception.

    :param doing: e.g. ``"handling 'message' on /chat"``.
    :param error: the exception.
    """

    doing: str
    error: BaseException

    def describe(self) -> str:
        """One line, then the learner's frames."""
        return f"{self.doing}, raised {describe_exception(self.error)}"


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
    def __repr__(self) -> str:
        return "no answer"


NO_ANSWER: Any = _NoAnswer()


def _shown(args: Any) -> str:
    return "" if args == [] else " " + " ".join(repr(arg) for arg in args)


def _shown_auth(auth: Mapping[str, Any]) -> dict[str, Any]:
    """``auth`` as a failure message shows it: long tokens shortened, because the
    course teaches never to echo secrets and signed tokens are unreadable anyway."""
    return {
        key: f"{value[:8]}..."
        if key == "token" and isinstance(value, str) and len(value) > 24
        else value
        for key, value in auth.items()
    }


class Stage:
    """The clients of one scenario run, against one server or a cluster.

    A scenario gets a stage and acts through it; the stage records what happens.

    :param url: the server's URL, or the URLs of a cluster's servers (named
        A, B, ... in the scenario's steps).
    """

    def __init__(self, url: str | Sequence[str]) -> None:
        self.urls = [url] if isinstance(url, str) else list(url)
        self.url = self.urls[0]
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
        self.steps.append(
            f"{name} connects to {namespace}{where}"
            + (f" with auth {_shown_auth(auth)!r}" if auth else "")
        )
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
        self.steps.append(f"{name} emits {event!r}{_shown(list(args))} (with ack)")
        client = self._client(name)
        answer = NO_ANSWER
        if client is not None and client.connected:
            try:
                answer = await client.call(event, *args, timeout=CALL_TIMEOUT)
            except WaitTimeout:
                answer = NO_ANSWER
        self.answers[name].append((f"{event!r}{_shown(list(args))}", answer))
        return answer

    async def emit(self, name: str, event: str, *args: Any) -> None:
        """``name`` emits ``event`` with ``args``, asking for no answer, then the stage settles.

        Prefer :meth:`call` where the protocol answers: an answer proves the
        handler finished, while settling only proves that the server read the
        event (a handler that awaits something first may still be running).
        """
        self.steps.append(f"{name} emits {event!r}{_shown(list(args))}")
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


@dataclass
class Observed:
    """What one scenario run produced, normalized for comparison.

    :attr order: client names in the order they connected.
    :attr namespaces: each client's namespace.
    :attr refusals: the refusal reason of each refused client (None: accepted).
    :attr received: what each client received: ``(event, [arguments])`` in order.
    :attr answers: each client's calls and their answers, in order.
    :attr steps: what the scenario did, in words.
    :attr errors: exceptions raised by the server's handlers.
    """

    order: list[str]
    namespaces: dict[str, str]
    refusals: dict[str, str | None]
    received: dict[str, list[tuple[str, Any]]]
    answers: dict[str, list[tuple[str, Any]]]
    steps: list[str]
    errors: list[HandlerError] = field(default_factory=list)


def _normalize(value: Any, sids: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return f"<{sids[value]} id>" if value in sids else value
    if isinstance(value, Mapping):
        return {
            _normalize(key, sids): (
                ANY_ERROR_TEXT
                if key == "error" and isinstance(item, str)
                else _normalize(item, sids)
            )
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_normalize(item, sids) for item in value]
    return value


def _observe(stage: Stage, errors: list[HandlerError]) -> Observed:
    sids = stage.sids
    return Observed(
        order=list(stage.namespaces),
        namespaces=dict(stage.namespaces),
        refusals=dict(stage.refusals),
        received={
            name: [(item.event, _normalize(list(item.args), sids)) for item in client.received]
            for name, client in stage.clients.items()
        },
        answers={
            name: [(what, _normalize(answer, sids)) for what, answer in calls]
            for name, calls in stage.answers.items()
        },
        steps=list(stage.steps),
        errors=list(errors),
    )


@contextlib.contextmanager
def _setting_up(implementation: Implementation) -> Iterator[None]:
    """Turn what the implementation's set-up code raises into a readable failure."""
    try:
        yield
    except ExerciseFailure:
        raise
    except NotImplementedError as error:
        raise NotSolved(f"not solved yet: {error}") from None
    except Exception as error:  # the learner's code may raise anything
        raise ExerciseFailure(
            f"setting up a server with {implementation.label}'s code raised "
            + describe_exception(error)
        ) from None


async def _prepare(implementation: Implementation, install: Install) -> ObservedServer:
    sio = ObservedServer()
    with _setting_up(implementation):
        result = install(implementation, sio)
        if inspect.isawaitable(result):
            await result
    return sio


async def _run(sio: ObservedServer, scenario: Scenario) -> Observed:
    server = await start_server(sio)
    stage = Stage(server.url)
    try:
        await scenario(stage)
        await stage.settle()
        return _observe(stage, sio.handler_errors)
    finally:
        await stage.close()
        await server.stop()


async def check_against_reference(
    candidate: Implementation,
    reference: Implementation,
    install: Install,
    scenario: Scenario,
    *,
    timeout: float = RUN_TIMEOUT,
) -> None:
    """Run ``scenario`` against both implementations and fail on the first differences.

    :param candidate: the implementation under test (the ``impl`` fixture).
    :param reference: the reference (the ``reference`` fixture).
    :param install: ``install(implementation, sio)`` sets up a fresh server with
        one implementation's code, e.g. ``lambda impl, sio: impl.register_rooms(sio)``.
    :param scenario: ``async scenario(stage)``: what the clients do.
    :param timeout: seconds each run may take. Default :data:`RUN_TIMEOUT`.
    :raises NotSolved: when the candidate still raises ``NotImplementedError``.
    :raises ExerciseTimeout: when the run against the candidate does not finish in time.
    :raises ExerciseFailure: describing the differences, when there are any.
    :raises BrokenTest: when the reference itself fails (the test is broken).
    """
    candidate_sio = await _prepare(candidate, install)
    try:
        reference_sio = await _prepare(reference, install)
    except ExerciseFailure as error:
        raise BrokenTest(f"the reference cannot be set up: {error}") from None
    await _judge(_run(candidate_sio, scenario), _run(reference_sio, scenario), timeout)


async def _judge(
    candidate_run: Awaitable[Observed], reference_run: Awaitable[Observed], timeout: float
) -> None:
    """Run both concurrently, at most ``timeout`` seconds, and compare (see
    :func:`check_against_reference` for what it raises)."""
    runs = {
        "candidate": asyncio.ensure_future(candidate_run),
        "reference": asyncio.ensure_future(reference_run),
    }
    try:
        await asyncio.wait(runs.values(), timeout=timeout)
    finally:
        # Also when this test is cancelled: no run may outlive it.
        pending = {task for task in runs.values() if not task.done()}
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
    if runs["reference"] in pending:
        raise BrokenTest(f"the reference did not finish the scenario within {timeout:g} s")
    reference_error = runs["reference"].exception()
    if reference_error is not None:
        raise BrokenTest(f"the scenario fails against the reference: {reference_error!r}")
    expected = runs["reference"].result()
    if runs["candidate"] in pending:
        raise ExerciseTimeout(
            f"timed out: the scenario did not finish within {timeout:g} s against your server\n"
            f"Scenario: {'; '.join(expected.steps)}"
        )
    candidate_error = runs["candidate"].exception()
    if isinstance(candidate_error, ExerciseFailure):  # e.g. a cluster's set-up: already readable
        raise candidate_error
    if candidate_error is not None:
        raise ExerciseFailure(
            "the scenario broke against your server: " + describe_exception(candidate_error)
        )
    compare(expected, runs["candidate"].result())


def _event(item: tuple[str, Any]) -> str:
    return f"{item[0]!r} {item[1]!r}"


def _received_differences(name: str, expected: list[Any], actual: list[Any]) -> list[str]:
    if expected == actual:
        return []
    if Counter(map(repr, expected)) == Counter(map(repr, actual)):
        return [
            f"{name} received the right events in another order: the reference sends "
            f"{', '.join(map(_event, expected))}; your server sent "
            f"{', '.join(map(_event, actual))}"
        ]
    missing = list(expected)
    extra: list[Any] = []
    for item in actual:
        if item in missing:
            missing.remove(item)
        else:
            extra.append(item)
    lines = []
    for item in missing:
        same_event = [other for other in extra if other[0] == item[0]]
        if same_event:
            extra.remove(same_event[0])
            lines.append(
                f"{name} should have received {_event(item)} (the reference sends it); "
                f"your server sent {_event(same_event[0])}"
            )
        elif not actual:
            lines.append(
                f"{name} should have received {_event(item)} (the reference sends it); "
                f"your server sent {name} nothing"
            )
        else:
            lines.append(
                f"{name} should have received {_event(item)} (the reference sends it); "
                "your server did not send it"
            )
    lines.extend(
        f"{name} should not have received {_event(item)} (the reference does not send it)"
        for item in extra
    )
    return lines


def _answer_differences(
    name: str, expected: list[tuple[str, Any]], actual: list[tuple[str, Any]]
) -> list[str]:
    lines = []
    for (what, want), (_, got) in zip(expected, actual, strict=False):
        if want == got:
            continue
        if got is NO_ANSWER:
            shown = f"did not answer within {CALL_TIMEOUT:g} s"
        else:
            shown = f"answered {got!r}"
        want_shown = "get no answer" if want is NO_ANSWER else f"be answered {want!r}"
        lines.append(
            f"{name}'s {what} should {want_shown} (as with the reference); your server {shown}"
        )
    return lines


def _connection_differences(name: str, namespace: str, want: str | None, got: str | None) -> str:
    if want == got:
        return ""
    if want is None:
        return (
            f"{name}'s connection to {namespace} should be accepted (the reference accepts it); "
            f"your server refused it ({got!r})"
        )
    if got is None:
        return (
            f"{name}'s connection to {namespace} should be refused with {want!r} "
            "(the reference refuses it); your server accepted it"
        )
    return (
        f"{name}'s connection to {namespace} should be refused with {want!r}; "
        f"your server refused it with {got!r}"
    )


def compare(expected: Observed, actual: Observed) -> None:
    """Fail when ``actual`` (the candidate's run) differs from ``expected`` (the reference's).

    :raises ExerciseFailure: listing the first differences, the scenario, and the
        exceptions the candidate's handlers raised.
    """
    lines: list[str] = []
    for name in expected.order:
        namespace = expected.namespaces[name]
        connection = _connection_differences(
            name, namespace, expected.refusals.get(name), actual.refusals.get(name)
        )
        if connection:
            lines.append(connection)
            continue
        lines.extend(
            _received_differences(
                name, expected.received.get(name, []), actual.received.get(name, [])
            )
        )
        lines.extend(
            _answer_differences(name, expected.answers.get(name, []), actual.answers.get(name, []))
        )
    if not lines:
        return
    shown = lines[:MAX_DIFFERENCES]
    hidden = len(lines) - MAX_DIFFERENCES
    if hidden > 0:
        shown.append(f"(and {hidden} more difference{'s' if hidden > 1 else ''})")
    message = [*shown, f"Scenario: {'; '.join(expected.steps)}"]
    errors = list(dict.fromkeys(error.describe() for error in actual.errors))
    message.extend(f"Your server, {error}" for error in errors[:2])
    raise ExerciseFailure("\n".join(message))


# -- clusters: several servers that share one Redis ---------------------------------


def _listens_to_redis(sio: socketio.AsyncServer) -> bool:
    manager = sio.manager
    return isinstance(manager, socketio.AsyncRedisManager) and not manager.write_only


async def _subscriptions(monitor: Monitor, expected: Counter[str]) -> None:
    """Read Redis's MONITOR stream until it has shown ``expected`` SUBSCRIBEs per channel."""
    while +expected:  # unary plus keeps the positive counts
        words = (await monitor.next_command())["command"].split()
        if words and words[0].upper() == "SUBSCRIBE":
            expected.subtract(words[1:])


async def _start_listeners(servers: Sequence[socketio.AsyncServer], timeout: float) -> None:
    """Start each server's Redis listener now; return once Redis has run every SUBSCRIBE.

    python-socketio starts the listener when the first client connects, and says
    nothing once it has subscribed; an emit published before then never reaches
    that server. Redis's MONITOR stream shows each SUBSCRIBE as Redis runs it, so
    waiting for them is waiting for an event, not for time.
    """
    by_url: dict[str, list[socketio.AsyncServer]] = {}
    for sio in filter(_listens_to_redis, servers):
        if sio.manager_initialized:
            raise RuntimeError("start the Redis listeners before any client connects")
        by_url.setdefault(sio.manager.redis_url, []).append(sio)
    for url, group in by_url.items():
        client = Redis.from_url(url)
        try:
            async with client.monitor() as monitor:
                for sio in group:  # what python-socketio does on a first connection:
                    sio.manager_initialized = True
                    sio.manager.initialize()
                expected = Counter(sio.manager.channel for sio in group)
                try:
                    await asyncio.wait_for(_subscriptions(monitor, expected), timeout)
                except asyncio.TimeoutError:
                    raise WaitTimeout(
                        f"{sum(expected.values())} of {len(group)} Redis listeners did not "
                        f"subscribe within {timeout:g} s"
                    ) from None
        finally:
            await client.aclose()


async def _stop_listeners(servers: Sequence[socketio.AsyncServer]) -> None:
    """Cancel each Redis manager's listener and close its connections, the publishing
    one of a write-only manager too (python-socketio leaves them open after the
    server stops)."""
    for manager in (sio.manager for sio in servers):
        if not isinstance(manager, socketio.AsyncRedisManager):
            continue
        if isinstance(manager, RedisManager):
            await manager.stop()
            continue
        listener = getattr(manager, "thread", None)
        if listener is not None:
            await cancel_and_wait(listener)
        if manager.pubsub is not None:
            await manager.pubsub.aclose()
        if manager.redis is not None:
            await manager.redis.aclose()
        manager.connected = False


@contextlib.asynccontextmanager
async def serve_cluster(
    *servers: socketio.AsyncServer, timeout: float = SUBSCRIBE_TIMEOUT
) -> AsyncIterator[list[RunningServer]]:
    """Serve each server on a port of its own, with its Redis listener subscribed.

    ``async with serve_cluster(sio_a, sio_b) as (a, b):`` starts the servers
    (:func:`roomkit.testing.start_server`), starts the pub/sub listener of every
    ``socketio.AsyncRedisManager`` among them and waits until Redis has confirmed
    each subscription, so the first emit already crosses servers. On exit it stops
    the servers, then cancels the listeners and closes their Redis connections.
    Servers without a Redis manager are simply served.

    :param servers: fresh servers that no client has connected to yet.
    :param timeout: seconds to wait for the subscriptions. Default :data:`SUBSCRIBE_TIMEOUT`.
    :raises WaitTimeout: when Redis did not see every subscription in time.
    """
    running: list[RunningServer] = []
    try:
        for sio in servers:
            running.append(await start_server(sio))
        await _start_listeners(servers, timeout)
        yield running
    finally:
        for server in running:
            await server.stop()
        await _stop_listeners(servers)


def _check_redis_url(servers: Sequence[socketio.AsyncServer], redis_url: str) -> None:
    for name, manager in zip(SERVER_NAMES, [sio.manager for sio in servers], strict=False):
        if isinstance(manager, socketio.AsyncRedisManager) and manager.redis_url != redis_url:
            raise ExerciseFailure(
                f"server {name}'s Redis manager connects to {manager.redis_url!r}, not to the "
                f"redis_url your code was given ({redis_url!r})"
            )


async def _run_cluster(
    implementation: Implementation, build: Build, redis_url: str, size: int, scenario: Scenario
) -> Observed:
    async with contextlib.AsyncExitStack() as built:
        servers = []
        for name in SERVER_NAMES[:size]:
            with _setting_up(implementation):
                sio = await built.enter_async_context(build(implementation, redis_url, name))
            if not isinstance(sio, socketio.AsyncServer):
                raise ExerciseFailure(
                    f"{implementation.label}'s code gave {type(sio).__name__}, "
                    "not a socketio.AsyncServer"
                )
            servers.append(sio)
        _check_redis_url(servers, redis_url)
        async with serve_cluster(*servers) as running:
            stage = Stage([server.url for server in running])
            try:
                await scenario(stage)
                await stage.settle()
                errors = [error for sio in servers for error in getattr(sio, "handler_errors", [])]
                return _observe(stage, errors)
            finally:
                await stage.close()


async def check_cluster_against_reference(
    candidate: Implementation,
    reference: Implementation,
    build: Build,
    scenario: Scenario,
    *,
    servers: int = 2,
    timeout: float = RUN_TIMEOUT,
) -> None:
    """Like :func:`check_against_reference`, with a cluster per implementation.

    Each implementation gets ``servers`` servers and a fresh ``redis-server`` of
    its own (a pub/sub channel spans a whole Redis, so one Redis for both
    clusters would mix their emits). The scenario connects clients to a server
    with ``stage.connect(..., server=1)``.

    :param candidate: the implementation under test (the ``impl`` fixture).
    :param reference: the reference (the ``reference`` fixture).
    :param build: see :data:`Build`; called once per server.
    :param scenario: ``async scenario(stage)``: what the clients do.
    :param servers: servers per cluster, at most 8. Default 2.
    :param timeout: seconds each run may take. Default :data:`RUN_TIMEOUT`.
    :raises BrokenTest: also when no ``redis-server`` can be started.
    """
    async with contextlib.AsyncExitStack() as redis:
        try:
            urls = [await redis.enter_async_context(RedisProcess()) for _ in range(2)]
        except RedisProcessError as error:
            raise BrokenTest(f"this exercise needs redis-server: {error}") from None
        await _judge(
            _run_cluster(candidate, build, urls[0].url, servers, scenario),
            _run_cluster(reference, build, urls[1].url, servers, scenario),
            timeout,
        )
