"""A Socket.IO client written by hand on aiohttp, for what real clients never do:
upgrade at a chosen moment, stop reading, never answer pings.

Import from tests (``from rawclient import RawClient``); it speaks Engine.IO 4
text packets only.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

__all__ = ["RawClient"]

TIMEOUT = 3.0


class RawClient:
    """One engine.io session on ``url`` (``http://127.0.0.1:<port>``).

    :param session: the aiohttp session to use (closed by the caller).
    :param url: the server.
    """

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url
        self.sid = ""
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    def _endpoint(self, transport: str) -> str:
        query = f"EIO=4&transport={transport}"
        return f"{self.url}/socket.io/?{query}" + (f"&sid={self.sid}" if self.sid else "")

    # -- long-polling --------------------------------------------------------------

    async def open_polling(self) -> None:
        """Start a session on long-polling (the OPEN packet)."""
        packets = await self.get()
        assert packets[0].startswith("0"), packets
        self.sid = json.loads(packets[0][1:])["sid"]

    async def get(self) -> list[str]:
        """One long-poll: the packets the server had (or gets) for us."""
        async with self.session.get(self._endpoint("polling"), timeout=TIMEOUT) as response:
            assert response.status == 200, await response.text()
            return (await response.text()).split("\x1e")

    async def post(self, *packets: str) -> None:
        """Send ``packets`` by long-polling."""
        async with self.session.post(
            self._endpoint("polling"), data="\x1e".join(packets), timeout=TIMEOUT
        ) as response:
            assert response.status == 200, await response.text()

    # -- websocket -----------------------------------------------------------------

    async def open_websocket(self, *, compress: int = 15) -> aiohttp.ClientWebSocketResponse:
        """Open the websocket: a new session, or the upgrade of a polling one.

        :param compress: offer permessage-deflate with this window (0: do not
            offer). Default 15, as browsers.
        """
        url = self._endpoint("websocket").replace("http://", "ws://", 1)
        self.ws = await self.session.ws_connect(url, compress=compress, autoping=True)
        if not self.sid:
            opened = await self.receive()
            assert opened.startswith("0"), opened
            self.sid = json.loads(opened[1:])["sid"]
        return self.ws

    async def send(self, packet: str) -> None:
        """Send one packet on the websocket."""
        assert self.ws is not None
        await self.ws.send_str(packet)

    async def receive(self, timeout: float = TIMEOUT) -> str:
        """The next packet on the websocket."""
        assert self.ws is not None
        message = await self.ws.receive(timeout)
        assert message.type is aiohttp.WSMsgType.TEXT, message
        data: str = message.data
        return data

    async def upgrade(self) -> None:
        """engine.io's upgrade handshake, after :meth:`open_websocket` on a
        polling session: probe, then upgrade (use the steps to stop between)."""
        await self.probe()
        await self.send("5")

    async def probe(self) -> None:
        """The first half of the upgrade: ping probe, pong probe."""
        await self.send("2probe")
        assert await self.receive() == "3probe"

    # -- Socket.IO ------------------------------------------------------------------

    @staticmethod
    def connect_packet(namespace: str, auth: dict[str, Any] | None = None) -> str:
        """The Socket.IO CONNECT packet for ``namespace``."""
        return f"40{namespace}," + (json.dumps(auth) if auth is not None else "")

    @staticmethod
    def event_packet(namespace: str, event: str, *args: Any, ack: int | None = None) -> str:
        """A Socket.IO EVENT packet."""
        return f"42{namespace}," + ("" if ack is None else str(ack)) + json.dumps([event, *args])

    @staticmethod
    def event_of(packet: str, namespace: str) -> list[Any] | None:
        """``[event, *args]`` when ``packet`` is an EVENT in ``namespace``, else None."""
        prefix = f"42{namespace},"
        return json.loads(packet[len(prefix) :]) if packet.startswith(prefix) else None

    async def events_until(
        self, namespace: str, last: str, timeout: float = TIMEOUT
    ) -> list[list[Any]]:
        """Every event received on the websocket up to and including ``last``."""
        events: list[list[Any]] = []

        async def collect() -> None:
            while not events or events[-1][0] != last:
                event = self.event_of(await self.receive(timeout), namespace)
                if event is not None:
                    events.append(event)

        await asyncio.wait_for(collect(), timeout)
        return events
