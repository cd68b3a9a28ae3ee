"""Every connection's outgoing backlog is bounded: a client that does not read is
cut off as a slow consumer, with one log line, and the others are served.

The slow clients are hand-written: a websocket on a raw TCP socket with a tiny
receive buffer that stops reading once it is in a room, and a long-polling
session that never polls again. The memory test runs ``roomkit serve`` as a
real process and reads its resident memory before, during and after; its full
size (60 s, as in the report that found the problem) runs in ``make soak``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from raw_clients import RawSession, connect_packet, event_packet
from serve_support import Served, serving
from support import LogWaiter

from roomkit import Limits, Settings, create_app
from roomkit.app import CHAT_KEY, SERVER_KEY, STORE_KEY
from roomkit.stores.base import Member, Room
from roomkit.testing import RunningServer, connect, serve

REPO = Path(__file__).resolve().parent.parent
BUSY = "busy"


class SilentSocket:
    """A /chat client on a raw socket: it reads until it is in ``room``, then never again.

    Its receive buffer is made small so that the server feels it at once.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def join(cls, url: str, room: str, name: str = "silent") -> SilentSocket:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.setblocking(False)
        await asyncio.get_running_loop().sock_connect(raw, (host, int(port)))
        reader, writer = await asyncio.open_connection(sock=raw)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                f"Host: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
        assert head.startswith(b"HTTP/1.1 101"), head
        client = cls(reader, writer)
        await client.until(lambda text: text.startswith("0"))
        client.send(connect_packet("/chat", {"name": name}))
        await client.until(lambda text: text.startswith("40/chat,"))
        client.send(event_packet("/chat", "join room", room, ack=1))
        await client.until(lambda text: text.startswith("43/chat,1"))
        return client

    def send(self, text: str) -> None:
        """One masked text frame (a zero mask: the XOR changes nothing)."""
        payload = text.encode()
        assert len(payload) < 126
        self.writer.write(bytes((0x81, 0x80 | len(payload))) + b"\0\0\0\0" + payload)

    async def until(self, wanted: object) -> str:
        """Read frames until one whose text satisfies ``wanted``."""

        async def read() -> str:
            while True:
                _, second = await self.reader.readexactly(2)
                length = second & 0x7F
                if length >= 126:
                    size = 2 if length == 126 else 8
                    length = int.from_bytes(await self.reader.readexactly(size), "big")
                text = (await self.reader.readexactly(length)).decode()
                if wanted(text):  # type: ignore[operator]
                    return text

        return await asyncio.wait_for(read(), 3)

    def close(self) -> None:
        self.writer.transport.abort()


def slow_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The warnings that cut a slow consumer off (one per connection)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and "slow consumer" in r.getMessage()
    ]


@pytest.fixture
async def small_backlog() -> AsyncIterator[RunningServer]:
    limits = Limits(rate_limit=False, max_backlog_bytes=256 * 1024, max_backlog_packets=100)
    async with serve(create_app(Settings(metrics_interval=0, limits=limits))) as running:
        yield running


async def test_websocket_client_that_stops_reading_is_cut_off(
    small_backlog: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    server = small_backlog
    chat = server.app[CHAT_KEY]
    bystander = await connect(server.url, "bystander")
    await bystander.call("join room", BUSY)
    silent = await SilentSocket.join(server.url, BUSY)
    silent_sids = set(chat.connections) - {bystander.sid}
    sio, text = server.app[SERVER_KEY], "x" * 8192
    sent = 0
    try:
        while set(chat.connections) & silent_sids and sent < 3000:  # 24 MB at most
            for _ in range(16):
                await sio.emit("message", {"n": sent, "text": text}, room=BUSY, namespace="/chat")
                sent += 1
            # The bystander keeps up; the loop runs between batches.
            await bystander.wait_for("message", where=lambda m, last=sent - 1: m["n"] == last)
    finally:
        silent.close()
    assert not set(chat.connections) & silent_sids, f"still connected after {sent} messages"
    assert len(slow_lines(caplog)) == 1
    assert [m["n"] for m in bystander.events("message")] == list(range(sent))
    await bystander.disconnect()


async def test_polling_client_that_stops_polling_is_cut_off(
    small_backlog: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    server = small_backlog
    chat = server.app[CHAT_KEY]
    async with aiohttp.ClientSession() as http:
        raw = RawSession(http, server.url)
        await raw.open_polling()
        await raw.post(connect_packet("/chat", {"name": "idle"}))
        assert (await raw.get())[0].startswith("40/chat,")
        sid = next(iter(chat.connections))
        sio = server.app[SERVER_KEY]
        with LogWaiter(f"disconnect {sid} on /chat (slow consumer)") as cut_off:
            for number in range(101):  # one past max_backlog_packets
                await sio.emit("note", number, to=sid, namespace="/chat")
            await asyncio.wait_for(cut_off.seen.wait(), 3)
    assert sid not in chat.connections
    assert len(slow_lines(caplog)) == 1


async def test_list_rooms_asked_by_a_client_that_does_not_read_is_bounded(
    small_backlog: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    # The hardening report: a non-reading client asking for a large room list
    # again and again (here 500 rooms, about 60 KB a reply; limit 256 KiB).
    server = small_backlog
    store, chat = server.app[STORE_KEY], server.app[CHAT_KEY]
    for index in range(500):
        await store.create_room(
            Room(name=f"room-{index:04}", topic="t" * 60), Member(f"sid{index}", "owner")
        )
    bystander = await connect(server.url, "bystander")
    silent = await SilentSocket.join(server.url, BUSY)
    silent_sids = set(chat.connections) - {bystander.sid}
    try:
        for ack in range(2, 400):
            silent.send(event_packet("/chat", "list rooms", ack=ack))
            if ack % 10 == 0:
                # The bystander is answered all along.
                assert (await bystander.call("list rooms"))["ok"] is True
                if not set(chat.connections) & silent_sids:
                    break
    finally:
        silent.close()
    assert not set(chat.connections) & silent_sids
    assert len(slow_lines(caplog)) == 1
    await bystander.disconnect()


# -- a real `roomkit serve`: resident memory before, during and after ----------------


def slow_consumer_lines(server: Served) -> list[str]:
    """The server's slow-consumer warnings, as they are logged."""
    return [line for line in server.lines if "slow consumer" in line]


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_memory_stays_bounded_with_clients_that_never_read(
    request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    """Sends into a busy room until every silent client is cut off (and for at
    least ``seconds``); the kernel's socket buffers (up to 4 MiB each way on
    Linux loopback) fill first, so that takes several MiB per client."""
    seconds: float = request.config.getoption("--backlog-seconds")
    limit = 1024 * 1024
    slow_count = 3
    async with serving(
        "--no-rate-limit", "--max-backlog-bytes", str(limit), capture_stderr=True
    ) as server:
        url = server.url
        bystander = await connect(url, "bystander")
        sender = await connect(url, "sender")
        for each in (bystander, sender):
            await each.call("join room", BUSY)
        silent = [await SilentSocket.join(url, BUSY, f"silent{i}") for i in range(slow_count)]
        before = server.rss_bytes()
        peak, sent, text = before, 0, "y" * 1900
        started = time.monotonic()
        try:
            # At most 30,000 messages: 57 MB for each silent client.
            while sent < 30_000 and (
                len(slow_consumer_lines(server)) < slow_count
                or time.monotonic() - started < seconds
            ):
                for _ in range(20):
                    await sender.emit("message", {"room": BUSY, "text": f"{sent:08} {text}"})
                    sent += 1
                last = f"{sent - 1:08}"
                await bystander.wait_for(
                    "message", where=lambda m, last=last: m["text"].startswith(last), timeout=10
                )
                peak = max(peak, server.rss_bytes())
        finally:
            for each in silent:
                each.close()
        after = server.rss_bytes()
        received = [int(m["text"][:8]) for m in bystander.events("message")]
        await bystander.disconnect()
        await sender.disconnect()
        await server.stop()  # every line is read once it has exited
    cut_off = slow_consumer_lines(server)
    mib = 1024 * 1024
    with capsys.disabled():
        print(
            f"\nbacklog memory ({time.monotonic() - started:.0f} s, {sent} messages of 2 KB, "
            f"{slow_count} silent clients, limit {limit // 1024} KiB): RSS before "
            f"{before / mib:.1f} MiB, peak {peak / mib:.1f} MiB, after {after / mib:.1f} MiB"
        )
    assert received == list(range(sent))
    assert len(cut_off) == slow_count, cut_off
    # Each silent client may hold its limit plus a write batch in user space;
    # the rest is the allocator's slack.
    assert peak - before < slow_count * 2 * limit + 24 * mib
    # What unbounded queues would have held, for scale.
    assert sent * 1900 * slow_count > 4 * (peak - before)
