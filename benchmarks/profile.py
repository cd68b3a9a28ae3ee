"""Where a roomkit server spends its time under a fan-out burst: a py-spy profile.

py-spy attaches to a running ``roomkit serve`` process and samples its stacks,
native frames included (so the cyclic garbage collector and system calls show
up), while the load generator keeps it busy with bursts to the largest room.
Sampling native stacks pauses the server for each sample, so the server's CPU
time per delivered message is measured before the profiler attaches; the
samples only split that time. They are summarised three ways: by what was
running (self time), by the hottest functions, and by a few functions of the
fan-out path (inclusive time).
"""

from __future__ import annotations

import asyncio
import collections
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.config import Config
from benchmarks.harness import Room, median
from benchmarks.servers import SERVER_KINDS, ServerKind, ServerProcess

__all__ = ["profile", "py_spy", "summarise"]

GARBAGE_COLLECTOR = "cyclic garbage collector"
# Native leaf functions that are system calls: (what, function name fragments).
SEND_CALLS = "send()/write() system calls"
GETPID_CALLS = "getpid() system calls, from asyncio's get_running_loop (per task)"
SYSTEM_CALLS: list[tuple[str, tuple[str, ...]]] = [
    (GETPID_CALLS, ("getpid",)),
    (SEND_CALLS, ("send", "write")),
    ("recv() system calls", ("recv", "read")),
    ("epoll (waiting for sockets)", ("epoll",)),
]
# (what, path fragments) matched against the innermost Python frame (or C module).
PACKAGES: list[tuple[str, tuple[str, ...]]] = [
    ("JSON encoding/decoding", ("json/", "_json")),
    ("roomkit: direct fan-out, frames, outboxes", ("roomkit/fanout", "roomkit/outbox")),
    ("roomkit: websocket reading loop", ("roomkit/transport",)),
    ("roomkit: chat events, validation", ("roomkit/",)),
    # On roomkit's direct path socket.io only lists a room's members and
    # encodes and decodes packets, engine.io only decodes and dispatches
    # incoming ones; on python-socketio's own path they also run a task, a
    # queue hand-off and a writer wake-up per recipient.
    ("socket.io: room members, packet encoding and decoding", ("socketio/",)),
    (
        "engine.io: incoming packets, sockets (queues and writer tasks on its own path)",
        ("engineio/",),
    ),
    ("aiohttp websocket: frame building, reading", ("aiohttp/",)),
    ("asyncio queues", ("asyncio/queues",)),
    ("asyncio tasks, transports and event loop", ("asyncio/", "_asynciomodule", "uvloop")),
    ("logging", ("logging/",)),
]
# Functions of the fan-out path whose inclusive share is reported.
PATH_FUNCTIONS: list[tuple[str, str]] = [
    ("DirectFanoutManager.emit", "roomkit: encode the packet once, then deliver it"),
    ("DirectFanoutManager.deliver", "roomkit: build the frame once, push it to each outbox"),
    ("Outbox.push", "roomkit: append the frame to one connection's outbox"),
    ("Flusher._run", "roomkit: one write per connection per loop iteration"),
    ("DirectSocket._websocket_handler", "roomkit: read and dispatch incoming packets"),
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


def _is_python(location: str) -> bool:
    return location.endswith(".py") or location.startswith("<frozen")


def classify(frames: list[tuple[str, str]]) -> str:
    """What a sampled stack (root first) was doing, for the by-package table."""
    if any(function.startswith(("gc_collect", "collect_")) for function, _ in frames):
        return GARBAGE_COLLECTOR
    function, location = frames[-1]
    if not _is_python(location) and ("libc" in location or "0x" in function):
        for what, names in SYSTEM_CALLS:
            if any(name in function for name in names):
                return what
    for _, location in reversed(frames):
        for what, parts in PACKAGES:
            if any(part in location for part in parts):
                return what
        if _is_python(location):
            break
    return "other (interpreter, C extensions)"


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
        by_package[classify(frames)] += count
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


def py_spy() -> str | None:
    """The py-spy executable next to this Python or on PATH, if any."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.exists():
        return str(beside)
    return shutil.which("py-spy")


async def _profile_one(
    spy: str, kind: ServerKind, config: Config, client_kind: str
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="roomkit-profile-") as scratch:
        return await _record(spy, kind, config, client_kind, Path(scratch) / "samples.txt")


async def _record(
    spy: str, kind: ServerKind, config: Config, client_kind: str, samples_file: Path
) -> dict[str, Any]:
    receivers = max(config.sizes)
    messages = max(10, round(config.deliveries / receivers))
    timeout = config.burst_timeout(messages * receivers)
    server = await ServerProcess.start(kind, cpu=config.server_cpu, log_dir=config.log_dir)
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
            cost = []
            for _ in range(2):  # unprofiled: the CPU time the samples will split
                result = await room.burst(messages, timeout=timeout)
                server_cpu = sum(v for k, v in result.cpu.items() if k.startswith("server:"))
                if result.delivered:
                    cost.append(server_cpu * result.seconds / result.delivered * 1e6)
            recorder = await asyncio.create_subprocess_exec(
                *[spy, "record", "--pid", str(server.pid), "--native", "--rate", "100"],
                *["--duration", f"{max(1, round(config.profile_seconds))}"],
                *["--format", "raw", "--output", str(samples_file)],
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.STDOUT,
            )
            deadline = asyncio.get_running_loop().time() + config.profile_seconds + timeout
            # Short bursts: the server crawls while sampled, and the last burst
            # should end soon after the profiler does.
            while recorder.returncode is None and asyncio.get_running_loop().time() < deadline:
                await room.burst(max(5, messages // 10), timeout=timeout)
            try:
                await asyncio.wait_for(recorder.wait(), 30.0)
            except asyncio.TimeoutError:
                recorder.kill()
                await recorder.wait()
                return {"available": False, "reason": "py-spy did not finish"}
        finally:
            await room.close()
    finally:
        await server.stop()
    return _read_samples(samples_file, recorder.returncode, median(cost)) | {
        "server": kind.name,
        "receivers": receivers,
        "messages": messages,
    }


def _read_samples(samples_file: Path, status: int | None, us_per_message: float) -> dict[str, Any]:
    if not samples_file.exists():
        return {"available": False, "reason": f"py-spy wrote no samples (exit status {status})"}
    summary = summarise(samples_file, us_per_message)
    return {"available": True, "server_us_per_message": us_per_message, **summary}


async def profile(config: Config, client_kind: str) -> dict[str, Any]:
    """Profile ``roomkit serve`` with its defaults, then without its speed options."""
    spy = py_spy()
    if spy is None:
        return {"available": False, "reason": "py-spy is not installed (pip install '.[bench]')"}
    profiles = {
        name: await _profile_one(spy, SERVER_KINDS[name], config, client_kind)
        for name in ("roomkit", "roomkit-asyncio")
    }
    return {"available": True, "profiles": profiles}
