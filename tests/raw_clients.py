"""Socket.IO clients written by hand on aiohttp, for what real clients never do,
and the packets they send.

- :class:`RawSession`: one engine.io session driven packet by packet: open it on
  long-polling or websocket, upgrade at a chosen moment, stop reading, never
  answer pings.
- :class:`RawChatClient`: one ``/chat`` connection on a websocket that runs by
  itself (answers pings, resolves acks, counts events), light enough for attack
  tests with hundreds or thousands of connections (a python-socketio client
  costs too much for that).
- :func:`polling_session`, :func:`websocket_session`, :func:`closed_by_server`:
  one-shot helpers on a plain aiohttp session.

Engine.IO 4 / Socket.IO 5 text packets only (see benchmarks/wire.py)::

    0{"sid":...}                 open             2 / 3     ping / pong
    40/chat,{"name":"r1"}        connect          42/chat,7["join room","x"]  event, ack 7
    43/chat,7[{...}]             ack 7
"""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

__all__ = [
    "RawChatClient",
    "RawSession",
    "ack_of",
    "closed_by_server",
    "connect_packet",
    "event_of",
    "event_packet",
    "polling_session",
    "websocket_session",
]

TIMEOUT = 3.0
CHAT = "/chat"


def connect_packet(namespace: str, auth: dict[str, Any] | None = None) -> str:
    """The Socket.IO CONNECT packet for ``namespace``."""
    return f"40{namespace}," + (json.dumps(auth) if auth is not None else "")


def event_packet(namespace: str, event: str, *args: Any, ack: int | None = None) -> str:
    """A Socket.IO EVENT packet, asking for ack number ``ack`` when given."""
    return f"42{namespace}," + ("" if ack is None else str(ack)) + json.dumps([event, *args])


def event_of(packet: str, namespace: str) -> list[Any] | None:
    """``[event, *args]`` when ``packet`` is an EVENT in ``namespace``, else None."""
    prefix = f"42{namespace},"
    return json.loads(packet[len(prefix) :]) if packet.startswith(prefix) else None


def ack_of(packet: str, namespace: str) -> tuple[int, Any] | None:
    """``(number, first argument)`` when ``packet`` is an ACK in ``namespace``, else None."""
    prefix = f"43{namespace},"
    if not packet.startswith(prefix):
        return None
    number, _, payload = packet[len(prefix) :].partition("[")
    return int(number), json.loads("[" + payload)[0]


def _websocket_url(url: str, sid: str = "") -> str:
    return url.replace("http://", "ws://", 1) + _path("websocket", sid)


def _path(transport: str, sid: str = "") -> str:
    return f"/socket.io/?EIO=4&transport={transport}" + (f"&sid={sid}" if sid else "")


class RawSession:
    """One engine.io session on ``url`` (``http://127.0.0.1:<port>``).

    :param session: the aiohttp session to use (closed by the caller).
    :param url: the server.
    """

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url
        self.sid = ""
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    # -- long-polling --------------------------------------------------------------

    async def open_polling(self) -> None:
        """Start a session on long-polling (the OPEN packet)."""
        packets = await self.get()
        assert packets[0].startswith("0"), packets
        self.sid = json.loads(packets[0][1:])["sid"]

    async def get(self) -> list[str]:
        """One long-poll: the packets the server had (or gets) for us."""
        endpoint = self.url + _path("polling", self.sid)
        async with self.session.get(endpoint, timeout=TIMEOUT) as response:
            assert response.status == 200, await response.text()
            return (await response.text()).split("\x1e")

    async def post(self, *packets: str) -> None:
        """Send ``packets`` by long-polling."""
        async with self.session.post(
            self.url + _path("polling", self.sid), data="\x1e".join(packets), timeout=TIMEOUT
        ) as response:
            assert response.status == 200, await response.text()

    # -- websocket -----------------------------------------------------------------

    async def open_websocket(self, *, compress: int = 15) -> aiohttp.ClientWebSocketResponse:
        """Open the websocket: a new session, or the upgrade of a polling one.

        :param compress: offer permessage-deflate with this window (0: do not
            offer). Default 15, as browsers.
        """
        url = _websocket_url(self.url, self.sid)
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

    async def events_until(
        self, namespace: str, last: str, timeout: float = TIMEOUT
    ) -> list[list[Any]]:
        """Every event received on the websocket up to and including ``last``."""
        events: list[list[Any]] = []

        async def collect() -> None:
            while not events or events[-1][0] != last:
                event = event_of(await self.receive(timeout), namespace)
                if event is not None:
                    events.append(event)

        await asyncio.wait_for(collect(), timeout)
        return events


class RawChatClient:
    """One ``/chat`` connection over a raw websocket.

    Answers pings, resolves acks and counts the events it receives by name
    (``counts``); keeps the payloads of ``presence`` events (``summaries``).

    :param session: the ``aiohttp`` session to open the websocket with.
    :param url: the server's ``http://host:port``.
    :param name: the display name sent as ``auth.name``.
    """

    def __init__(self, session: aiohttp.ClientSession, url: str, name: str) -> None:
        self.session = session
        self.url = _websocket_url(url)
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
        await ws.send_str(connect_packet(CHAT, {"name": self.name}))
        while not (await ws.receive_str()).startswith(f"40{CHAT},"):
            pass
        return ws

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                await self._packet(ws, message.data)
        finally:
            self.closed.set()
            for future in self._acks.values():
                if not future.done():
                    future.set_exception(ConnectionError(f"{self.name} closed"))

    async def _packet(self, ws: aiohttp.ClientWebSocketResponse, packet: str) -> None:
        if packet == "2":
            await ws.send_str("3")
        elif (event := event_of(packet, CHAT)) is not None:
            name, *args = event
            self.counts[name] += 1
            if name == "presence":
                self.summaries.append(args[0])
            async with self.arrived:
                self.arrived.notify_all()
        elif (ack := ack_of(packet, CHAT)) is not None:
            future = self._acks.pop(ack[0], None)
            if future is not None and not future.done():
                future.set_result(ack[1])

    async def send_raw(self, *packets: str) -> None:
        """Send ``packets`` as they are, without waiting for anything."""
        assert self._ws is not None
        for packet in packets:
            await self._ws.send_str(packet)

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
        await self._ws.send_str(event_packet(CHAT, event, *args, ack=number))
        return await asyncio.wait_for(future, timeout)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await self._reader


async def polling_session(
    http: aiohttp.ClientSession, polling_url: str, namespaces: Sequence[str] = (CHAT,)
) -> str:
    """Open an engine.io polling session, connect it to ``namespaces``; its sid."""
    async with http.get(polling_url) as response:
        sid = str(json.loads((await response.text())[1:])["sid"])
    for namespace in namespaces:
        async with http.post(
            f"{polling_url}&sid={sid}", data=connect_packet(namespace)
        ) as response:
            assert response.status == 200, await response.text()
    return sid


async def websocket_session(
    http: aiohttp.ClientSession, url: str, namespace: str = CHAT, **options: object
) -> aiohttp.ClientWebSocketResponse:
    """A raw engine.io websocket connected to ``namespace``."""
    ws = await http.ws_connect(url + _path("websocket"), **options)  # type: ignore[arg-type]
    opened = await ws.receive_str(timeout=5)
    assert opened.startswith("0{"), opened
    await ws.send_str(connect_packet(namespace))
    answer = await ws.receive_str(timeout=5)
    assert answer.startswith(f"40{namespace},"), answer
    return ws


async def closed_by_server(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5) -> bool:
    """Read until the server closes ``ws`` (True) or ``timeout`` passes (False)."""
    ends = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)

    async def until_closed() -> bool:
        while (await ws.receive()).type not in ends:
            pass
        return True

    try:
        return await asyncio.wait_for(until_closed(), timeout)
    except asyncio.TimeoutError:
        return False
