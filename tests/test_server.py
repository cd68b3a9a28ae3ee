"""RoomkitServer tells handlers whether the client asked for an ack.

It relies on python-socketio's private ``_handle_event_internal``; these tests
fail loudly if a python-socketio release changes that.
"""

from __future__ import annotations

import pytest
import socketio

from roomkit import ChatNamespace, Limits, MemoryStore
from roomkit.server import RoomkitServer, ack_requested
from roomkit.testing import connect, serve


def test_the_hook_exists_in_python_socketio() -> None:
    assert hasattr(socketio.AsyncServer, "_handle_event_internal")


async def test_handlers_see_whether_an_ack_was_requested() -> None:
    sio = RoomkitServer(async_mode="aiohttp")
    seen: list[bool] = []

    @sio.on("probe", namespace="/p")
    async def probe(sid: str, data: object) -> str:
        seen.append(ack_requested())
        await sio.emit("probed", ack_requested(), to=sid, namespace="/p")
        return "answer"

    sio.on("connect", lambda *args: None, namespace="/p")
    async with serve(sio) as server:
        client = await connect(server.url, "c", namespace="/p")
        assert await client.call("probe", 1) == "answer"
        assert await client.wait_for("probed") is True
        await client.emit("probe", 2)
        assert await client.wait_for("probed") is False
        await client.disconnect()
    assert seen == [True, False]


def test_an_event_namespace_refuses_a_server_that_cannot_tell_acks() -> None:
    """On a plain AsyncServer every refusal would take the wrong form: refused at once."""
    plain = socketio.AsyncServer(async_mode="aiohttp")
    with pytest.raises(TypeError, match=r"needs a roomkit\.server\.RoomkitServer"):
        plain.register_namespace(ChatNamespace(MemoryStore(), Limits()))
    RoomkitServer(async_mode="aiohttp").register_namespace(ChatNamespace(MemoryStore(), Limits()))
