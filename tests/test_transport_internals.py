"""The python-engineio and aiohttp internals roomkit.transport and roomkit.outbox rely on.

pyproject.toml pins the versions these were read from and tested with; when a
release changes one of them, this fails and names it, instead of the direct
path breaking quietly.
"""

from __future__ import annotations

import asyncio
import inspect
from importlib import metadata

import engineio
from aiohttp import web
from aiohttp._websocket.writer import WebSocketWriter
from aiohttp.base_protocol import BaseProtocol
from aiohttp.web_ws import WebSocketResponse
from engineio import packet as eio_packet
from engineio.async_server import AsyncServer
from engineio.async_socket import AsyncSocket
from engineio.base_socket import BaseSocket

from roomkit.outbox import Backlog, CountingQueue


def source(function: object) -> str:
    return inspect.getsource(function)  # type: ignore[arg-type]


def test_tested_versions() -> None:
    assert metadata.version("python-engineio").startswith("4.15."), "re-check roomkit.transport"
    assert metadata.version("aiohttp").startswith("3.14."), "re-check roomkit.outbox"


def test_engineio_creates_the_socket_before_the_connect_handler_serves_it() -> None:
    # install() swaps the class in the 'connect' handler: the socket must be in
    # eio.sockets by then, and no request of it served yet.
    code = source(AsyncServer._handle_connect)
    created = code.index("s = async_socket.AsyncSocket(self, sid)")
    registered = code.index("self.sockets[sid] = s")
    connect = code.index("self._trigger_event('connect', sid, environ")
    served = code.index("s.handle_get_request(environ)")
    assert created < registered < connect < served


def test_engineio_socket_methods_roomkit_overrides_or_calls() -> None:
    expected = {
        "_upgrade_websocket": ["self", "environ"],
        "_websocket_handler": ["self", "ws"],
        "receive": ["self", "pkt"],
        "send": ["self", "pkt"],
        "close": ["self", "wait", "abort", "reason"],
        "check_ping_timeout": ["self"],
        "poll": ["self"],
        "handle_get_request": ["self", "environ"],
    }
    for name, parameters in expected.items():
        assert list(inspect.signature(getattr(AsyncSocket, name)).parameters) == parameters, name
    # The websocket upgrade is dispatched by name; packets go through the queue.
    assert "getattr(self, '_upgrade_' + transport)(environ)" in source(
        AsyncSocket.handle_get_request
    )
    assert "await self.queue.put(pkt)" in source(AsyncSocket.send)
    assert "await self.queue.join()" in source(AsyncSocket.close)
    assert "if self.upgrading or self.upgraded:" in source(AsyncSocket.handle_get_request)
    state = source(BaseSocket.__init__)
    for attribute in ("queue", "last_ping", "connected", "upgrading", "upgraded", "closing"):
        assert f"self.{attribute} =" in state, attribute


def test_engineio_packets_and_reasons() -> None:
    binary = eio_packet.Packet(eio_packet.MESSAGE, b"\x00\x01")
    assert binary.binary
    assert binary.data == b"\x00\x01"
    text = eio_packet.Packet(eio_packet.MESSAGE, '2/chat,["x"]')
    assert not text.binary
    assert text.encode() == '42/chat,["x"]'
    assert eio_packet.Packet(eio_packet.PING, data="probe").encode() == "2probe"
    assert eio_packet.Packet(eio_packet.UPGRADE).encode() == "5"
    server = engineio.AsyncServer(async_mode="aiohttp")
    assert server.async_mode == "aiohttp"
    assert "connect" not in server.handlers  # python-socketio sets it, install() wraps it
    assert {"PING_TIMEOUT", "TRANSPORT_CLOSE"} <= set(vars(server.reason))


def test_aiohttp_websocket_writer_and_flow_control() -> None:
    parameters = inspect.signature(WebSocketResponse).parameters
    assert {"compress", "max_msg_size"} <= set(parameters)
    assert "compress" in source(WebSocketResponse._pre_start)
    post_start = source(WebSocketResponse._post_start)
    assert "self._writer = writer" in post_start
    writer_init = source(WebSocketWriter.__init__)
    for attribute in ("self.protocol = protocol", "self.transport = transport", "self.notakeover"):
        assert attribute in writer_init, attribute
    assert isinstance(BaseProtocol.writing_paused, property)
    assert inspect.iscoroutinefunction(BaseProtocol._drain_helper)
    assert "timeout" in inspect.signature(web.WebSocketResponse.receive).parameters


async def test_asyncio_queue_hooks_count_what_passes() -> None:
    queue = CountingQueue(Backlog(), lambda *_: None)
    queue.put_nowait(eio_packet.Packet(eio_packet.MESSAGE, "abc"))
    await queue.put(eio_packet.Packet(eio_packet.MESSAGE, "de"))
    assert queue.bytes == 4 + 3
    queue.get_nowait()
    assert queue.bytes == 3
    assert await asyncio.wait_for(queue.get(), 1) is not None
    assert queue.bytes == 0
