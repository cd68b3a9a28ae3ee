"""The judge: run one scenario against the learner's server and the reference's, and compare.

:func:`check_against_reference` builds a fresh :class:`~roomkit.course.scenario.ObservedServer`
per implementation with the test's ``install``, runs the scenario on both at
once, each bounded in time, and fails with :func:`roomkit.course.compare.compare`'s
sentences on the first differences. :func:`check_cluster_against_reference`
does the same with several servers per implementation sharing a ``redis-server``
of their own, for exercises about rooms that span servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Iterator, Sequence

import socketio

from roomkit.course.compare import Observed, compare, normalize
from roomkit.course.failures import (
    BrokenTest,
    ExerciseFailure,
    ExerciseTimeout,
    NotSolved,
    describe_exception,
)
from roomkit.course.implementations import Implementation
from roomkit.course.recording import RecordedReference, Reference, ReferenceRecorder
from roomkit.course.remote_implementation import RemoteImplementation
from roomkit.course.scenario import (
    RUN_TIMEOUT,
    SERVER_NAMES,
    Build,
    HandlerError,
    Install,
    ObservedServer,
    Scenario,
    Stage,
    scenario_text,
)
from roomkit.processes import RedisProcess, RedisProcessError
from roomkit.testing import serve_cluster, start_server

__all__ = [
    "build_cluster",
    "check_against_reference",
    "check_cluster_against_reference",
    "check_redis_url",
    "prepare_server",
    "setting_up",
]


def _named(text: str, sids: dict[str, str]) -> str:
    """``text`` (a step, a call) with each sid in it written ``<name id>``: sids differ
    from run to run, and a recording must not."""
    for sid, name in sids.items():
        text = text.replace(sid, f"<{name} id>")
    return text


def _observe(stage: Stage, errors: list[HandlerError]) -> Observed:
    sids = stage.sids
    return Observed(
        order=list(stage.namespaces),
        namespaces=dict(stage.namespaces),
        refusals=dict(stage.refusals),
        received={
            name: [(item.event, normalize(list(item.args), sids)) for item in client.received]
            for name, client in stage.clients.items()
        },
        answers={
            name: [(_named(what, sids), normalize(answer, sids)) for what, answer in calls]
            for name, calls in stage.answers.items()
        },
        steps=[_named(step, sids) for step in stage.steps],
        errors=list(errors),
    )


@contextlib.contextmanager
def setting_up(implementation: Implementation) -> Iterator[None]:
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


async def prepare_server(implementation: Implementation, install: Install) -> ObservedServer:
    """A fresh :class:`ObservedServer` set up by ``install`` with ``implementation``'s code."""
    sio = ObservedServer()
    with setting_up(implementation):
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


def _live(reference: Reference) -> Implementation | None:
    """The implementation to run on the reference side; None when it is replayed."""
    if isinstance(reference, RecordedReference):
        return None
    return reference.implementation if isinstance(reference, ReferenceRecorder) else reference


def _reference_run(reference: Reference, run: Awaitable[Observed] | None) -> Awaitable[Observed]:
    """The reference side: the live ``run`` (kept when recording), or the recording."""
    if isinstance(reference, RecordedReference):
        return reference.replay()
    assert run is not None  # _live gave an implementation to run
    return reference.keep(run) if isinstance(reference, ReferenceRecorder) else run


async def check_against_reference(
    candidate: Implementation,
    reference: Reference,
    install: Install,
    scenario: Scenario,
    *,
    timeout: float = RUN_TIMEOUT,
) -> None:
    """Run ``scenario`` against both implementations and fail on the first differences.

    :param candidate: the implementation under test (the ``impl`` fixture).
    :param reference: the reference (the ``reference`` fixture): live, recorded, or
        recording (see :mod:`roomkit.course.recording`).
    :param install: ``install(implementation, sio)`` sets up a fresh server with
        one implementation's code, e.g. ``lambda impl, sio: impl.register_rooms(sio)``.
    :param scenario: ``async scenario(stage)``: what the clients do.
    :param timeout: seconds each run may take. Default :data:`RUN_TIMEOUT`.
    :raises NotSolved: when the candidate still raises ``NotImplementedError``.
    :raises ExerciseTimeout: when the run against the candidate does not finish in time.
    :raises ExerciseFailure: describing the differences, when there are any.
    :raises BrokenTest: when the reference itself fails (the test is broken).
    """
    if isinstance(candidate, RemoteImplementation):
        candidate.load()  # not solved, or its cells fail: say so before any run
        candidate_run = _run_remote(candidate, install, 0, scenario, timeout)
    else:
        candidate_run = _run(await prepare_server(candidate, install), scenario)
    live = _live(reference)
    reference_run = None
    if live is not None:
        try:
            reference_run = _run(await prepare_server(live, install), scenario)
        except ExerciseFailure as error:
            candidate_run.close()
            raise BrokenTest(f"the reference cannot be set up: {error}") from None
    await _judge(candidate_run, _reference_run(reference, reference_run), timeout)


async def _run_remote(
    candidate: RemoteImplementation,
    function: Install | Build,
    servers: int,
    scenario: Scenario,
    timeout: float,
) -> Observed:
    """Run ``scenario`` against servers in the candidate's host (see
    :meth:`~roomkit.course.remote.CandidateHost.serve` for ``servers``).

    Its requests wait as long as the whole run may take: a host that stops
    answering (a blocked event loop) runs out the run's own time limit.
    """
    host = candidate.host
    assert host is not None
    try:
        served = await host.serve(candidate, function, servers, timeout)
    except (ExerciseFailure, BrokenTest):
        raise  # the host answered: it is in order for the next test
    except BaseException:
        host.kill()
        raise
    stage = Stage(served.urls)
    try:
        try:
            await scenario(stage)
            await stage.settle()
            # Observed before the clients leave: their goodbyes are not part of the scenario.
            observed = _observe(stage, await served.errors(timeout))
        finally:
            await stage.close()
        await served.stop()
    except BaseException:
        # Cancelled (out of time) or broken, up to and including the servers'
        # stop (a handler blocking on disconnect holds it): whatever state the
        # host is in, the next test starts a fresh one.
        host.kill()
        raise
    host.kill_if_forked()
    return observed


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
    if isinstance(reference_error, BrokenTest):  # e.g. a stale recording: already says why
        raise reference_error
    if reference_error is not None:
        raise BrokenTest(f"the scenario fails against the reference: {reference_error!r}")
    expected = runs["reference"].result()
    if expected.errors:
        # A reference that raises passes nothing on: both servers would stay silent alike.
        raise BrokenTest(f"the reference's server, {expected.errors[0].describe()}")
    if runs["candidate"] in pending:
        raise ExerciseTimeout(
            f"timed out: the scenario did not finish within {timeout:g} s against your server "
            "(is a handler blocking the event loop: time.sleep, a loop that never awaits?)\n"
            + scenario_text(expected.steps)
        )
    candidate_error = runs["candidate"].exception()
    if isinstance(candidate_error, ExerciseFailure):  # e.g. a cluster's set-up: already readable
        raise candidate_error
    if candidate_error is not None:
        raise ExerciseFailure(
            "the scenario broke against your server: " + describe_exception(candidate_error)
        )
    compare(expected, runs["candidate"].result())


def check_redis_url(servers: Sequence[socketio.AsyncServer], redis_url: str) -> None:
    for name, manager in zip(SERVER_NAMES, [sio.manager for sio in servers], strict=False):
        if isinstance(manager, socketio.AsyncRedisManager) and manager.redis_url != redis_url:
            raise ExerciseFailure(
                f"server {name}'s Redis manager connects to {manager.redis_url!r}, not to the "
                f"redis_url your code was given ({redis_url!r})"
            )


async def build_cluster(
    implementation: Implementation,
    build: Build,
    redis_url: str,
    size: int,
    built: contextlib.AsyncExitStack,
) -> list[socketio.AsyncServer]:
    """``size`` servers built with ``implementation``'s code, released by ``built``.

    :raises ExerciseFailure: when the code raises, or gives something else than
        servers sharing ``redis_url``.
    """
    servers = []
    for name in SERVER_NAMES[:size]:
        with setting_up(implementation):
            sio = await built.enter_async_context(build(implementation, redis_url, name))
        if not isinstance(sio, socketio.AsyncServer):
            raise ExerciseFailure(
                f"{implementation.label}'s code gave {type(sio).__name__}, "
                "not a socketio.AsyncServer"
            )
        servers.append(sio)
    check_redis_url(servers, redis_url)
    return servers


async def _run_cluster(
    implementation: Implementation, build: Build, redis_url: str, size: int, scenario: Scenario
) -> Observed:
    async with contextlib.AsyncExitStack() as built:
        servers = await build_cluster(implementation, build, redis_url, size, built)
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
    reference: Reference,
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
    :param reference: the reference (the ``reference`` fixture), see
        :func:`check_against_reference`.
    :param build: see :data:`Build`; called once per server.
    :param scenario: ``async scenario(stage)``: what the clients do.
    :param servers: servers per cluster, at most 8. Default 2.
    :param timeout: seconds each run may take. Default :data:`RUN_TIMEOUT`.
    :raises BrokenTest: also when no ``redis-server`` can be started.
    """
    remote = isinstance(candidate, RemoteImplementation)
    if isinstance(candidate, RemoteImplementation):
        candidate.load()
    live = _live(reference)
    async with contextlib.AsyncExitStack() as redis:
        try:
            # A sealed candidate starts its redis-server in its own sandbox; a
            # recorded reference needs none.
            wanted = int(not remote) + int(live is not None)
            urls = [await redis.enter_async_context(RedisProcess()) for _ in range(wanted)]
        except RedisProcessError as error:
            raise BrokenTest(f"this exercise needs redis-server: {error}") from None
        if isinstance(candidate, RemoteImplementation):
            candidate_run = _run_remote(candidate, build, servers, scenario, timeout)
        else:
            candidate_run = _run_cluster(candidate, build, urls.pop().url, servers, scenario)
        reference_run = None
        if live is not None:
            reference_run = _run_cluster(live, build, urls.pop().url, servers, scenario)
        await _judge(
            candidate_run,
            _reference_run(reference, reference_run),
            timeout,
        )
