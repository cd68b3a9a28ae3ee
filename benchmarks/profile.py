"""Where a roomkit server spends its time under a fan-out burst: a py-spy profile.

py-spy attaches to the running ``roomkit serve`` process and samples its
Python stacks while the load generator keeps the server busy with bursts to
the largest room. The samples are summarised three ways: by the package whose
code was running (self time), by the hottest functions (self time), and by a
few functions of the fan-out path (inclusive time). Multiplied by the server's
CPU time per delivered message, they say how many microseconds each part costs
per delivered message.
"""

from __future__ import annotations

import asyncio
import collections
import re
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.harness import Room, median
from benchmarks.scenarios import Config, py_spy
from benchmarks.servers import SERVER_KINDS, ServerProcess

__all__ = ["profile", "summarise"]

# (what, path fragments): the first whose fragment is in a sample's leaf frame wins.
PACKAGES: list[tuple[str, tuple[str, ...]]] = [
    ("JSON encoding/decoding", ("json/",)),
    ("roomkit code", ("roomkit/",)),
    ("socket.io: emit loop, one task per recipient", ("socketio/",)),
    ("engine.io: per-recipient queue and writer task", ("engineio/",)),
    ("aiohttp websocket: frame building, reading", ("aiohttp/",)),
    ("asyncio socket writes/reads (send/recv syscalls)", ("asyncio/selector_events",)),
    ("asyncio queues", ("asyncio/queues",)),
    ("asyncio tasks and event loop", ("asyncio/",)),
    ("logging", ("logging/",)),
]
# Functions of the fan-out path whose inclusive share is reported.
PATH_FUNCTIONS: list[tuple[str, str]] = [
    ("AsyncManager.emit", "socket.io: encode once, create one send task per recipient"),
    ("AsyncSocket.send", "engine.io: check ping timeout, put packet on the socket's queue"),
    ("AsyncSocket.poll", "engine.io writer: take packets off the queue"),
    ("WebSocketWriter.send_frame", "aiohttp: build and write one websocket frame"),
    ("_SelectorSocketTransport.write", "asyncio: send() system call per frame"),
    ("BaseEventLoop._run_once", "event loop (includes everything it runs)"),
]
FRAME = re.compile(r"^(?P<function>.*?) \((?P<location>[^()]*)\)$")


def _parse(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    """py-spy's raw (collapsed) output: one ``frame;frame;... count`` line per stack."""
    stacks: list[tuple[list[tuple[str, str]], int]] = []
    for line in path.read_text(errors="replace").splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        frames = []
        for frame in stack_text.split(";"):
            match = FRAME.match(frame)
            if match:
                location = match["location"].rsplit(":", 1)[0]
                frames.append((match["function"], location))
        if frames:
            stacks.append((frames, int(count_text)))
    return stacks


def summarise(path: Path, us_per_message: float, top: int = 12) -> dict[str, Any]:
    """Shares of the samples in ``path``; ``us_per_message`` turns shares into µs."""
    stacks = _parse(path)
    total = sum(count for _, count in stacks)
    if total == 0:
        return {"samples": 0}
    by_package: collections.Counter[str] = collections.Counter()
    by_function: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    for frames, count in stacks:
        function, location = frames[-1]
        package = next(
            (what for what, parts in PACKAGES if any(part in location for part in parts)),
            "other (C extensions, interpreter)",
        )
        by_package[package] += count
        by_function[f"{function} ({location})"] += count
        for name in {function for function, _ in frames}:
            inclusive[name] += count

    def rows(counter: collections.Counter[str], limit: int) -> list[dict[str, Any]]:
        return [
            {
                "what": what,
                "share": round(count / total, 4),
                "us_per_message": round(count / total * us_per_message, 3),
            }
            for what, count in counter.most_common(limit)
        ]

    path_rows = [
        {
            "function": name,
            "what": what,
            "share": round(inclusive[name] / total, 4),
            "us_per_message": round(inclusive[name] / total * us_per_message, 3),
        }
        for name, what in PATH_FUNCTIONS
    ]
    return {
        "samples": total,
        "by_package": rows(by_package, len(PACKAGES) + 1),
        "top_functions": rows(by_function, top),
        "path": path_rows,
    }


async def profile(config: Config, client_kind: str) -> dict[str, Any]:
    """Profile ``roomkit serve`` under fan-out bursts to the largest room."""
    spy = py_spy()
    if spy is None:
        return {"available": False, "reason": "py-spy is not installed (pip install '.[bench]')"}
    kind = SERVER_KINDS["roomkit"]
    receivers = max(config.sizes)
    messages = max(10, round(config.deliveries / receivers))
    timeout = config.burst_timeout(messages * receivers)
    server = ServerProcess.start(kind, cpu=config.server_cpu, log_dir=config.log_dir)
    samples_file = Path(tempfile.mkdtemp(prefix="roomkit-profile-")) / "profile.txt"
    cost: list[float] = []
    try:
        room = await Room.open(
            [server],
            receivers,
            workers=config.workers,
            cpu=config.loadgen_cpu,
            client_kind=client_kind,
            timeout=config.timeout + receivers * 0.05,
            room="bench-profile",
        )
        try:
            await room.burst(max(5, messages // 5), timeout=timeout)
            # --nonblocking: sample without pausing the server, so it runs at speed.
            recorder = await asyncio.create_subprocess_exec(
                *[spy, "record", "--pid", str(server.process.pid), "--rate", "250"],
                *["--duration", f"{max(1, round(config.profile_seconds))}", "--nonblocking"],
                *["--format", "raw", "--output", str(samples_file)],
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.STDOUT,
            )
            deadline = asyncio.get_running_loop().time() + config.profile_seconds + timeout
            while recorder.returncode is None and asyncio.get_running_loop().time() < deadline:
                result = await room.burst(messages, timeout=timeout)
                server_cpu = sum(v for k, v in result.cpu.items() if k.startswith("server:"))
                if result.delivered:
                    cost.append(server_cpu * result.seconds / result.delivered * 1e6)
            try:
                await asyncio.wait_for(recorder.wait(), 15.0)
            except asyncio.TimeoutError:
                recorder.kill()
                await recorder.wait()
                return {"available": False, "reason": "py-spy did not finish"}
        finally:
            await room.close()
    finally:
        server.stop()
    if not samples_file.exists():
        return {
            "available": False,
            "reason": f"py-spy wrote no samples (exit {recorder.returncode})",
        }
    us_per_message = median(cost)
    return {
        "available": True,
        "server": kind.name,
        "receivers": receivers,
        "messages": messages,
        "server_us_per_message": us_per_message,
        **summarise(samples_file, us_per_message),
    }
