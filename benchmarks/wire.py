"""Engine.IO v4 / Socket.IO v5 text frames, as the benchmark clients write and read them.

Only what the benchmarks need: websocket transport, one namespace, JSON text
packets. A frame is an Engine.IO packet type digit followed by its data; a
Socket.IO packet rides in Engine.IO ``MESSAGE`` (``4``) packets::

    0{"sid":...}                      engine.io OPEN (server -> client)
    2 / 3                             engine.io PING (server) / PONG (client)
    40/chat,{"name":"r1"}             socket.io CONNECT to /chat with auth
    42/chat,["message",{...}]         socket.io EVENT
    42/chat,7["join room","bench"]    EVENT asking for ack 7
    43/chat,7[{...}]                  ACK 7
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "BURST_TEXT_MARK",
    "PING",
    "PONG",
    "ack_prefix",
    "burst_text",
    "connect_frame",
    "event_frame",
    "parse_text",
    "socket_url",
]

PING = "2"
PONG = "3"
# Every benchmark message's text starts with this, then "<burst>:<seq>:<sent_ns>:".
BURST_TEXT_MARK = '"text":"bm:'


def socket_url(base_url: str) -> str:
    """The websocket URL of a Socket.IO server at ``base_url`` (``http://host:port``)."""
    return base_url.replace("http://", "ws://", 1) + "/socket.io/?EIO=4&transport=websocket"


def connect_frame(namespace: str, auth: dict[str, Any]) -> str:
    """Socket.IO CONNECT to ``namespace`` with handshake ``auth``."""
    return f"40{namespace},{json.dumps(auth, separators=(',', ':'))}"


def event_frame(namespace: str, event: str, *args: Any, ack: int | None = None) -> str:
    """Socket.IO EVENT ``event`` with ``args``; asks for ack number ``ack`` when given."""
    body = json.dumps([event, *args], separators=(",", ":"))
    return f"42{namespace},{'' if ack is None else ack}{body}"


def ack_prefix(namespace: str, ack: int) -> str:
    """How the server's answer to ack number ``ack`` starts."""
    return f"43{namespace},{ack}["


def burst_text(burst: int, seq: int, sent_ns: int, padding: int) -> str:
    """The text of message ``seq`` of burst ``burst``, stamped with the send time.

    :param padding: characters of filler appended, so a message has a realistic size.
    """
    return f"bm:{burst}:{seq}:{sent_ns}:" + "x" * padding


def parse_text(text: str) -> tuple[int, int, int] | None:
    """``(burst, seq, sent_ns)`` of a benchmark message text, None for any other text."""
    fields = text.split(":", 4)
    if len(fields) < 5 or fields[0] != "bm":
        return None
    try:
        return int(fields[1]), int(fields[2]), int(fields[3])
    except ValueError:
        return None
