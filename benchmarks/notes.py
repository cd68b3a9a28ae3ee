"""The "what is left, and what would remove it" notes of docs/benchmarks.md,
written from the profile of ``roomkit serve`` (see :mod:`benchmarks.profile`)."""

from __future__ import annotations

from typing import Any

__all__ = ["removal_notes"]


def _us(found: dict[str, Any], key: str, name: str) -> str:
    row = next((r for r in found.get(key, []) if r.get("function", r.get("what")) == name), None)
    return f"{row['us_per_message']:.2f}" if row else "n/a"


def removal_notes(profiles: dict[str, Any]) -> list[str]:
    """Markdown lines; ``profiles`` maps server names to :func:`profile.summarise` results."""
    found = profiles.get("roomkit") or next(iter(profiles.values()))
    total = found.get("server_us_per_message")
    return [
        "### What is left per delivered message, and what would remove it",
        "",
        "A room broadcast is encoded once and framed once (server frames are not masked, "
        "so every websocket recipient gets the same bytes); each recipient's outbox gets a "
        "reference to those bytes, and once per event-loop iteration every outbox that got "
        "frames is written with one `transport.write`. No task, queue hand-off, timer or "
        "frame is made per recipient. Permessage-deflate, which browsers and the JS client "
        "offer, is declined by default (`--websocket-compression` accepts it; its row above "
        "shows the cost of compressing each message once per recipient).",
        "",
        f"Of the {total:.2f} µs of server CPU per delivered message measured for "
        "`roomkit serve` (defaults) in this run:"
        if isinstance(total, float | int)
        else "Per delivered message:",
        "",
        "1. **The per-recipient loop** of `DirectFanoutManager.deliver` "
        f"({_us(found, 'path', 'DirectFanoutManager.deliver')} µs/msg, of which `Outbox.push` "
        f"{_us(found, 'path', 'Outbox.push')}): python-socketio's participant generator, the "
        "skip check, the engine.io socket lookup, the closed and ping-timeout checks, the "
        "append. What would remove most of it: keeping, per room, the list of its members' "
        "outboxes (updated on join, leave, upgrade and close) so that a broadcast is one "
        "loop over a list, or that loop in C.",
        f"2. **The writes** (`Flusher._run`, {_us(found, 'path', 'Flusher._run')} µs/msg; "
        f"system calls {_us(found, 'by_package', 'send()/write() system calls')} µs/msg): one "
        "write per connection per loop iteration, carrying every frame that connection got "
        "in the iteration. Under a burst that is many frames per system call; a paced "
        "stream of one message per iteration still pays one system call per frame per "
        "recipient, the floor Node pays too. Fewer would need holding frames back (latency) "
        "or batched system calls across sockets (io_uring, sendmmsg), which asyncio and "
        "uvloop do not offer.",
        "3. **Reading and dispatching** the sender's message "
        "(`DirectSocket._websocket_handler`, "
        f"{_us(found, 'path', 'DirectSocket._websocket_handler')} µs per delivered "
        "message): once per message, not per recipient, so it shrinks as rooms grow: "
        "aiohttp's frame parser, engine.io and socket.io decoding, one task per event "
        "(python-socketio's `async_handlers`), roomkit's validation.",
        "",
        "Before this change (queue per connection, engine.io's writer task, deflate "
        "accepted), docs/benchmarks.md measured roomkit at 0.45x and 0.34x Node's deliveries "
        "per second at N=100 and N=500, a p99 of 28.6 ms against Node's 17.4 ms at N=500, "
        "and 34.5 KiB per idle connection against Node's 24.6 (commit 53af853).",
        "",
    ]
