"""The three kinds of benchmark client, and :func:`make_client` to pick one.

All connect over websocket only to a namespace, offering permessage-deflate
as browsers and the official JS client do (a server may accept or decline;
compressed frames are inflated), join a room and report every benchmark
``message`` they receive to a :class:`~benchmarks.tally.Tally`:

- ``frame`` (:mod:`benchmarks.frame_client`): a bare ``asyncio.Protocol``
  that splits frames itself, the cheapest;
- ``raw`` (:mod:`benchmarks.raw_client`): text frames on an ``aiohttp``
  websocket, without decoding JSON on the hot path;
- ``socketio`` (:class:`SocketioClient`, here): ``socketio.AsyncClient``.

The ``client-cost`` scenario measures what each costs per received message.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
import socketio

from benchmarks.frame_client import FrameClient
from benchmarks.raw_client import RawClient
from benchmarks.tally import NAMESPACE, BenchClient, Tally
from benchmarks.wire import parse_text

__all__ = ["CLIENT_KINDS", "SocketioClient", "make_client"]

CLIENT_KINDS = ("frame", "raw", "socketio")


class SocketioClient:
    """``socketio.AsyncClient`` over websocket, for comparison with :class:`RawClient`.

    Same parameters as :class:`RawClient` but the session, which it does not use.
    """

    def __init__(self, base_url: str, name: str, tally: Tally) -> None:
        self.base_url = base_url
        self.name = name
        self.tally = tally
        self.sio = socketio.AsyncClient(reconnection=False)
        self.sio.on("message", self._on_message, namespace=NAMESPACE)

    def _on_message(self, data: Any) -> None:
        text = data.get("text") if isinstance(data, dict) else None
        parsed = parse_text(text) if isinstance(text, str) else None
        if parsed is not None:
            self.tally.record(parsed[0], parsed[2])

    async def connect(self, timeout: float) -> None:
        await self.sio.connect(
            self.base_url,
            namespaces=[NAMESPACE],
            auth={"name": self.name},
            transports=["websocket"],
            wait_timeout=timeout,
        )

    async def join(self, room: str, timeout: float) -> None:
        answer = await self.sio.call("join room", room, namespace=NAMESPACE, timeout=timeout)
        if not (isinstance(answer, dict) and answer.get("ok")):
            raise ConnectionError(f"{self.name} could not join {room!r}: {answer}")

    async def send_message(self, room: str, text: str) -> None:
        await self.sio.emit("message", {"room": room, "text": text}, namespace=NAMESPACE)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.sio.disconnect(), 2.0)


def make_client(
    kind: str, session: aiohttp.ClientSession, base_url: str, name: str, tally: Tally
) -> BenchClient:
    """A client of ``kind`` (one of :data:`CLIENT_KINDS`)."""
    if kind == "frame":
        return FrameClient(base_url, name, tally)
    if kind == "raw":
        return RawClient(session, base_url, name, tally)
    if kind == "socketio":
        return SocketioClient(base_url, name, tally)
    raise ValueError(f"unknown client kind {kind!r}; use one of {CLIENT_KINDS}")
