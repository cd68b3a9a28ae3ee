"""Unit tests for the pure payload checks."""

from __future__ import annotations

from typing import Any

import pytest

from roomkit.errors import ProtocolError
from roomkit.settings import Limits
from roomkit.validation import (
    create_request,
    display_name,
    invite_request,
    message_request,
    personal_room,
    room_name,
    system_text,
)

LIMITS = Limits()


@pytest.mark.parametrize("name", ["general", "a", "x" * 64, "café ☕", "room:123"])
def test_room_name_accepts(name: str) -> None:
    assert room_name(name, LIMITS) == name


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "must be a string, not null"),
        (42, "must be a string, not int"),
        (["general"], "must be a string, not list"),
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("x" * 65, "too long (65 > 64"),
        ("bad\nname", "printable"),
        ("tab\there", "printable"),
        ("user:alice", "reserved"),
    ],
)
def test_room_name_refuses_with_reason(value: Any, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason.replace("(", r"\(")):
        room_name(value, LIMITS)


def test_room_name_limit_is_configurable() -> None:
    with pytest.raises(ProtocolError, match="too long"):
        room_name("abcd", Limits(max_room_name_length=3))


def test_display_name() -> None:
    assert display_name("alice", LIMITS) == "alice"
    with pytest.raises(ProtocolError, match="too long"):
        display_name("a" * 33, LIMITS)
    with pytest.raises(ProtocolError, match="printable"):
        display_name("a\x00b", LIMITS)


def test_personal_room() -> None:
    assert personal_room("alice") == "user:alice"


def test_message_request() -> None:
    request = message_request({"room": "general", "text": "hi"}, LIMITS)
    assert (request.room, request.text) == ("general", "hi")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("hello", "message must be an object, not str"),
        ({"text": "hi"}, "missing field 'room'"),
        ({"room": "general"}, "missing field 'text'"),
        ({"room": "general", "text": 5}, "text must be a string, not int"),
        ({"room": "general", "text": ""}, "text must not be empty"),
        ({"room": 7, "text": "hi"}, "room name must be a string"),
    ],
)
def test_message_request_refuses(value: Any, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        message_request(value, LIMITS)


def test_message_text_limit() -> None:
    limits = Limits(max_text_length=5)
    assert message_request({"room": "r", "text": "12345"}, limits).text == "12345"
    with pytest.raises(ProtocolError, match=r"too long \(6 > 5"):
        message_request({"room": "r", "text": "123456"}, limits)


def test_create_request_defaults_and_checks() -> None:
    request = create_request({"name": "tech"}, LIMITS)
    assert (request.name, request.topic, request.private) == ("tech", "", False)
    request = create_request({"name": "ops", "topic": "on call", "private": True}, LIMITS)
    assert (request.topic, request.private) == ("on call", True)
    with pytest.raises(ProtocolError, match="private must be true or false, not str"):
        create_request({"name": "ops", "private": "yes"}, LIMITS)
    with pytest.raises(ProtocolError, match="topic must be a string"):
        create_request({"name": "ops", "topic": 3}, LIMITS)
    with pytest.raises(ProtocolError, match="missing field 'name'"):
        create_request({}, LIMITS)
    for topic in ("line\nbreak", "\ud800"):  # a lone surrogate would poison JSON stores
        with pytest.raises(ProtocolError, match="topic must contain only printable characters"):
            create_request({"name": "ops", "topic": topic}, LIMITS)


def test_invite_request() -> None:
    request = invite_request({"room": "ops", "name": "bob"}, LIMITS)
    assert (request.room, request.name) == ("ops", "bob")
    with pytest.raises(ProtocolError, match="missing field 'name'"):
        invite_request({"room": "ops"}, LIMITS)


def test_system_text() -> None:
    assert system_text("maintenance at 5", LIMITS) == "maintenance at 5"
    with pytest.raises(ProtocolError, match="must be a string"):
        system_text({"text": "x"}, LIMITS)
