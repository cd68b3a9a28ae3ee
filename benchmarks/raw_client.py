"""The ``raw`` benchmark client: engine.io/socket.io text frames on an aiohttp websocket.

It speaks the text frames of :mod:`benchmarks.wire` itself and does not decode
JSON on the hot path, which makes it several times cheaper per received message
than ``socketio.AsyncClient``. The coordinator's sender is one of these.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp

from benchmarks.tally import NAMESPACE, Tally
from benchmarks.wire import (
    BURST_TEXT_MARK,
    PING,
    PONG,
    ack_prefix,
    connect_frame,
    event_frame,
    socket_url,
)

__all__ = ["RawClient"]


class RawClient:
    """Engine.IO/Socket.IO over an ``aiohttp`` websocket, frames written by hand.

    :param session: the ``aiohttp`` session to open the websocket with.
    :param base_url: the server, ``http://127.0.0.1:<port>``.
    :param name: sent as ``auth.name``.
    :param tally: where received benchmark messages are counted.
    """

    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, name: str, tally: Tally
    ) -> None:
        self.session = session
        self.base_url = base_url
        self.name = name
        self.tally = tally
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._acks: dict[str, asyncio.Future[str]] = {}
        self._next_ack = 0
        self._reader: asyncio.Task[None] | None = None

    async def connect(self, timeout: float) -> None:
        """Open the websocket and join the namespace.

        :raises TimeoutError: when the server does not accept within ``timeout`` s.
        :raises ConnectionError: when the namespace refuses the client.
        """
        self.ws = await asyncio.wait_for(self._handshake(), timeout)
        self._reader = asyncio.create_task(self._read(self.ws))

    async def _handshake(self) -> aiohttp.ClientWebSocketResponse:
        # compress=15: offer permessage-deflate, as browsers do.
        ws = await self.session.ws_connect(
            socket_url(self.base_url), compress=15, autoping=True, max_msg_size=0
        )
        opened = await ws.receive_str()
        if not opened.startswith("0"):
            raise ConnectionError(f"expected an engine.io OPEN packet, got {opened[:40]!r}")
        await ws.send_str(connect_frame(NAMESPACE, {"name": self.name}))
        while True:
            answer = await ws.receive_str()
            if answer.startswith(f"40{NAMESPACE},"):
                return ws
            if answer.startswith(f"44{NAMESPACE},"):
                raise ConnectionError(f"{NAMESPACE} refused {self.name}: {answer}")

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        # The hot path: one frame per delivered message. Only the text field of
        # benchmark messages is looked at; everything else but acks is ignored.
        mark, mark_length = BURST_TEXT_MARK, len(BURST_TEXT_MARK) - 3
        record = self.tally.record
        async for message in ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            frame: str = message.data
            start = frame.rfind(mark)
            if start >= 0:
                fields = frame[start + mark_length :].split(":", 4)
                record(int(fields[1]), int(fields[3]))
            elif frame == PING:
                await ws.send_str(PONG)
            elif frame.startswith("43"):
                self._answer(frame)

    def _answer(self, frame: str) -> None:
        for prefix, waiter in list(self._acks.items()):
            if frame.startswith(prefix) and not waiter.done():
                waiter.set_result(frame)
                del self._acks[prefix]
                return

    async def call(self, event: str, *args: Any, timeout: float) -> str:
        """Send ``event`` asking for an ack; return the raw ack frame."""
        if self.ws is None:
            raise ConnectionError("not connected")
        self._next_ack += 1
        prefix = ack_prefix(NAMESPACE, self._next_ack)
        waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._acks[prefix] = waiter
        await self.ws.send_str(event_frame(NAMESPACE, event, *args, ack=self._next_ack))
        return await asyncio.wait_for(waiter, timeout)

    async def join(self, room: str, timeout: float) -> None:
        answer = await self.call("join room", room, timeout=timeout)
        if '"ok":true' not in answer:
            raise ConnectionError(f"{self.name} could not join {room!r}: {answer}")

    async def send_message(self, room: str, text: str) -> None:
        if self.ws is None:
            raise ConnectionError("not connected")
        await self.ws.send_str(event_frame(NAMESPACE, "message", {"room": room, "text": text}))

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 2.0)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
