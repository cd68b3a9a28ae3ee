"""The baseline: the smallest python-socketio server that speaks roomkit's room protocol.

``python -m benchmarks.bare_server --port P [--loop uvloop]`` serves ``/chat``
with ``join room`` (acked) and ``message`` (relayed to the room, sender
skipped, same payload shape as roomkit's), and nothing else: no validation,
no store, no rate limit. roomkit must not be slower than this.

``--fanout direct`` swaps in roomkit's :class:`~roomkit.fanout.DirectFanoutManager`
(a broadcast without a task per recipient), to measure what that manager alone gives.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import socketio
from aiohttp import web

from roomkit.fanout import DirectFanoutManager

__all__ = ["build_app", "main"]

NAMESPACE = "/chat"


def build_app(fanout: str = "tasks") -> web.Application:
    """An ``aiohttp`` application with the bare Socket.IO server attached.

    :param fanout: ``tasks`` (python-socketio's manager) or ``direct``
        (roomkit's :class:`~roomkit.fanout.DirectFanoutManager`). Default ``tasks``.
    """
    manager = DirectFanoutManager() if fanout == "direct" else None
    sio = socketio.AsyncServer(
        async_mode="aiohttp", cors_allowed_origins="*", client_manager=manager
    )
    names: dict[str, str] = {}

    @sio.on("connect", namespace=NAMESPACE)
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        name = auth.get("name") if isinstance(auth, dict) else None
        names[sid] = str(name or f"guest-{sid[:6]}")

    @sio.on("disconnect", namespace=NAMESPACE)
    async def disconnect(sid: str, reason: str = "") -> None:
        names.pop(sid, None)

    @sio.on("join room", namespace=NAMESPACE)
    async def join_room(sid: str, room: str) -> dict[str, Any]:
        await sio.enter_room(sid, room, namespace=NAMESPACE)
        return {"ok": True, "room": room}

    @sio.on("message", namespace=NAMESPACE)
    async def message(sid: str, data: dict[str, Any]) -> None:
        payload = {"user": sid, "name": names.get(sid, ""), "room": data["room"]}
        payload["text"] = data["text"]
        await sio.emit("message", payload, room=data["room"], skip_sid=sid, namespace=NAMESPACE)

    app = web.Application()
    sio.attach(app)
    return app


def main() -> None:
    """Serve on 127.0.0.1 until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--fanout", choices=["tasks", "direct"], default="tasks")
    args = parser.parse_args()
    loop = asyncio.new_event_loop()
    if args.loop == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()

    def announce(_message: str) -> None:
        # The line benchmarks.servers waits for: the port accepts connections now.
        print(f"bare python-socketio serving on http://127.0.0.1:{args.port}", flush=True)

    web.run_app(build_app(args.fanout), host="127.0.0.1", port=args.port, print=announce, loop=loop)


if __name__ == "__main__":
    main()
