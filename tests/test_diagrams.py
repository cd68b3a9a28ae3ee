"""Mermaid pictures of a live server."""

from __future__ import annotations

from support import Connect

from roomkit.diagrams import delivery, topology
from roomkit.testing import RunningServer


async def test_topology_shows_namespaces_rooms_and_members(
    server: RunningServer, client: Connect
) -> None:
    alice, bob, carol = await client("alice"), await client("bob"), await client("carol")
    await alice.call("join room", "general")
    await bob.call("join room", "general")
    await carol.call("join room", "random")
    names = {c.sid: c.name for c in (alice, bob, carol) if c.sid}
    source = str(topology(server.sio, names))
    assert source.startswith("flowchart TD")
    assert '["namespace /chat"]' in source
    assert '["room general"]' in source
    assert '["room random"]' in source
    general = [line for line in source.splitlines() if "room_" in line and "general" in line]
    assert any('("alice")' in line for line in general)
    assert any('("bob")' in line for line in general)
    assert not any('("carol")' in line for line in general)
    assert f'"room {alice.sid}"' not in source  # sid rooms are not drawn
    assert '["room user:alice"]' in source  # personal rooms are
    assert 'server["Socket.IO server"]' in source
    titled = str(topology(server.sio, names, title="server A"))
    assert 'server["server A"]' in titled  # two servers drawn side by side are told apart


async def test_delivery_shows_who_received_what(client: Connect) -> None:
    alice, bob, carol = await client("alice"), await client("bob"), await client("carol")
    await alice.call("join room", "general")
    await bob.call("join room", "general")
    await alice.call("message", {"room": "general", "text": "hi"})
    await bob.wait_for("message")
    await carol.sync()
    diagram = delivery(alice, "message to general", [bob, carol], events=["message"])
    source = str(diagram)
    assert "alice->>server: message to general" in source
    assert "server-->>bob: message" in source
    assert "Note over carol: nothing" in source
    assert "Note over alice: nothing" in source
    bundle = diagram._repr_mimebundle_()
    assert bundle["text/markdown"].startswith("```mermaid")


async def test_delivery_from_code_outside_any_client(
    server: RunningServer, client: Connect
) -> None:
    alice = await client("alice")
    await server.sio.emit("reminder", "stand-up", namespace="/chat")
    await alice.wait_for("reminder")
    source = str(delivery("scheduler", "reminder to everyone", [alice]))
    assert "participant scheduler as scheduler" in source
    assert "scheduler->>server: reminder to everyone" in source
    assert "server-->>alice: reminder 'stand-up'" in source
