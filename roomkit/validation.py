"""Pure checks for names and event payloads: the schema of every client event.

Each function takes what a client sent and either returns the clean value or
raises :class:`~roomkit.errors.ProtocolError` with a reason the client can read.
A namespace declares which check guards which event in its
:class:`~roomkit.events.EventSpec` table (``schema=bound(room_name, limits)``),
so the checks run before any handler and a handler only ever sees clean values.

Why hand-written and not a schema library (pydantic, jsonschema): the rules that
matter are not about types alone (printable characters, a reserved prefix,
whitespace-only names) and their bounds come from :class:`Limits` at run time;
the reasons are part of the protocol and are written for people. A library
would need a custom validator for each rule and a table translating its error
codes back into these reasons, which is more code than the checks themselves.
``docs/security.md`` has the full reasoning and the measurements.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from roomkit.errors import ProtocolError
from roomkit.settings import Limits

__all__ = [
    "PERSONAL_PREFIX",
    "CreateRequest",
    "InviteRequest",
    "MessageRequest",
    "bound",
    "create_request",
    "display_name",
    "invite_request",
    "message_request",
    "personal_room",
    "room_name",
    "system_text",
]

PERSONAL_PREFIX = "user:"

Checked = TypeVar("Checked")


def bound(check: Callable[[Any, Limits], Checked], limits: Limits) -> Callable[[Any], Checked]:
    """``check`` with its ``limits`` filled in: the one-argument form that
    :class:`~roomkit.events.EventSpec` takes as ``schema``.

    :param check: one of this module's checks, e.g. :func:`message_request`.
    :param limits: the bounds it enforces.
    """

    def checked(value: Any) -> Checked:
        return check(value, limits)

    return checked


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _text(value: Any, what: str, max_length: int, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ProtocolError(f"{what} must be a string, not {_type_name(value)}")
    if not value.strip() and not allow_empty:
        raise ProtocolError(f"{what} must not be empty")
    if len(value) > max_length:
        raise ProtocolError(f"{what} is too long ({len(value)} > {max_length} characters)")
    return value


def room_name(value: Any, limits: Limits) -> str:
    """A chat room name: a non-empty printable string of at most
    ``limits.max_room_name_length`` characters, not starting with ``user:``."""
    name = _text(value, "room name", limits.max_room_name_length)
    if not name.isprintable():
        raise ProtocolError("room name must contain only printable characters")
    if name.startswith(PERSONAL_PREFIX):
        raise ProtocolError(f"room names starting with {PERSONAL_PREFIX!r} are reserved")
    return name


# Scripts with letters that look alike (Latin a, Cyrillic a, Greek alpha...).
_LOOKALIKE_SCRIPTS = frozenset({"LATIN", "GREEK", "CYRILLIC"})


def _script(char: str) -> str:
    return unicodedata.name(char, "?").split(" ", 1)[0]


def display_name(value: Any, limits: Limits) -> str:
    """A display name in its one canonical form, so that names that look the
    same are the same name: NFKC-normalised (a full-width ``a``, U+FF41, is ``a``), runs
    of spaces made one and the ends stripped. Refused when empty, not
    printable, longer than ``limits.max_name_length`` (before or after
    normalising), or when it mixes Latin, Greek and Cyrillic letters (``alice``
    spelt with a Cyrillic ``a``, U+0430)."""
    name = _text(value, "name", limits.max_name_length)
    if not name.isprintable():
        raise ProtocolError("name must contain only printable characters")
    name = " ".join(unicodedata.normalize("NFKC", name).split())
    if not name or not name.isprintable():
        raise ProtocolError("name must contain printable characters other than spaces")
    if len(name) > limits.max_name_length:
        raise ProtocolError(f"name is too long ({len(name)} > {limits.max_name_length} characters)")
    scripts = {_script(char) for char in name if char.isalpha()} & _LOOKALIKE_SCRIPTS
    if len(scripts) > 1:
        raise ProtocolError("name must not mix Latin, Greek and Cyrillic letters")
    return name


def personal_room(name: str) -> str:
    """The personal room of display name ``name``: ``user:<name>``."""
    return f"{PERSONAL_PREFIX}{name}"


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{what} must be an object, not {_type_name(value)}")
    return value


def _field(payload: dict[str, Any], key: str) -> Any:
    if key not in payload:
        raise ProtocolError(f"missing field {key!r}")
    return payload[key]


@dataclass(frozen=True, slots=True)
class MessageRequest:
    """A checked ``message``: ``text`` for the members of ``room``."""

    room: str
    text: str


def message_request(value: Any, limits: Limits) -> MessageRequest:
    """``{"room": str, "text": str}`` for the ``message`` event."""
    payload = _mapping(value, "message")
    room = room_name(_field(payload, "room"), limits)
    text = _text(_field(payload, "text"), "text", limits.max_text_length)
    return MessageRequest(room, text)


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """A checked ``create room``: the room's ``name``, ``topic`` and ``private`` flag."""

    name: str
    topic: str
    private: bool


def create_request(value: Any, limits: Limits) -> CreateRequest:
    """``{"name": str, "topic"?: str, "private"?: bool}`` for ``create room``."""
    payload = _mapping(value, "room")
    name = room_name(_field(payload, "name"), limits)
    topic = _text(payload.get("topic", ""), "topic", limits.max_topic_length, allow_empty=True)
    if not topic.isprintable():  # also refuses lone surrogates, which JSON stores reject
        raise ProtocolError("topic must contain only printable characters")
    private = payload.get("private", False)
    if not isinstance(private, bool):
        raise ProtocolError(f"private must be true or false, not {_type_name(private)}")
    return CreateRequest(name, topic, private)


@dataclass(frozen=True, slots=True)
class InviteRequest:
    """A checked ``invite``: display name ``name`` may join private ``room``."""

    room: str
    name: str


def invite_request(value: Any, limits: Limits) -> InviteRequest:
    """``{"room": str, "name": str}`` for ``invite``."""
    payload = _mapping(value, "invite")
    room = room_name(_field(payload, "room"), limits)
    name = display_name(_field(payload, "name"), limits)
    return InviteRequest(room, name)


def system_text(value: Any, limits: Limits) -> str:
    """The text of an admin ``system message``."""
    return _text(value, "system message", limits.max_text_length)
