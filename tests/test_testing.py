"""roomkit.testing, the helpers tests and notebooks share."""

from __future__ import annotations

import asyncio

import pytest
import socketio

from roomkit import Settings, create_app
from roomkit.errors import ConnectRefused, WaitTimeout
from roomkit.testing import connect, expect_silence, serve, start_server, transcript


def echo_server() -> socketio.AsyncServer:
    sio = socketio.AsyncServer(async_mode="aiohttp")

    @sio.on("shout", namespace="/echo")
    async def shout(sid: str, text: str) -> None:
        await sio.emit("echo", text.upper(), namespace="/echo")

    @sio.on("connect", namespace="/echo")
    async def on_connect(sid: str, environ: dict[str, object], auth: object) -> None:
        if auth == {"name": "banned"}:
            raise socketio.exceptions.ConnectionRefusedError("go away")

    return sio


async def test_bare_server_wait_for_transcript_and_stop() -> None:
    server = await start_server(echo_server())
    assert server.url.startswith("http://127.0.0.1:")
    ann = await connect(server.url, "ann", namespace="/echo")
    bo = await connect(server.url, "bo", namespace="/echo")
    await ann.emit("shout", "hi")
    assert await ann.wait_for("echo") == "HI"
    assert await bo.wait_for("echo") == "HI"
    assert transcript(ann, bo) == "ann  <- echo: 'HI'\nbo   <- echo: 'HI'"
    await server.stop()
    await server.stop()  # stopping twice is harmless
    assert not ann.connected


async def test_wait_for_times_out_readably() -> None:
    async with serve(echo_server()) as server:
        ann = await connect(server.url, "ann", namespace="/echo")
        await ann.emit("shout", "x")
        await ann.wait_for("echo")
        with pytest.raises(
            WaitTimeout,
            match=r"ann did not receive 'nope' within 0.1 s \(it "
            r"received: echo\)",
        ):
            await ann.wait_for("nope", timeout=0.1)
        await ann.disconnect()


async def test_wait_for_returns_each_event_once_and_filters() -> None:
    async with serve(echo_server()) as server:
        ann = await connect(server.url, "ann", namespace="/echo")
        for word in ("one", "two", "three"):
            await ann.emit("shout", word)
        assert await ann.wait_for("echo", where=lambda text: text.startswith("T")) == "TWO"
        assert await ann.wait_for("echo") == "ONE"
        assert await ann.wait_for("echo") == "THREE"
        await ann.disconnect()


async def test_expect_silence_catches_unclaimed_events() -> None:
    async with serve(echo_server()) as server:
        ann = await connect(server.url, "ann", namespace="/echo")
        await ann.emit("shout", "boo")
        await ann.wait_for("echo")
        await expect_silence(ann)  # the only echo was claimed
        await ann.emit("shout", "again")
        with pytest.raises(AssertionError, match="ann should have received nothing, got: echo"):
            await expect_silence(ann)
        await ann.disconnect()


async def test_refusal_reason_reaches_the_client() -> None:
    async with serve(echo_server()) as server:
        with pytest.raises(ConnectRefused, match="go away"):
            await connect(server.url, "banned", namespace="/echo")


async def test_a_busy_port_leaves_no_background_task() -> None:
    app_settings = Settings(metrics_interval=0.05)
    async with serve(create_app(app_settings)) as first:
        with pytest.raises(OSError, match="address already in use"):
            await start_server(create_app(app_settings), port=first.port)
        leftovers = [
            task for task in asyncio.all_tasks() if "_push_metrics" in repr(task.get_coro())
        ]
        assert len(leftovers) == 1  # the first server's own


async def test_stop_finishes_even_when_its_caller_is_cancelled() -> None:
    # An interrupted notebook cell cancels serve()'s clean-up midway (a second
    # interrupt, or ipykernel cancelling again): the server must still close.
    server = await start_server()
    alice = await connect(server.url, "alice")
    stopping = asyncio.create_task(server.stop())
    await asyncio.sleep(0)  # one loop turn: stop() has begun the clean-up
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    await server.stop()  # waits for the clean-up the cancelled call began
    _, port = server.url.rsplit(":", 1)
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", int(port))
    assert not alice.connected
    await alice.disconnect()


def typo_server() -> socketio.AsyncServer:
    sio = socketio.AsyncServer(async_mode="aiohttp")

    @sio.on("join room", namespace="/chat")
    async def join_room(sid: str, room: str) -> dict[str, object]:
        await sio.enter_room(sid, room, namespace="/chat")
        return {"ok": True, "room": rooom}  # type: ignore[name-defined]  # noqa: F821

    @sio.on("connect", namespace="/broken")
    async def on_connect(sid: str, environ: dict[str, object], auth: object) -> None:
        raise KeyError("token")

    return sio


async def test_a_handler_exception_shows_in_the_timeout_and_the_transcript() -> None:
    async with serve(typo_server()) as server:
        alice = await connect(server.url, "alice")
        bob = await connect(server.url, "bob")
        with pytest.raises(WaitTimeout) as timeout:
            await alice.call("join room", "general", timeout=0.5)
        told = str(timeout.value)
        assert told.startswith("alice got no answer to 'join room' within 0.5 s; the server, ")
        assert "'join room' on /chat, raised NameError: name 'rooom' is not defined" in told
        assert "test_testing.py" not in told  # the instructor's test file is not the learner's
        assert [error.sid for error in server.handler_errors] == [alice.sid]
        # Told once: a later timeout is not blamed on the same typo again.
        with pytest.raises(WaitTimeout, match=r"within 0.5 s \(it received: nothing\)$"):
            await alice.wait_for("joined", timeout=0.5)
        shown = transcript(alice, bob).splitlines()
        assert shown[0] == "alice  (nothing)"
        assert shown[1].startswith("alice  !! the server, handling 'join room' on /chat, raised ")
        assert shown[-1] == "bob    (nothing)"  # bob's events raised nothing
        with pytest.raises(ConnectRefused, match=r"the server, handling 'connect' on /broken"):
            await connect(server.url, "carol", namespace="/broken", timeout=1)
        await alice.disconnect()
        await bob.disconnect()


async def test_a_named_server_started_again_stops_the_first() -> None:
    # A notebook cell `server = await start_server(app, name=...)` run twice.
    first = await start_server(echo_server(), name="demo")
    ann = await connect(first.url, "ann", namespace="/echo")
    second = await start_server(echo_server(), name="demo")
    assert first.stopped
    assert not ann.connected
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", first.port)
    bo = await connect(second.url, "bo", namespace="/echo")  # the second one serves
    other = await start_server(echo_server(), name="another")
    assert not second.stopped  # another name leaves it alone
    await bo.disconnect()
    await second.stop()
    await other.stop()
    await ann.disconnect()
