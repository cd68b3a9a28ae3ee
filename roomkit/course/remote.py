"""The grader's side of a candidate host: start it, talk to it, kill it, say what happened.

One :class:`CandidateHost` per submission runs that submission's code (see
:mod:`roomkit.course.candidate_host`). A :class:`RemoteImplementation` stands for
one exercise of it in the exercise tests (the ``impl`` fixture, in
:mod:`roomkit.course.remote_implementation`); the judge asks the host for servers
(:meth:`CandidateHost.serve`) and drives them from the grader
through Unix sockets. Whatever the host does, the grader only reads short JSON
answers from it, each bounded in time; a host that ends, hangs or breaks its
limits is killed (its whole PID namespace with it) and the next test starts a
fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from roomkit.course.failures import BrokenTest, ExerciseFailure, ExerciseTimeout, NotSolved
from roomkit.course.sandbox import Limits, host_command, sandbox_uid
from roomkit.course.scenario import HandlerError
from roomkit.course.shipping import ship_function

if TYPE_CHECKING:  # the implementation module builds on this one
    from roomkit.course.remote_implementation import RemoteImplementation

__all__ = [
    "LOAD_TIMEOUT",
    "MAX_ANSWER",
    "REQUEST_TIMEOUT",
    "START_TIMEOUT",
    "CandidateHost",
    "HostEnded",
    "HostTimeout",
    "RemoteServers",
]

# What each request does, for the message when it does not finish in time.
_WHAT = {
    "load": "loading your exercise cells",
    "serve": "setting up your server",
    "errors": "your server",
    "stop": "stopping your server",
}
START_TIMEOUT = 20.0
LOAD_TIMEOUT = 10.0
REQUEST_TIMEOUT = 5.0
MAX_ANSWER = 16 << 20  # bytes of one answer from the host


class HostEnded(ExerciseFailure):
    """The candidate host ended (exited, crashed, was killed by a limit)."""


class HostTimeout(ExerciseTimeout):
    """The candidate host did not answer in time; it was killed."""


def _describe_ending(status: int, *, sealed: bool) -> str:
    if sealed and status > 128:  # bwrap exits 128 + N when its child died of signal N
        status = 128 - status
    if status >= 0:
        return (
            f"exited with status {status} (did your code call os._exit() or sys.exit(), "
            "or end the process another way?)"
        )
    number = -status
    why = {
        int(signal.SIGKILL): "killed: out of memory, or stopped by the grader",
        int(signal.SIGXCPU): "killed: it used up its CPU time (a busy loop?)",
        int(signal.SIGXFSZ): "killed: it wrote a file over the size limit",
        int(signal.SIGSEGV): "crashed (segmentation fault)",
    }.get(number, "killed")
    return f"was {why} (signal {signal.Signals(number).name})"


class CandidateHost:
    """The process that runs one submission's code, started on first use.

    :param modules: the exercise test modules the host may import (read-only).
    :param sealed: under bubblewrap (True) or a plain child process (False).
    :param limits: its limits. Default :class:`~roomkit.course.sandbox.Limits`.
    """

    def __init__(self, modules: Sequence[Path], *, sealed: bool, limits: Limits | None = None):
        self.modules = list(modules)
        self.sealed = sealed
        self.limits = limits or Limits()
        self.loaded: set[str] = set()
        self._process: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._buffer = b""
        self._private: Path | None = None
        self._names = itertools.count(1)
        self._uid: int | None = None

    def _start(self) -> None:
        # The grader's own directory (mode 0700), never visible to the host: the
        # sockets its servers listen on and its log.
        private = Path(tempfile.mkdtemp(prefix="roomkit-host-"))
        uid = sandbox_uid()
        self._uid = uid if self.sealed and os.geteuid() == 0 else None
        grader_end, host_end = socket.socketpair()
        command = host_command(
            self.modules,
            self.limits,
            sealed=self.sealed,
            uid=uid,
            control_fd=host_end.fileno(),
        )
        with open(private / "host.log", "wb") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                pass_fds=[host_end.fileno()],  # inherited under the same number
                start_new_session=True,  # its own process group, killed as one
                cwd=private,
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            )
        host_end.close()
        grader_end.setblocking(False)
        self._control, self._private, self._buffer = grader_end, private, b""
        self.loaded = set()

    def kill(self) -> None:
        """Kill the host and everything it started; the next request starts a fresh one."""
        process, self._process = self._process, None
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._private is not None:
            shutil.rmtree(self._private, ignore_errors=True)
            self._private = None
        self.loaded = set()

    close = kill

    def kill_if_forked(self) -> None:
        """Kill the host if its code left processes behind (a fork shares the host's
        control channel, and would answer for it): the next test gets a fresh host.

        Only for a sealed host with a user id of its own, the one way to find them all.
        """
        if self._process is None or self._uid is None:
            return
        wanted = f"Uid:\t{self._uid}\t"
        count = 0
        for status in Path("/proc").glob("[0-9]*/status"):
            with contextlib.suppress(OSError):
                if wanted in status.read_text():
                    count += 1
        if count > 1:
            self.kill()

    def _ending(self) -> str:
        """How the host ended (it is reaped and forgotten)."""
        process = self._process
        status = process.wait(timeout=5) if process is not None else 0
        self.kill()
        return _describe_ending(status, sealed=self.sealed)

    def request_now(
        self, message: dict[str, Any], timeout: float = REQUEST_TIMEOUT
    ) -> dict[str, Any]:
        """Like :meth:`request`, blocking: for the fixtures, outside any test's time."""
        if self._process is None:
            self._start()
            self._receive_now(START_TIMEOUT, "starting your code's process")
        self._send(message, [], timeout)
        return self._receive_now(timeout, _WHAT.get(str(message.get("op")), "?"))

    def _send(self, message: dict[str, Any], fds: list[int], timeout: float) -> None:
        """Send ``message`` with ``fds`` (a few kilobytes: the socket's buffer takes it)."""
        control = self._control
        assert control is not None
        data = json.dumps(message).encode() + b"\n"
        try:
            control.settimeout(timeout)
            sent = socket.send_fds(control, [data], fds) if fds else 0
            control.sendall(data[sent:])
            control.setblocking(False)
        except TimeoutError:
            self._timed_out(timeout, _WHAT.get(str(message.get("op")), "?"))
        except OSError:
            raise HostEnded(f"your code's process {self._ending()}") from None

    def _receive_now(self, timeout: float, what: str) -> dict[str, Any]:
        control = self._control
        assert control is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([control], [], [], remaining)[0]:
                self._timed_out(timeout, what)
            try:
                chunk = control.recv(1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                raise HostEnded(f"your code's process {self._ending()}")
            self._take(chunk)
        return self._answer()

    async def request(
        self,
        message: dict[str, Any],
        timeout: float = REQUEST_TIMEOUT,
        fds: Sequence[int] = (),
    ) -> dict[str, Any]:
        """Send ``message`` (with file descriptors ``fds``) and wait at most
        ``timeout`` seconds for the answer.

        :raises HostEnded: when the host ended.
        :raises HostTimeout: when it did not answer in time (it is then killed).
        """
        if self._process is None:  # killed earlier in this test
            raise HostEnded("your code's process was stopped earlier in this test")
        self._send(message, list(fds), timeout)
        control = self._control
        assert control is not None
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                while b"\n" not in self._buffer:
                    chunk = await loop.sock_recv(control, 1 << 16)
                    if not chunk:
                        raise HostEnded(f"your code's process {self._ending()}")
                    self._take(chunk)
        except TimeoutError:
            self._timed_out(timeout, _WHAT.get(str(message.get("op")), "?"))
        except (BrokenPipeError, ConnectionResetError):
            raise HostEnded(f"your code's process {self._ending()}") from None
        return self._answer()

    def _take(self, chunk: bytes) -> None:
        self._buffer += chunk
        if len(self._buffer) > MAX_ANSWER and b"\n" not in self._buffer:
            # The learner's code can write on the channel too: never buffer without end.
            self.kill()
            raise HostEnded("your code's process flooded the grader's channel; it was stopped")

    def _timed_out(self, timeout: float, what: str) -> NoReturn:
        self.kill()
        raise HostTimeout(
            f"timed out: {what} did not finish within {timeout:g} s (a loop or a "
            "sleep that never ends?)"
        )

    def _answer(self) -> dict[str, Any]:
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            answer = json.loads(line)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            self.kill()
            raise HostEnded("your code's process answered nonsense on the grader's channel")
        return answer

    async def serve(
        self,
        implementation: RemoteImplementation,
        function: Callable[..., Any],
        servers: int,
        timeout: float = REQUEST_TIMEOUT,
    ) -> RemoteServers:
        """Fresh servers for one scenario run: one built by ``install`` (``servers == 0``)
        or a cluster of ``servers`` built by ``build`` around a ``redis-server`` of its own.

        :raises ExerciseFailure: (or :class:`NotSolved`) when setting them up failed.
        :raises BrokenTest: when the host has no ``redis-server``.
        :param timeout: seconds the set-up may take. Default :data:`REQUEST_TIMEOUT`.
        """
        implementation.load()
        assert self._private is not None
        name = f"s{next(self._names)}"
        paths = [self._private / f"{name}-{index}.sock" for index in range(max(servers, 1))]
        # The grader binds the sockets where only it can reach them, and hands the
        # host the listening ends: the host never names a path the grader connects to.
        with contextlib.ExitStack() as listening:
            socks = []
            for path in paths:
                sock = listening.enter_context(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
                sock.bind(str(path))
                sock.listen(128)
                socks.append(sock)
            answer = await self.request(
                {
                    "op": "serve",
                    "exercise": implementation.exercise.id,
                    "server": name,
                    "function": ship_function(function),
                    "cluster": servers > 0,
                },
                timeout,
                [sock.fileno() for sock in socks],
            )
        if "broken" in answer:
            raise BrokenTest(str(answer["broken"]))
        if "problem" in answer:
            kind = NotSolved if answer.get("not_solved") else ExerciseFailure
            raise kind(str(answer["problem"]))
        return RemoteServers(self, name, [f"unix:{path}" for path in paths])


@dataclass
class RemoteServers:
    """Servers running in a candidate host for one scenario run.

    :param host: the host.
    :param name: their name in the host's requests.
    :param urls: ``unix:<path>`` URLs, what :class:`~roomkit.course.scenario.Stage` connects to.
    """

    host: CandidateHost
    name: str
    urls: list[str]

    async def errors(self, timeout: float = REQUEST_TIMEOUT) -> list[HandlerError]:
        """The exceptions their handlers raised so far, described by the host.

        :param timeout: seconds to wait for the answer. Default :data:`REQUEST_TIMEOUT`.
        """
        answer = await self.host.request({"op": "errors", "server": self.name}, timeout)
        return [HandlerError(str(doing), described=str(text)) for doing, text in answer["errors"]]

    async def stop(self) -> None:
        """Stop them (killing the host when it does not answer)."""
        with contextlib.suppress(HostEnded):
            await self.host.request({"op": "stop", "server": self.name})
