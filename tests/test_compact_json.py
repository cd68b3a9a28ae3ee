"""socket.io's packet JSON without an encoder or decoder per packet: the
broadcast's packet text is python-socketio's, byte for byte (the JSON helper
writes what ``json.dumps`` writes and fails as it fails; the direct fan-out's
packet equals ``Packet(...).encode()``, custom packet JSON included), and
roomkit's packets read what python-engineio's JSON reads, refusing what it
refuses."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import socketio
from engineio import json as engineio_json
from hypothesis import given, settings
from hypothesis import strategies as st
from socketio import packet

import roomkit.compact_json
from roomkit.compact_json import compact_dumps, network_loads
from roomkit.fanout import DirectFanoutManager
from roomkit.server import RoomkitPacket, RoomkitServer

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats()  # NaN and infinities too: json.dumps writes NaN, Infinity
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text() | st.integers() | st.booleans() | st.none(), inner, max_size=4)
    ),
    max_leaves=16,
)


def socketio_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


@settings(max_examples=400, deadline=None)
@given(value=values)
def test_the_text_is_json_dumps_text(value: Any) -> None:
    assert compact_dumps(value) == socketio_json(value)


@pytest.mark.parametrize(
    "value",
    [b"bytes", [1, {"nested": bytearray(b"x")}], {(1, 2): "tuple key"}, [object()]],
    ids=["bytes", "nested bytearray", "tuple key", "object"],
)
def test_what_json_cannot_hold_fails_the_same_way(value: Any) -> None:
    with pytest.raises(TypeError) as dumps_error:
        socketio_json(value)
    with pytest.raises(TypeError) as compact_error:
        compact_dumps(value)
    assert str(compact_error.value) == str(dumps_error.value)


def test_a_failure_half_way_does_not_spoil_the_next_call() -> None:
    message = [{"k": "v"}, b"fails once the list was entered"]
    with pytest.raises(TypeError):
        compact_dumps(message)
    message.pop()
    # Not circular: an encoder that kept the failed call's markers says it is.
    assert compact_dumps(message) == '[{"k":"v"}]'


def test_a_circular_reference_is_refused() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        compact_dumps(loop)


def test_floats_keep_their_spelling() -> None:
    assert compact_dumps([0.1, 1e100, -0.0, math.inf]) == "[0.1,1e+100,-0.0,Infinity]"


@pytest.fixture(scope="module")
def manager() -> DirectFanoutManager:
    # A manager on a server, never started: encode_event needs only the server.
    direct = DirectFanoutManager()
    socketio.AsyncServer(client_manager=direct, async_mode="aiohttp")
    return direct


json_payloads = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    event=st.text(min_size=1, max_size=12),
    data=st.none() | json_payloads | st.lists(json_payloads, max_size=3).map(tuple),
    namespace=st.sampled_from(["/", "/chat", "/a,b"]),
)
def test_a_broadcast_packet_is_python_socketios(
    manager: DirectFanoutManager, event: str, data: Any, namespace: str
) -> None:
    arguments = list(data) if isinstance(data, tuple) else [] if data is None else [data]
    expected = packet.Packet(packet.EVENT, namespace=namespace, data=[event, *arguments]).encode()
    assert manager.encode_event(event, data, namespace) == expected


class _SortedJson:
    """A server's custom ``json`` module: the packet must use it, not roomkit's."""

    @staticmethod
    def dumps(value: Any, **kwargs: Any) -> str:
        return json.dumps(value, sort_keys=True, **kwargs)

    loads = staticmethod(json.loads)


def test_a_custom_packet_json_is_respected(monkeypatch: pytest.MonkeyPatch) -> None:
    direct = DirectFanoutManager()
    socketio.AsyncServer(client_manager=direct, async_mode="aiohttp")
    monkeypatch.setattr(packet.Packet, "json", _SortedJson)
    encoded = direct.encode_event("m", {"b": 1, "a": 2}, "/")
    assert encoded == '2["m",{"a":2,"b":1}]'


def test_without_the_accelerator_it_is_json_dumps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(roomkit.compact_json, "_make_c_encoder", None)
    assert compact_dumps(["m", {"a": [1.5, None]}]) == '["m",{"a":[1.5,null]}]'


@settings(max_examples=300, deadline=None)
@given(value=values)
def test_network_json_reads_what_engineio_reads(value: Any) -> None:
    text = json.dumps(value)
    # Compared as JSON again: NaN is not equal to itself.
    expected = json.dumps(engineio_json.loads(text))
    assert json.dumps(network_loads(text)) == expected
    assert json.dumps(network_loads(text.encode())) == expected


def _refusal(loads: Any, text: str) -> type[BaseException] | None:
    try:
        loads(text)
    except ValueError as refused:
        return type(refused)
    return None


@pytest.mark.parametrize(
    "text", ["[" + "9" * 101 + "]", '{"a": 1', "", "[1,]", '"\\ud800"x'], ids=str.__len__
)
def test_network_json_refuses_what_engineio_refuses(text: str) -> None:
    refused = _refusal(engineio_json.loads, text)
    assert refused is not None
    assert _refusal(network_loads, text) is refused


def test_roomkits_packets_decode_with_it_and_broadcast_directly() -> None:
    direct = DirectFanoutManager()
    server = RoomkitServer(client_manager=direct, async_mode="aiohttp")
    assert server.packet_class is RoomkitPacket
    text = '2/chat,["message",{"room":"r","n":12345678901234567890}]'
    assert RoomkitPacket(encoded_packet=text).data == packet.Packet(encoded_packet=text).data
    with pytest.raises(ValueError, match="Integer is too large"):
        RoomkitPacket(encoded_packet='2["m",' + "1" * 101 + "]")
    expected = packet.Packet(packet.EVENT, namespace="/chat", data=["m", {"a": [1, 2.5]}])
    assert direct.encode_event("m", {"a": [1, 2.5]}, "/chat") == expected.encode()
