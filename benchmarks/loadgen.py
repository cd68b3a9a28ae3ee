"""A load-generator process: holds many receiving clients, counts what they get.

``python -m benchmarks.loadgen`` reads one JSON command per line on stdin and
answers with one JSON line on stdout. The coordinator (:class:`Worker`) starts
several of these, pinned to the load generator's core::

    {"cmd": "connect", "urls": [...], "count": 250, "kind": "raw", "room": "bench",
     "prefix": "w0-", "timeout": 60}        -> {"ok": true, "connected": 250, "seconds": 1.2}
    {"cmd": "arm", "burst": 3, "messages": 200, "latency": false, "timeout": 30,
     "text_bytes": 49, "senders": 1}        (the shortest text a message can have;
                                              senders taking turns, seq % senders)
                                             -> {"ok": true, "armed": 3}
        ... later, when every client got the burst or the timeout passed, and
        what was counted in bulk is checked (a failed check answers ok false):
                                             -> {"ok": true, "done": 3, "received": ...,
                                                 "expected": ..., "last_ns": ...,
                                                 "cpu_seconds_at_done": ...,
                                                 "counted_in_bulk": ...,
                                                 "timed_out": false, "latencies_us": [...]}
    {"cmd": "close"}                         -> {"ok": true, "closed": true}

Any failure answers ``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import psutil

from benchmarks.clients import make_client
from benchmarks.servers import REPO, cpu_seconds, pinned
from benchmarks.tally import BenchClient, Tally

__all__ = ["Worker", "main"]

# Clients that connect at once; more would only fill the server's accept backlog.
CONNECT_CONCURRENCY = 50
# Seconds the last frames of a burst counted in bulk may take to arrive whole.
CONFIRM_TIMEOUT = 10.0
# How often a burst counted in bulk is parsed while it lasts: well within
# Socket.IO's ping timeout (20 s), and longer than a burst normally lasts.
KEEP_ALIVE_SECONDS = 5.0


class _Generator:
    """The state of one load-generator process."""

    def __init__(self) -> None:
        self.tally = Tally()
        self.me = psutil.Process()
        self.clients: list[BenchClient] = []
        self.session: aiohttp.ClientSession | None = None
        self.write_lock = asyncio.Lock()
        self.waiter: asyncio.Task[None] | None = None

    async def reply(self, message: dict[str, Any]) -> None:
        async with self.write_lock:
            sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
            sys.stdout.flush()

    async def connect(self, command: dict[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        if self.session is None:
            # One connection per client; aiohttp's default pool limit is 100.
            connector = aiohttp.TCPConnector(limit=0)
            self.session = aiohttp.ClientSession(connector=connector)
        urls: Sequence[str] = command["urls"]
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        timeout = float(command["timeout"])
        room: str | None = command.get("room")

        async def one(index: int) -> BenchClient:
            assert self.session is not None
            client = make_client(
                command["kind"],
                self.session,
                urls[index % len(urls)],
                f"{command['prefix']}{index}",
                self.tally,
            )
            async with gate:
                await client.connect(timeout=min(timeout, 15.0))
                if room is not None:
                    await client.join(room, timeout=min(timeout, 15.0))
            return client

        made = await asyncio.wait_for(
            asyncio.gather(*(one(index) for index in range(int(command["count"])))), timeout
        )
        self.clients.extend(made)
        return {"ok": True, "connected": len(made), "seconds": time.monotonic() - started}

    async def arm(self, command: dict[str, Any]) -> dict[str, Any]:
        if self.waiter is not None and not self.waiter.done():
            return {"ok": False, "error": "a burst is already armed"}
        burst, messages = int(command["burst"]), int(command["messages"])
        self.tally.arm(
            burst,
            messages * len(self.clients),
            bool(command["latency"]),
            messages=messages,
            text_bytes=int(command.get("text_bytes", 0)),
            senders=int(command.get("senders", 1)),
        )
        self.waiter = asyncio.create_task(self._report(burst, float(command["timeout"])))
        return {"ok": True, "armed": burst}

    async def _report(self, burst: int, timeout: float) -> None:
        tally = self.tally
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        timed_out = False
        while not tally.complete.is_set():
            left = deadline - loop.time()
            if left <= 0:
                timed_out = True
                break
            try:
                await asyncio.wait_for(tally.complete.wait(), min(left, KEEP_ALIVE_SECONDS))
            except asyncio.TimeoutError:
                # A long burst: what counting in bulk kept unparsed may hold the
                # server's pings, to be answered within its ping timeout.
                tally.parse_kept()
        cpu_at_done = cpu_seconds(self.me)
        # Parse what was counted in bulk and check it.
        problem = await tally.verify(CONFIRM_TIMEOUT, timed_out=timed_out)
        if problem is not None:
            await self.reply({"ok": False, "error": problem})
            return
        await self.reply(
            {
                "ok": True,
                "done": burst,
                "received": tally.received,
                "expected": tally.expected,
                "last_ns": tally.last_ns,
                "cpu_seconds_at_done": cpu_at_done,
                "counted_in_bulk": tally.counted_in_bulk,
                "timed_out": timed_out,
                "latencies_us": tally.latencies_us,
            }
        )

    async def close(self) -> dict[str, Any]:
        await asyncio.gather(*(client.close() for client in self.clients))
        self.clients.clear()
        if self.session is not None:
            await self.session.close()
        return {"ok": True, "closed": True}


async def _serve_commands() -> None:
    generator = _Generator()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:  # the coordinator went away
            await generator.close()
            return
        command = json.loads(line)
        try:
            if command["cmd"] == "connect":
                answer = await generator.connect(command)
            elif command["cmd"] == "arm":
                answer = await generator.arm(command)
            elif command["cmd"] == "close":
                await generator.reply(await generator.close())
                return
            else:
                answer = {"ok": False, "error": f"unknown command {command['cmd']!r}"}
        except Exception as error:
            answer = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        await generator.reply(answer)


def main() -> None:
    """Run the command loop on stdin/stdout (``--loop uvloop`` to use uvloop)."""
    parser = argparse.ArgumentParser(description="a benchmark load-generator process")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    if parser.parse_args().loop == "uvloop":
        import uvloop

        uvloop.run(_serve_commands())
    else:
        asyncio.run(_serve_commands())


@dataclass
class Worker:
    """The coordinator's handle on one load-generator process.

    Build it with :meth:`start`.

    :param name: its name in CPU reports (``w0``, ``r1w0``...).
    :param process: the process, talking JSON lines on stdin/stdout.
    :param ps: the same process, for CPU readings.
    """

    name: str
    process: asyncio.subprocess.Process
    ps: psutil.Process

    @classmethod
    async def start(cls, name: str, *, cpu: int | None, loop: str = "asyncio") -> Worker:
        """Start a load generator pinned to ``cpu`` (None: anywhere).

        :param loop: ``asyncio`` or ``uvloop``. Default ``asyncio``.
        """
        argv = pinned([sys.executable, "-m", "benchmarks.loadgen", "--loop", loop], cpu)
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=REPO,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**26,
        )
        return cls(name, process, psutil.Process(process.pid))

    async def send(self, command: dict[str, Any]) -> None:
        """Write one command line."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        await self.process.stdin.drain()

    async def read(self, timeout: float) -> dict[str, Any]:
        """The next answer; raises ``TimeoutError`` after ``timeout`` s, RuntimeError on errors."""
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"load generator {self.name} silent for {timeout:g} s") from None
        if not line:
            raise RuntimeError(f"load generator {self.name} exited")
        answer: dict[str, Any] = json.loads(line)
        if not answer.get("ok"):
            raise RuntimeError(f"load generator {self.name}: {answer.get('error')}")
        return answer

    async def ask(self, command: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send ``command`` and return its answer."""
        await self.send(command)
        return await self.read(timeout)

    def cpu_seconds(self) -> float:
        """CPU time used so far (see :func:`benchmarks.servers.cpu_seconds`)."""
        return cpu_seconds(self.ps)

    async def stop(self, timeout: float = 10.0) -> None:
        """Close its clients and wait for it to exit; kill it if it does not."""
        if self.process.returncode is None:
            with contextlib.suppress(Exception):
                await self.ask({"cmd": "close"}, timeout)
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except asyncio.TimeoutError:
                self.process.kill()
                await self.process.wait()


if __name__ == "__main__":
    main()
