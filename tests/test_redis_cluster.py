"""Several roomkit servers sharing one real Redis: rooms, messages, admin
broadcasts, a server killed with SIGKILL, and Redis restarting underneath.

In-process servers run in the test's event loop; at least one server per
multi-server test is a separate ``roomkit serve`` process.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from roomkit import Settings, create_app
from roomkit.app import SERVER_KEY, STORE_KEY
from roomkit.cluster import ServerProcess, run_cluster
from roomkit.events import STORE_UNAVAILABLE
from roomkit.processes import RedisProcess
from roomkit.redis_manager import RedisManager
from roomkit.stores.redis import RedisStore
from roomkit.testing import RecordingClient, RunningServer, connect, free_port, start_server

pytestmark = pytest.mark.redis

ADMIN_TOKEN = "cluster-admin-token"
REPO = Path(__file__).resolve().parent.parent
NODE_TTL = 2.0  # short so that death detection is quick; the default stays 10 s
Connect = Callable[..., Awaitable[RecordingClient]]


def cluster_settings(redis_url: str) -> Settings:
    return Settings(
        admin_token=ADMIN_TOKEN, redis_url=redis_url, node_ttl=NODE_TTL, metrics_interval=0
    )


@pytest.fixture
async def servers() -> AsyncIterator[Callable[[str], Awaitable[RunningServer]]]:
    """``await servers(redis_url)`` starts an in-process server in the cluster."""
    started: list[RunningServer] = []

    async def start(redis_url: str) -> RunningServer:
        server = await start_server(create_app(cluster_settings(redis_url)))
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        await server.stop()


@pytest.fixture
async def processes() -> AsyncIterator[Callable[[str], Awaitable[ServerProcess]]]:
    """``await processes(redis_url)`` starts ``roomkit serve`` in another process."""
    started: list[ServerProcess] = []

    async def start(redis_url: str) -> ServerProcess:
        process = ServerProcess(
            port=free_port(), redis_url=redis_url, admin_token=ADMIN_TOKEN, node_ttl=NODE_TTL
        )
        started.append(process)
        await process.start()
        return process

    yield start
    for process in started:
        await process.stop()


@pytest.fixture
async def clients() -> AsyncIterator[Connect]:
    """``await clients(url, name)`` connects a recording /chat client."""
    made: list[RecordingClient] = []

    async def make(url: str, name: str, **options: Any) -> RecordingClient:
        client = await connect(url, name, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.disconnect()


def member_names(reply: dict[str, Any]) -> list[str]:
    assert reply["ok"], reply
    return [member["name"] for member in reply["members"]]


def room_counts(reply: dict[str, Any]) -> dict[str, int]:
    assert reply["ok"], reply
    return {room["name"]: room["members"] for room in reply["rooms"]}


def store_of(server: RunningServer) -> RedisStore:
    store = server.app[STORE_KEY]
    assert isinstance(store, RedisStore)
    return store


def manager_of(server: RunningServer) -> RedisManager:
    manager = server.app[SERVER_KEY].manager
    assert isinstance(manager, RedisManager)
    return manager


async def test_two_servers_share_rooms_members_and_messages(
    redis_url: str, servers: Any, clients: Connect
) -> None:
    a, b = await servers(redis_url), await servers(redis_url)
    alice = await clients(a.url, "alice")
    bob = await clients(b.url, "bob")
    carol = await clients(b.url, "carol")

    assert (await alice.call("join room", "lobby"))["members"] == 1
    assert (await bob.call("join room", "lobby"))["members"] == 2
    assert await alice.wait_for("user joined") == bob.sid

    assert (await bob.call("message", {"room": "lobby", "text": "hi from b"}))["ok"]
    message = await alice.wait_for("message")
    assert (message["name"], message["room"], message["text"]) == ("bob", "lobby", "hi from b")

    for client in (alice, bob):
        assert member_names(await client.call("members", "lobby")) == ["alice", "bob"]
        assert room_counts(await client.call("list rooms")) == {"lobby": 2}

    # Private room rules hold across servers.
    created = await alice.call("create room", {"name": "secret", "private": True})
    assert created["ok"], created
    refused = await carol.call("join room", "secret")
    assert not refused["ok"]
    assert "private" in refused["error"]
    assert "secret" not in room_counts(await carol.call("list rooms"))
    assert (await alice.call("invite", {"room": "secret", "name": "carol"}))["ok"]
    assert await carol.wait_for("invited") == {"room": "secret", "by": "alice"}
    assert (await carol.call("join room", "secret"))["members"] == 2
    assert room_counts(await carol.call("list rooms")) == {"lobby": 2, "secret": 2}
    assert "secret" not in room_counts(await bob.call("list rooms"))

    # Leaving on one server is seen on the other.
    assert (await bob.call("leave room", "lobby"))["ok"]
    assert await alice.wait_for("user left") == bob.sid
    assert member_names(await carol.call("members", "lobby")) == ["alice"]


async def test_three_servers_one_in_another_process(
    redis_url: str, servers: Any, processes: Any, clients: Connect
) -> None:
    a, b = await servers(redis_url), await servers(redis_url)
    c = await processes(redis_url)
    people = {
        "ann": await clients(a.url, "ann"),
        "ben": await clients(b.url, "ben"),
        "cy": await clients(c.url, "cy"),
    }
    for count, client in enumerate(people.values(), start=1):
        assert (await client.call("join room", "lobby"))["members"] == count

    assert (await people["cy"].call("message", {"room": "lobby", "text": "from c"}))["ok"]
    for name in ("ann", "ben"):
        assert (await people[name].wait_for("message"))["text"] == "from c"
    assert (await people["ann"].call("message", {"room": "lobby", "text": "from a"}))["ok"]
    assert (await people["cy"].wait_for("message"))["text"] == "from a"

    for client in people.values():
        assert member_names(await client.call("members", "lobby")) == ["ann", "ben", "cy"]
        assert room_counts(await client.call("list rooms")) == {"lobby": 3}

    # Admin system messages reach /chat clients on every server, whichever
    # server the admin is connected to.
    for admin_url, text in [(a.url, "from admin on a"), (c.url, "from admin on c")]:
        admin = await clients(admin_url, "admin", namespace="/admin", auth={"token": ADMIN_TOKEN})
        assert await admin.call("system message", text) == {"ok": True}
        for client in people.values():
            assert await client.wait_for("system message") == {"text": text}


async def test_members_of_a_killed_server_vanish_within_node_ttl(
    redis_url: str, servers: Any, processes: Any, clients: Connect
) -> None:
    a = await servers(redis_url)
    doomed = await processes(redis_url)
    watcher = await clients(a.url, "watcher")
    b1 = await clients(doomed.url, "b1")
    b2 = await clients(doomed.url, "b2")
    await watcher.call("join room", "lobby")
    await b1.call("join room", "lobby")
    await b2.call("join room", "lobby")
    assert (await b2.call("create room", {"name": "b-only"}))["ok"]
    assert member_names(await watcher.call("members", "lobby")) == ["b1", "b2", "watcher"]
    assert room_counts(await watcher.call("list rooms")) == {"b-only": 1, "lobby": 3}
    gone = {b1.sid, b2.sid}

    killed_at = time.monotonic()
    deadline = killed_at + NODE_TTL + 1.0  # the bound is node_ttl; 1 s of slack for a busy CI
    await doomed.kill()
    # The sweeping server announces each vanished member with "user left".
    for _ in gone:
        left = await watcher.wait_for("user left", timeout=deadline - time.monotonic())
        assert left in gone
    took = time.monotonic() - killed_at
    print(f"\nmembers of a SIGKILLed server gone after {took:.2f} s (node_ttl {NODE_TTL:g} s)")

    assert member_names(await watcher.call("members", "lobby")) == ["watcher"]
    assert room_counts(await watcher.call("list rooms")) == {"lobby": 1}


async def test_members_of_a_stopped_server_leave_at_once(
    redis_url: str, servers: Any, processes: Any, clients: Connect
) -> None:
    a = await servers(redis_url)
    leaving = await processes(redis_url)
    watcher = await clients(a.url, "watcher")
    b1 = await clients(leaving.url, "b1")
    await watcher.call("join room", "lobby")
    await b1.call("join room", "lobby")
    assert await leaving.stop() == 0  # SIGTERM: a clean shutdown
    # The store forgot the member while shutting down, before the process exited.
    assert member_names(await watcher.call("members", "lobby")) == ["watcher"]


async def test_redis_restart_keeps_local_rooms_and_restores_presence(
    redis_process: RedisProcess, servers: Any, clients: Connect
) -> None:
    a, b = await servers(redis_process.url), await servers(redis_process.url)
    alice = await clients(a.url, "alice")
    carol = await clients(a.url, "carol")
    bob = await clients(b.url, "bob")
    for client in (alice, carol, bob):
        await client.call("join room", "lobby")
    await alice.call("create room", {"name": "secret", "private": True})
    await alice.call("invite", {"room": "secret", "name": "bob"})
    await bob.call("join room", "secret")
    expected_members = member_names(await alice.call("members", "lobby"))
    expected_rooms = room_counts(await alice.call("list rooms"))
    assert expected_members == ["alice", "bob", "carol"]
    assert expected_rooms == {"lobby": 3, "secret": 2}
    recoveries = {server.url: store_of(server).recoveries for server in (a, b)}
    subscriptions = {server.url: manager_of(server).subscriptions for server in (a, b)}

    await redis_process.stop()
    # Rooms keep working between clients of one server...
    assert (await alice.call("message", {"room": "lobby", "text": "still here"}))["ok"]
    assert (await carol.wait_for("message"))["text"] == "still here"
    # ...and what needs the shared store is refused politely, to the sender only.
    assert await bob.call("join room", "elsewhere") == {"ok": False, "error": STORE_UNAVAILABLE}
    assert await bob.call("list rooms") == {"ok": False, "error": STORE_UNAVAILABLE}

    await redis_process.start()  # same port, empty database
    started_at = time.monotonic()
    for server in (a, b):
        await store_of(server).wait_recovered(recoveries[server.url], timeout=5)
        await manager_of(server).wait_subscribed(subscriptions[server.url], timeout=5)
    took = time.monotonic() - started_at
    print(f"\npresence restored and pub/sub resubscribed {took:.2f} s after Redis came back")

    for client in (alice, bob, carol):
        assert member_names(await client.call("members", "lobby")) == expected_members
    assert room_counts(await alice.call("list rooms")) == expected_rooms
    assert room_counts(await bob.call("list rooms")) == expected_rooms
    assert member_names(await bob.call("members", "secret")) == ["alice", "bob"]
    # The private room is still private, with its invite list.
    dave = await clients(b.url, "dave")
    refused = await dave.call("join room", "secret")
    assert not refused["ok"]
    assert "private" in refused["error"]
    # And messages cross servers again.
    assert (await bob.call("message", {"room": "lobby", "text": "back"}))["ok"]
    assert (await alice.wait_for("message", where=lambda m: m["text"] == "back"))["name"] == "bob"


async def test_stopping_a_server_leaves_no_task_of_the_cluster_running(redis_url: str) -> None:
    before = asyncio.all_tasks()
    server = await start_server(create_app(cluster_settings(redis_url)))
    client = await connect(server.url, "alice")
    await client.call("join room", "lobby")
    assert manager_of(server).subscriptions == 1
    ours = {task for task in asyncio.all_tasks() - before if is_cluster_task(task)}
    assert len(ours) == 2  # the pub/sub listener and the store's heartbeat
    await client.disconnect()
    await server.stop()
    assert all(task.done() for task in ours)
    left = {task for task in asyncio.all_tasks() - before if not task.done()}
    assert not any(is_cluster_task(task) for task in left), left


def is_cluster_task(task: asyncio.Task[Any]) -> bool:
    """The manager's listener (``_thread``) or the store's ticker."""
    name = task.get_coro().__qualname__  # type: ignore[union-attr]
    return name in {"AsyncPubSubManager._thread", "RedisNode._tick_forever"}


def two_free_ports() -> int:
    """A port P such that P and P + 1 were both free a moment ago."""
    for _ in range(20):
        first = free_port()
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", first + 1)) != 0:
                return first
    raise AssertionError("no two consecutive free ports found")


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs a redis-server binary")
async def test_cluster_command_serves_one_cluster_and_stops_everything(
    capsys: pytest.CaptureFixture[str], clients: Connect
) -> None:
    for _attempt in range(3):
        # Another test (another pytest worker) may take a port between our probe and
        # the servers' bind; the cluster then ends at once with status 1: try again.
        first = two_free_ports()
        stop, ready = asyncio.Event(), asyncio.Event()
        cluster = asyncio.create_task(
            run_cluster(nodes=2, first_port=first, node_ttl=NODE_TTL, stop=stop, ready=ready)
        )
        became_ready = asyncio.create_task(ready.wait())
        await asyncio.wait({cluster, became_ready}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if ready.is_set():
            break
        became_ready.cancel()
        assert cluster.done(), "the cluster neither started nor ended within 30 s"
        capsys.readouterr()
    else:
        raise AssertionError("the cluster did not start in three attempts")
    printed = capsys.readouterr().out
    assert f"node1: http://127.0.0.1:{first} " in printed
    assert f"node2: http://127.0.0.1:{first + 1} " in printed
    assert "admin token" in printed
    redis_port = int(printed.split("redis-server at redis://127.0.0.1:", 1)[1].split("/", 1)[0])
    one = await clients(f"http://127.0.0.1:{first}", "one")
    two = await clients(f"http://127.0.0.1:{first + 1}", "two")
    await one.call("join room", "lobby")
    assert (await two.call("join room", "lobby"))["members"] == 2
    await one.disconnect()
    await two.disconnect()

    stop.set()
    assert await asyncio.wait_for(cluster, timeout=30) == 0
    for port in (first, first + 1, redis_port):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"


@pytest.mark.node
@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.skipif(
    not (REPO / "node_modules" / "socket.io-client").is_dir(),
    reason="run `make setup` to install socket.io-client",
)
async def test_two_serve_processes_are_one_chat_to_the_official_js_client(
    redis_url: str,
) -> None:
    servers = [
        ServerProcess(port=free_port(), redis_url=redis_url, admin_token=ADMIN_TOKEN)
        for _ in range(2)
    ]
    try:
        for server in servers:
            await server.start()
        node = await asyncio.create_subprocess_exec(
            str(shutil.which("node")),
            str(REPO / "tests" / "node" / "cluster.mjs"),
            servers[0].url,
            servers[1].url,
            ADMIN_TOKEN,
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(node.communicate(), 30)
    finally:
        for server in servers:
            await server.stop()
    assert node.returncode == 0, out.decode() + err.decode()
    report = json.loads(out)
    assert report["joined"] == report["bobId"]  # user joined crossed from B to A
    assert report["bobGot"] == {
        "user": report["aliceId"],
        "name": "alice",
        "room": "general",
        "text": "Hello from A",
    }
    assert report["aliceGot"] == []  # never the sender
    assert report["carolGot"] == []  # never another room
    assert report["membersOnA"] == report["membersOnB"]
    assert sorted(m["name"] for m in report["membersOnA"]["members"]) == ["alice", "bob"]
    assert report["roomsOnA"] == report["roomsOnB"]
    counts = {room["name"]: room["members"] for room in report["roomsOnA"]["rooms"]}
    assert counts == {"general": 2, "random": 1}
    assert report["adminReply"] == {"ok": True}
    assert report["systemOnB"] == [{"text": "maintenance at 5"}] * 2
