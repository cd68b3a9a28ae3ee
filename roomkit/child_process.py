"""The life cycle every child process roomkit owns shares: :class:`ChildProcess`.

Started, waited on until it prints the line that means "ready", its output
drained so it never blocks on a full pipe, and stopped with SIGTERM, then SIGKILL
if it lingers. :mod:`roomkit.processes` says what to run (``redis-server``,
``roomkit serve``) and re-exports everything here.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import signal
import socket
from typing import ClassVar

from roomkit.errors import RoomkitError

__all__ = ["ChildProcess", "ChildProcessError", "free_port"]

LOG_LINES_KEPT = 20


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (another process may take it).

    :param host: the address to probe. Default ``"127.0.0.1"``.
    """
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class ChildProcessError(RoomkitError):
    """A child process is missing, or it exited or stalled before it was ready."""


class ChildProcess:
    """The life cycle every child process shares; subclasses say what to run.

    :param start_timeout: seconds to wait for the ready line.
    :param stop_timeout: seconds to wait after SIGTERM before SIGKILL.
    :param new_session: run the child in its own session, so a terminal's Ctrl-C
        reaches only its parent, which can then stop things in order.
    :param label: prefix for the lines the child prints once ready, echoed to our
        stdout; None keeps them only in :attr:`log`. Default None.
    """

    ready_line: ClassVar[str]
    error: ClassVar[type[ChildProcessError]] = ChildProcessError
    # Whether the child's stderr joins its stdout in :attr:`log` and :meth:`on_line`;
    # else it is ours. A subclass may set it per instance.
    capture_stderr: bool = True

    def __init__(
        self,
        *,
        start_timeout: float,
        stop_timeout: float,
        new_session: bool,
        label: str | None = None,
    ) -> None:
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.new_session = new_session
        self.label = label
        self.log: collections.deque[str] = collections.deque(maxlen=LOG_LINES_KEPT)
        self.process: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None

    def command(self) -> list[str]:
        """The command line (subclasses define it)."""
        raise NotImplementedError

    def environment(self) -> dict[str, str] | None:
        """The child's environment. Default None: ours."""
        return None

    def describe(self) -> str:
        """The child in a few words, for error messages (subclasses name it)."""
        return self.command()[0]

    def on_line(self, line: str) -> None:
        """Called with every line the child prints, ready line included; default nothing
        (:attr:`log` keeps the last lines; the benchmarks' servers write them all to a file)."""

    @property
    def running(self) -> bool:
        """Whether the child has been started and has not exited."""
        return self.process is not None and self.process.returncode is None

    @property
    def pid(self) -> int | None:
        """The child's process id, once started."""
        return self.process.pid if self.process is not None else None

    async def spawn(self) -> None:
        """Start the child and return once it printed :attr:`ready_line`.

        :raises ChildProcessError: (the subclass's :attr:`error`) when it exits
            first or stays silent for ``start_timeout`` seconds; the message
            holds its last lines.
        """
        self.log.clear()
        self.process = await asyncio.create_subprocess_exec(
            *self.command(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT if self.capture_stderr else None,
            env=self.environment(),
            start_new_session=self.new_session,
        )
        assert self.process.stdout is not None
        try:
            await asyncio.wait_for(self._read_until_ready(self.process.stdout), self.start_timeout)
        except (asyncio.TimeoutError, ChildProcessError) as problem:
            await self.end(signal.SIGKILL)
            tail = "\n".join(self.log) or "(no output)"
            raise self.error(
                f"{self.describe()} did not start ({problem or 'timed out'}):\n{tail}"
            ) from None
        self._drain = asyncio.create_task(self._keep_reading(self.process.stdout))

    async def _read_until_ready(self, output: asyncio.StreamReader) -> None:
        while True:
            raw = await output.readline()
            if not raw:
                assert self.process is not None
                raise self.error(f"it exited with status {await self.process.wait()}")
            line = raw.decode(errors="replace").rstrip()
            self.log.append(line)
            self.on_line(line)
            if self.ready_line in line:
                return

    async def _keep_reading(self, output: asyncio.StreamReader) -> None:
        # Keeps the pipe empty, so the child never blocks writing to it.
        while raw := await output.readline():
            line = raw.decode(errors="replace").rstrip()
            self.log.append(line)
            self.on_line(line)
            if self.label is not None:
                print(f"[{self.label}] {line}", flush=True)

    async def wait(self) -> int:
        """Wait for the child to exit; return its status."""
        assert self.process is not None
        return await self.process.wait()

    async def end(self, how: signal.Signals = signal.SIGTERM) -> int | None:
        """Send ``how``, then SIGKILL after ``stop_timeout`` seconds; safe when stopped.

        :param how: the first signal. Default SIGTERM (a clean shutdown).
        :returns: the exit status, or None if the child was never started.
        """
        process = self.process
        if process is None:
            return None
        if process.returncode is None:
            process.send_signal(how)
            try:
                await asyncio.wait_for(process.wait(), self.stop_timeout)
            except asyncio.TimeoutError:
                process.kill()
                await process.wait()
        if self._drain is not None:
            drain, self._drain = self._drain, None
            # The pipe reaches end of file once the process is gone.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(drain, self.stop_timeout)
        return process.returncode
