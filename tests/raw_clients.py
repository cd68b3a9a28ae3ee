"""Light websocket clients speaking raw Engine.IO v4 / Socket.IO v5 frames, for
attack tests that need hundreds or thousands of connections (a python-socketio
client costs too much for that), and a ``roomkit serve`` process to attack.

Frames (see benchmarks/wire.py)::

    0{"sid":...}                 open             2 / 3     ping / pong
    40/chat,{"name":"r1"}        connect          42/chat,7["join room","x"]  event, ack 7
    43/chat,7[{...}]             ack 7
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp

from roomkit.testing import free_port

__all__ = ["RawClient", "RssPeak", "ServeProcess", "event_frame", "rss_bytes", "rss_peak"]

NAMESPACE = "/chat"
EVENT_PREFIX = f"42{NAMESPACE},"
ACK_PREFIX = f"43{NAMESPACE},"


def rss_bytes(pid: int) -> int:
    """Resident memory of process ``pid`` (Linux ``/proc/PID/status`` VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def event_frame(event: str, *args: Any) -> str:
    """A ``/chat`` event frame asking for no ack."""
    return f"{EVENT_PREFIX}{json.dumps([event, *args])}"


class RssPeak:
    """The highest RSS of a process, sampled while a phase of the test runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = rss_bytes(pid)

    async def sample(self) -> None:
        while True:
            self.peak = max(self.peak, rss_bytes(self.pid))
            await asyncio.sleep(0.05)  # a sampling period, not synchronisation


@contextlib.asynccontextmanager
async def rss_peak(pid: int) -> AsyncIterator[RssPeak]:
    peak = RssPeak(pid)
    task = asyncio.create_task(peak.sample())
    try:
        yield peak
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, FileNotFoundError):
            await task


class RawClient:
    """One ``/chat`` connection over a raw websocket.

    Answers pings, resolves acks and counts the events it receives by name
    (``counts``); keeps the payloads of ``presence`` events (``summaries``).

    :param session: the ``aiohttp`` session to open the websocket with.
    :param url: the server's ``http://host:port``.
    :param name: the display name sent as ``auth.name``.
    """

    def __init__(self, session: aiohttp.ClientSession, url: str, name: str) -> None:
        self.session = session
        self.url = url.replace("http://", "ws://", 1) + "/socket.io/?EIO=4&transport=websocket"
        self.name = name
        self.counts: collections.Counter[str] = collections.Counter()
        self.summaries: list[dict[str, Any]] = []
        self.closed = asyncio.Event()
        self.arrived = asyncio.Condition()  # notified after each event counted
        self._acks: dict[int, asyncio.Future[Any]] = {}
        self._next_ack = 0
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None

    async def open(self, timeout: float = 10.0) -> None:
        """Connect and enter ``/chat``."""
        ws = await asyncio.wait_for(self._handshake(), timeout)
        self._reader = asyncio.create_task(self._read(ws))

    async def _handshake(self) -> aiohttp.ClientWebSocketResponse:
        self._ws = ws = await self.session.ws_connect(self.url)
        opening = await ws.receive_str()
        assert opening.startswith("0"), opening
        await ws.send_str(f"40{NAMESPACE},{json.dumps({'name': self.name})}")
        while not (await ws.receive_str()).startswith(f"40{NAMESPACE},"):
            pass
        return ws

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                await self._frame(ws, message.data)
        finally:
            self.closed.set()
            for future in self._acks.values():
                if not future.done():
                    future.set_exception(ConnectionError(f"{self.name} closed"))

    async def _frame(self, ws: aiohttp.ClientWebSocketResponse, frame: str) -> None:
        if frame == "2":
            await ws.send_str("3")
        elif frame.startswith(EVENT_PREFIX):
            event, *args = json.loads(frame[len(EVENT_PREFIX) :])
            self.counts[event] += 1
            if event == "presence":
                self.summaries.append(args[0])
            async with self.arrived:
                self.arrived.notify_all()
        elif frame.startswith(ACK_PREFIX):
            body = frame[len(ACK_PREFIX) :]
            number, _, payload = body.partition("[")
            future = self._acks.pop(int(number), None)
            if future is not None and not future.done():
                future.set_result(json.loads("[" + payload)[0])

    async def send_raw(self, *frames: str) -> None:
        """Send ``frames`` as they are, without waiting for anything."""
        assert self._ws is not None
        for frame in frames:
            await self._ws.send_str(frame)

    async def wait_until(self, condition: Callable[[], bool], timeout: float) -> None:
        """Wait until ``condition()`` holds, checked after each event arrives."""
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(condition), timeout)

    async def call(self, event: str, *args: Any, timeout: float = 10.0) -> Any:
        """Send ``event`` asking for an ack; return the ack's payload."""
        assert self._ws is not None
        self._next_ack += 1
        number = self._next_ack
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._acks[number] = future
        await self._ws.send_str(f"{EVENT_PREFIX}{number}{json.dumps([event, *args])}")
        return await asyncio.wait_for(future, timeout)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await self._reader


class ServeProcess:
    """``roomkit serve`` in a child process on a free loopback port.

    :param flags: more ``serve`` flags.
    :param port: the port. Default: a free one.
    """

    def __init__(self, *flags: str, port: int = 0) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.flags = flags
        self.process: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 20.0) -> None:
        """Start the server; return once it prints that it serves."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "roomkit", "serve", "--port", str(self.port), *self.flags],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "ROOMKIT_ADMIN_TOKEN": "raw-clients-admin-token"},
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        for line in self.process.stdout:  # ends when the process does
            if line.startswith("roomkit serving on"):
                return
            if time.monotonic() > deadline:
                break
        self.stop()
        raise RuntimeError("roomkit serve did not start")

    def terminate(self) -> None:
        """Send SIGTERM (what a process manager does to stop it)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    async def wait(self, timeout: float) -> int:
        """Wait for the process to end; its exit status."""
        assert self.process is not None
        return await asyncio.to_thread(self.process.wait, timeout)

    def stop(self) -> None:
        """Kill the process if it still runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
