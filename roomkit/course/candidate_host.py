"""The candidate host: the process that runs one submission's code and serves its servers.

Started by the grader (:class:`roomkit.course.remote.CandidateHost`), usually
sealed by bubblewrap (:mod:`roomkit.course.sandbox`). It first sets its limits,
then answers JSON requests, one per line, on its control socket:

- ``{"op": "load", "exercise": {...}, "cells": [...], ...}`` runs the exercise's
  cells in a fresh module; answers ``{"ok": true}`` or ``{"problem": ...}``.
- ``{"op": "serve", "exercise": id, "server": name, "function": ..., "servers": n,
  "cluster": bool}`` builds fresh servers with the test's ``install`` (or a
  cluster's ``build``, with a ``redis-server`` of its own) and serves them on the
  ``n`` listening Unix sockets that came with the request (``SCM_RIGHTS``): the
  grader bound them, in a directory the host cannot see.
- ``{"op": "errors", "server": name}`` answers the exceptions its handlers raised,
  as text; ``{"op": "stop", "server": name}`` stops it.

``{"op": "ping"}`` answers ``{"ok": true}``.

The grader never trusts more than the answers' shape: it owns the socket paths,
and the verdict is computed on its side from what its own clients observed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
from typing import Any

from roomkit.course.failures import ExerciseFailure, NotSolved, describe_exception
from roomkit.course.implementations import CellCode, Implementation, run_cells
from roomkit.course.judge import build_cluster, prepare_server
from roomkit.course.manifest import Exercise
from roomkit.course.sandbox import Limits, apply_limits
from roomkit.course.scenario import ObservedServer
from roomkit.course.shipping import unship_function
from roomkit.processes import RedisProcess, RedisProcessError
from roomkit.testing import serve_cluster, start_server

__all__ = ["main"]


class _Host:
    """What the host has loaded and serves."""

    def __init__(self) -> None:
        self.implementations: dict[str, Implementation] = {}
        self.running: dict[str, tuple[contextlib.AsyncExitStack, list[ObservedServer]]] = {}

    async def handle(self, request: dict[str, Any], fds: list[int]) -> dict[str, Any]:
        op = request.get("op")
        if op == "ping":
            return {"ok": True}
        if op == "load":
            return self.load(request)
        if op == "serve":
            return await self.serve(request, fds)
        if op == "errors":
            _, servers = self.running[request["server"]]
            errors = [error for sio in servers for error in sio.handler_errors]
            return {"errors": [[error.doing, error.describe_error()] for error in errors]}
        if op == "stop":
            stack, _ = self.running.pop(request["server"])
            await stack.aclose()
            return {"ok": True}
        return {"problem": f"unknown request {op!r}"}

    def load(self, request: dict[str, Any]) -> dict[str, Any]:
        fields = dict(request["exercise"])
        for name in ("defines", "hints"):
            fields[name] = tuple(fields[name])
        exercise = Exercise(**fields)
        cells = [CellCode(*cell) for cell in request["cells"]]
        implementation = run_cells(cells, exercise, request["label"], request["notebook"])
        self.implementations[exercise.id] = implementation
        if implementation.problem is not None:
            return {
                "problem": str(implementation.problem),
                "not_solved": isinstance(implementation.problem, NotSolved),
            }
        return {"ok": True}

    async def serve(self, request: dict[str, Any], fds: list[int]) -> dict[str, Any]:
        sockets = [socket.socket(fileno=fd) for fd in fds]
        stack = contextlib.AsyncExitStack()
        for sock in sockets:
            stack.callback(sock.close)
        answer = await self._start_servers(request, sockets, stack)
        if "ok" not in answer:
            await stack.aclose()
        return answer

    async def _start_servers(
        self,
        request: dict[str, Any],
        sockets: list[socket.socket],
        stack: contextlib.AsyncExitStack,
    ) -> dict[str, Any]:
        implementation = self.implementations[request["exercise"]]
        try:
            function = unship_function(request["function"])
        except Exception as error:  # the grader's side: the test module cannot be used here
            return {"broken": "the test's set-up cannot be rebuilt: " + describe_exception(error)}
        try:
            if request["cluster"]:
                try:
                    redis = await stack.enter_async_context(RedisProcess())
                except RedisProcessError as error:
                    return {"broken": f"this exercise needs redis-server: {error}"}
                servers = await build_cluster(
                    implementation, function, redis.url, len(sockets), stack
                )
                await stack.enter_async_context(serve_cluster(*servers, socks=sockets))
            else:
                sio = await prepare_server(implementation, function)
                servers = [sio]
                running = await start_server(sio, sock=sockets[0])
                stack.push_async_callback(running.stop)
        except ExerciseFailure as error:
            return {"problem": str(error), "not_solved": isinstance(error, NotSolved)}
        except Exception as error:  # the learner's code may raise anything
            return {"problem": "setting up your server raised " + describe_exception(error)}
        self.running[request["server"]] = (
            stack,
            [sio for sio in servers if isinstance(sio, ObservedServer)],
        )
        return {"ok": True}


def _wake(readable: asyncio.Future[None]) -> None:
    if not readable.done():
        readable.set_result(None)


async def _receive(control: socket.socket) -> tuple[bytes, list[int]]:
    """The next bytes on ``control``, with the file descriptors that came with them."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(control, 1 << 20, 8)
            return data, fds
        except BlockingIOError:
            readable: asyncio.Future[None] = loop.create_future()
            loop.add_reader(control.fileno(), _wake, readable)
            try:
                await readable
            finally:
                loop.remove_reader(control.fileno())


async def _answer_requests(control: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    control.setblocking(False)
    host = _Host()
    await loop.sock_sendall(control, b'{"ready": true}\n')
    buffer, fds = b"", []
    while True:
        while b"\n" not in buffer:
            data, received = await _receive(control)
            if not data:
                return  # the grader closed the channel
            buffer += data
            fds += received
        line, _, buffer = buffer.partition(b"\n")
        try:
            # The grader sends one request at a time: the sockets are this one's.
            answer = await host.handle(json.loads(line), fds)
        except Exception as error:  # e.g. a server the learner's code already stopped
            answer = {"problem": "your server could not be used: " + describe_exception(error)}
        fds = []
        await loop.sock_sendall(control, json.dumps(answer).encode() + b"\n")


def main(argv: list[str] | None = None) -> None:
    """Set the limits, then answer the grader's requests until it closes the control socket.

    :param argv: the command line. Default ``sys.argv[1:]``.
    """
    parser = argparse.ArgumentParser(prog="roomkit.course.candidate_host")
    parser.add_argument("--control-fd", type=int, required=True)
    defaults = Limits()
    parser.add_argument("--memory", type=int, default=defaults.memory_bytes)
    parser.add_argument("--cpu", type=int, default=defaults.cpu_seconds)
    parser.add_argument("--file-size", type=int, default=defaults.file_bytes)
    parser.add_argument("--processes", type=int, default=defaults.processes)
    args = parser.parse_args(argv)
    limits = Limits(args.memory, args.cpu, args.file_size, args.processes)
    # 0: no process cap (it counts every process of the user: only under a user id of our own).
    apply_limits(limits, processes=args.processes > 0)
    # What the learner's code prints goes to the log, never to the control channel.
    os.dup2(2, 1)
    control = socket.socket(fileno=args.control_fd)
    asyncio.run(_answer_requests(control))


if __name__ == "__main__":
    main()
