"""Rate-limit gaps, admin token guessing and forged origins, attacked with real
clients over loopback (some from 127.0.0.2, a second loopback address)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import aiohttp
import pytest
from raw_clients import polling_session
from support import ADMIN_TOKEN

from roomkit import Limits, Settings, create_app
from roomkit.admin import TOO_MANY_ATTEMPTS
from roomkit.app import CHAT_KEY
from roomkit.cli import build_parser, serve_settings
from roomkit.errors import ConnectRefused, WaitTimeout
from roomkit.middleware import Handshake
from roomkit.testing import RunningServer, connect, serve
from roomkit.tokens import USER_TOKEN_SECRET_ENV

RATE_LIMITED = {"ok": False, "error": "rate limit exceeded: slow down"}
NO_REFILL = 1e-6  # no token comes back while a test runs
OTHER_ADDRESS = "127.0.0.2"


def _settings(**limits: Any) -> Settings:
    return Settings(admin_token=ADMIN_TOKEN, metrics_interval=0, limits=Limits(**limits))


async def test_leaving_spends_tokens() -> None:
    async with serve(create_app(_settings(rate_burst=2, rate_per_second=NO_REFILL))) as server:
        alice = await connect(server.url, "alice")
        replies = [await alice.call("leave room", f"nowhere{i}") for i in range(3)]
        await alice.disconnect()
    assert [reply["error"] for reply in replies[:2]] == [
        "you are not in room 'nowhere0'",
        "you are not in room 'nowhere1'",
    ]
    assert replies[2] == RATE_LIMITED


async def test_a_flood_of_refusals_gets_a_bounded_number_of_answers() -> None:
    settings = _settings(refusal_burst=5, refusal_rate_per_second=NO_REFILL)
    async with serve(create_app(settings)) as server:
        alice = await connect(server.url, "alice")
        for i in range(60):  # past the rate limit's 40 too: every one refused
            await alice.emit("leave room", f"nowhere{i}")
        await alice.sync()
        answered = len(alice.events("error"))
        with pytest.raises(WaitTimeout):  # not even an ack any more
            await alice.call("leave room", "nowhere", timeout=0.5)
        await alice.disconnect()
    assert answered == 5


async def test_events_still_queued_when_their_connection_left_cost_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A flooder's events that python-socketio had read but not yet handled when
    # it left used to be handled one by one after it was gone (the issue measured
    # ~15 s of such work), each refusal answered to nobody, through Redis when
    # there is one. Here such an event runs after its connection left, as its
    # task would, on the real server.
    async with serve(create_app(_settings())) as server:
        flooder = await connect(server.url, "flooder")
        bystander = await connect(server.url, "bystander")
        await flooder.call("join room", "lobby")
        await bystander.call("join room", "lobby")
        gone = flooder.sid
        await flooder.disconnect()
        await bystander.wait_for("user left")
        emitted: list[str] = []
        real_emit = server.sio.emit

        async def counting_emit(event: str, *args: Any, **kwargs: Any) -> Any:
            emitted.append(event)
            return await real_emit(event, *args, **kwargs)

        monkeypatch.setattr(server.sio, "emit", counting_emit)
        chat = server.sio.namespace_handlers["/chat"]
        handled = [
            await chat.trigger_event("message", gone, {"room": "lobby", "text": "late"}),
            await chat.trigger_event("no such event", gone),
        ]
        await bystander.sync()
        await bystander.disconnect()
    assert handled == [server.sio.not_handled] * 2
    # No refusal answered to a connection that is gone, no message relayed for it
    # (the leave's own presence news may still be on its way).
    assert not {"error", "message"} & set(emitted), emitted
    assert bystander.events("message") == []


async def test_connections_from_one_address_share_one_bucket() -> None:
    settings = _settings(
        rate_burst=10,
        rate_per_second=NO_REFILL,
        address_burst=25,
        address_rate_per_second=NO_REFILL,
        refusal_burst=1000,
    )
    async with serve(create_app(settings)) as server:
        clients = [await connect(server.url, f"user{i}") for i in range(5)]
        replies = [await each.call("list rooms") for each in clients for _ in range(10)]
        for each in clients:
            await each.disconnect()
    # Five connections with 10 tokens each, but 25 for their address in all.
    assert sum(reply["ok"] for reply in replies) == 25


async def _raw_connect(
    server: RunningServer,
    namespace: str,
    auth: dict[str, str],
    *,
    source: str = "127.0.0.1",
    headers: dict[str, str] | None = None,
) -> str:
    """Connect from ``source`` with a raw websocket; the server's CONNECT answer."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        url = f"{server.url}/socket.io/?EIO=4&transport=websocket"
        async with http.ws_connect(url, headers=headers) as ws:
            assert (await ws.receive_str(timeout=5)).startswith("0{")
            await ws.send_str(f"40{namespace},{json.dumps(auth)}")
            return await ws.receive_str(timeout=5)


async def test_admin_token_guesses_are_throttled_per_address(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="roomkit")
    async with serve(create_app(_settings(admin_attempts_burst=5))) as server:
        guesses = [await _raw_connect(server, "/admin", {"token": f"guess-{i}"}) for i in range(20)]
        right_token = await _raw_connect(server, "/admin", {"token": ADMIN_TOKEN})
        elsewhere = await _raw_connect(
            server, "/admin", {"token": ADMIN_TOKEN}, source=OTHER_ADDRESS
        )
    assert all("Unauthorized" in answer for answer in guesses[:5])
    assert all(TOO_MANY_ATTEMPTS in answer for answer in guesses[5:])
    assert TOO_MANY_ATTEMPTS in right_token  # checked no more, right or wrong
    assert elsewhere.startswith('40/admin,{"sid"')
    refusal_lines = [r for r in caplog.records if r.getMessage().startswith("refused")]
    assert len(refusal_lines) == 1  # one line per log_interval, not one per guess


@pytest.mark.parametrize(("trusted", "seen"), [((), OTHER_ADDRESS), ((OTHER_ADDRESS,), "10.1.2.3")])
async def test_handshake_sees_the_peer_address(trusted: tuple[str, ...], seen: str) -> None:
    settings = Settings(admin_token=ADMIN_TOKEN, metrics_interval=0, trusted_proxies=trusted)
    app = create_app(settings)
    addresses: list[str] = []

    def record(handshake: Handshake) -> None:
        addresses.append(handshake.remote_address)

    app[CHAT_KEY].use(record)
    async with serve(app) as server:
        answer = await _raw_connect(
            server,
            "/chat",
            {"name": "alice"},
            source=OTHER_ADDRESS,
            headers={"X-Forwarded-For": "10.1.2.3"},
        )
    assert answer.startswith('40/chat,{"sid"')
    assert addresses == [seen]


async def _status(server: RunningServer, path: str, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as http, http.get(server.url + path, headers=headers) as r:
        return r.status


HANDSHAKE = "/socket.io/?EIO=4&transport=polling"


async def test_dns_rebinding_and_forged_forwarded_hosts_are_refused() -> None:
    async with serve(create_app(_settings())) as server:
        port = server.port
        rebound = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
        forged = {"X-Forwarded-Host": "evil.example", "Origin": "http://evil.example"}
        own = {"Origin": f"http://127.0.0.1:{port}"}
        statuses = await asyncio.gather(
            _status(server, HANDSHAKE, rebound),
            _status(server, "/", {"Host": f"evil.example:{port}"}),
            _status(server, HANDSHAKE, forged),
            _status(server, HANDSHAKE, own),
            _status(server, HANDSHAKE, {"Host": f"localhost:{port}"}),
        )
    assert statuses == [421, 421, 400, 200, 200]
    named = create_app(Settings(admin_token=ADMIN_TOKEN, allowed_hosts=("chat.example",)))
    async with serve(named) as server:
        assert await _status(server, "/", {"Host": "chat.example"}) == 200


async def test_names_that_look_the_same_are_the_same_name() -> None:
    async with serve(create_app(_settings())) as server:
        alice = await connect(server.url, "alice")
        fullwidth = await connect(server.url, "  \uff41\uff4c\uff49\uff43\uff45  ")  # alice
        await fullwidth.call("join room", "lobby")
        members = (await fullwidth.call("members", "lobby"))["members"]
        # An invitation to "alice " reaches the one person called alice.
        await alice.call("join room", "lobby")
        await fullwidth.call("invite", {"room": "lobby", "name": "alice   "})
        invited = await alice.wait_for("invited")
        with pytest.raises(ConnectRefused) as refused:
            await connect(server.url, "\u0430lice")  # a Cyrillic a
        for each in (alice, fullwidth):
            await each.disconnect()
    assert [member["name"] for member in members] == ["alice"]
    assert invited["room"] == "lobby"
    assert "must not mix Latin, Greek and Cyrillic letters" in str(refused.value)


async def test_a_polling_session_that_stops_polling_is_dropped() -> None:
    # It used to count as a /chat user until the heartbeat gave up (45 s and more).
    async with serve(create_app(_settings(max_poll_gap=1.0))) as server:
        bob = await connect(server.url, "bob")
        await bob.call("join room", "lobby")
        polling = f"{server.url}/socket.io/?EIO=4&transport=polling"
        async with aiohttp.ClientSession() as http:
            sid = await polling_session(http, polling)
            body = '42/chat,["join room","lobby"]'
            async with http.post(f"{polling}&sid={sid}", data=body) as response:
                assert response.status == 200
            joined = await bob.wait_for("user joined")
            left = await bob.wait_for("user left", timeout=10)  # never polled
        await bob.disconnect()
    assert left == joined


async def test_a_polling_client_that_keeps_polling_stays() -> None:
    async with serve(create_app(_settings(max_poll_gap=0.5))) as server:
        polling = f"{server.url}/socket.io/?EIO=4&transport=polling"
        async with aiohttp.ClientSession() as http:
            sid = await polling_session(http, polling)
            acked = asyncio.Event()

            async def poll() -> int:  # as a browser does: always one GET open
                while True:
                    async with http.get(f"{polling}&sid={sid}") as response:
                        if response.status != 200:
                            return response.status
                        if '43/chat,1[{"ok":true' in await response.text():
                            acked.set()

            poller = asyncio.create_task(poll())
            await asyncio.sleep(2.0)  # letting four gaps pass, not synchronisation
            body = '42/chat,1["join room","lobby"]'
            async with http.post(f"{polling}&sid={sid}", data=body) as response:
                posted = response.status
            await asyncio.wait_for(acked.wait(), timeout=5)
            still_polling = not poller.done()  # it returns once the session is gone
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
    assert posted == 200
    assert still_polling


def test_short_admin_tokens_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(USER_TOKEN_SECRET_ENV, raising=False)
    with pytest.raises(ValueError, match="at least 16 characters"):
        Settings(admin_token="letmein")
    with pytest.raises(SystemExit, match="ROOMKIT_ADMIN_TOKEN must have at least 16"):
        serve_settings(build_parser().parse_args(["serve"]), "letmein")


def test_host_and_proxy_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(USER_TOKEN_SECRET_ENV, raising=False)
    monkeypatch.setenv("ROOMKIT_ALLOWED_HOSTS", "a.example, b.example")
    monkeypatch.setenv("ROOMKIT_TRUSTED_PROXIES", "10.0.0.5")
    from_env = serve_settings(build_parser().parse_args(["serve"]), ADMIN_TOKEN)
    flags = ["serve", "--allowed-host", "c.example", "--trusted-proxy", "10.0.0.6"]
    from_flags = serve_settings(build_parser().parse_args(flags), ADMIN_TOKEN)
    assert (from_env.allowed_hosts, from_env.trusted_proxies) == (
        ("a.example", "b.example"),
        ("10.0.0.5",),
    )
    assert (from_flags.allowed_hosts, from_flags.trusted_proxies) == (("c.example",), ("10.0.0.6",))
