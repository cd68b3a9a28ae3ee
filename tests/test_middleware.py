"""The ``use()`` chain: unit tests on handshakes, integration tests on a live server."""

from __future__ import annotations

import pytest
import socketio
from hypothesis import given
from hypothesis import strategies as st

from roomkit.environ import EnvironHeaders, EnvironQuery, interned
from roomkit.errors import ConnectRefused, Refused
from roomkit.middleware import Handshake, MiddlewareNamespace, run_middleware
from roomkit.testing import connect, serve


def test_handshake_from_environ() -> None:
    environ = {
        "HTTP_USER_AGENT": "pytest",
        "HTTP_X_FORWARDED_FOR": "10.0.0.1",
        "REMOTE_ADDR": "127.0.0.1",
        "QUERY_STRING": "EIO=4&transport=websocket&room=a",
    }
    handshake = Handshake.from_environ("sid1", "/admin", environ, {"token": "t"})
    assert handshake.headers["user-agent"] == "pytest"
    assert handshake.headers["x-forwarded-for"] == "10.0.0.1"
    assert handshake.remote_address == "127.0.0.1"
    assert handshake.query["room"] == "a"
    assert handshake.auth == {"token": "t"}


def copied_headers(environ: dict[str, str]) -> dict[str, str]:
    """The headers as a copy, the way handshakes held them before they became views."""
    headers = {
        key[5:].replace("_", "-").lower(): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if key in environ:
            headers[key.replace("_", "-").lower()] = environ[key]
    return headers


HEADER_NAMES = st.from_regex(r"[A-Z][A-Z0-9]{0,6}(_[A-Z0-9]{1,6}){0,2}", fullmatch=True)
ENVIRONS = st.dictionaries(
    st.one_of(
        HEADER_NAMES.map(lambda name: "HTTP_" + name),
        st.sampled_from(["CONTENT_TYPE", "CONTENT_LENGTH", "REMOTE_ADDR", "wsgi.url_scheme"]),
    ),
    st.text(max_size=8),
    max_size=12,
)


@given(ENVIRONS)
def test_the_header_view_reads_what_a_copy_held(environ: dict[str, str]) -> None:
    headers = EnvironHeaders(interned(environ))
    assert dict(headers) == copied_headers(environ)
    assert len(headers) == len(copied_headers(environ))
    for name, value in copied_headers(environ).items():
        assert headers[name] == headers.get(name.upper()) == value
    assert "no such header" not in headers  # a space: no name drawn above has one
    assert headers.get(5) is None  # type: ignore[call-overload]


def test_the_query_view_keeps_the_first_value_as_sent() -> None:
    query = EnvironQuery({"QUERY_STRING": "EIO=4&room=a%20b&room=c&flag&=x"})
    assert dict(query) == {"EIO": "4", "room": "a%20b", "flag": "", "": "x"}
    assert EnvironQuery({}) == {}


def test_interned_environs_share_their_keys() -> None:
    # Keys built at run time, as each request's translation builds them.
    first, second = ({"".join(["HTTP_", "X_TRACE"]): str(n)} for n in range(2))
    assert next(iter(first)) is not next(iter(second))
    (a,), (b,) = interned(first), interned(second)
    assert a is b


@pytest.mark.parametrize("auth", [None, "a string", ["a", "list"], 5])
def test_non_object_auth_becomes_empty(auth: object) -> None:
    assert Handshake.from_environ("s", "/", {}, auth).auth == {}


async def test_chain_runs_in_order_and_stops_at_refusal() -> None:
    calls: list[str] = []

    def first(handshake: Handshake) -> None:
        calls.append("first")
        handshake.data["seen"] = True

    async def second(handshake: Handshake) -> None:
        calls.append("second")
        raise Refused("nope")

    def third(handshake: Handshake) -> None:
        calls.append("third")

    handshake = Handshake("s", "/", {}, {}, "")
    with pytest.raises(Refused, match="nope"):
        await run_middleware([first, second, third], handshake)
    assert calls == ["first", "second"]
    assert handshake.data == {"seen": True}


class Greeter(MiddlewareNamespace):
    async def on_accept(self, sid: str, handshake: Handshake) -> None:
        await self.emit("welcome", handshake.data.get("role", "?"), to=sid)


async def test_refusal_reaches_connect_error_and_data_reaches_handlers() -> None:
    namespace = Greeter("/ops")

    @namespace.use
    def only_ops(handshake: Handshake) -> None:
        if handshake.auth.get("role") != "ops":
            raise Refused("ops only")
        handshake.data["role"] = "ops"

    sio = socketio.AsyncServer(async_mode="aiohttp")
    sio.register_namespace(namespace)
    async with serve(sio) as server:
        with pytest.raises(ConnectRefused) as refused:
            await connect(server.url, "eve", namespace="/ops", auth={"role": "dev"})
        assert refused.value.reason == "ops only"

        ops = await connect(server.url, "olga", namespace="/ops", auth={"role": "ops"})
        assert await ops.wait_for("welcome") == "ops"
        handshake = await namespace.handshake(ops.sid or "")
        assert handshake.remote_address == "127.0.0.1"
        await ops.disconnect()
