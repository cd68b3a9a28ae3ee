"""Read a connection's WSGI-style ``environ`` in place: its headers and query.

python-socketio keeps each connection's ``environ`` (engine.io's translation of
the handshake request) for the connection's life. The views here read it on use
instead of copying it, so a connection holds its headers once, not twice; and
:func:`interned` shares the header keys (``HTTP_USER_AGENT``, ...) between
connections instead of holding a copy per connection.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["EnvironHeaders", "EnvironQuery", "interned"]

# Kept without the HTTP_ prefix, as in WSGI.
_UNPREFIXED = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH"})


def interned(environ: dict[str, Any]) -> dict[str, Any]:
    """``environ`` with its keys interned: every connection then shares one copy of
    each key, where a fresh translation makes new strings per connection."""
    return {sys.intern(key): value for key, value in environ.items()}


class EnvironHeaders(Mapping[str, str]):
    """The handshake's HTTP headers, names lower-cased (``"user-agent"``), read from
    ``environ`` on use.

    :param environ: python-socketio's ``environ`` for the connection.
    """

    __slots__ = ("_environ",)

    def __init__(self, environ: Mapping[str, Any]) -> None:
        self._environ = environ

    @staticmethod
    def _key(name: str) -> str:
        key = name.upper().replace("-", "_")
        return key if key in _UNPREFIXED else "HTTP_" + key

    def __getitem__(self, name: str) -> str:
        if not isinstance(name, str):
            raise KeyError(name)
        return str(self._environ[self._key(name)])

    def __iter__(self) -> Iterator[str]:
        for key in self._environ:
            if key.startswith("HTTP_"):
                yield key[5:].replace("_", "-").lower()
            elif key in _UNPREFIXED:
                yield key.replace("_", "-").lower()

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"EnvironHeaders({dict(self)!r})"


class EnvironQuery(Mapping[str, str]):
    """The handshake URL's query parameters (the first value of each, as sent:
    not percent-decoded), parsed from ``environ["QUERY_STRING"]`` on use.

    :param environ: python-socketio's ``environ`` for the connection.
    """

    __slots__ = ("_environ",)

    def __init__(self, environ: Mapping[str, Any]) -> None:
        self._environ = environ

    def _parsed(self) -> dict[str, str]:
        query: dict[str, str] = {}
        for part in str(self._environ.get("QUERY_STRING", "")).split("&"):
            if part:
                key, _, value = part.partition("=")
                query.setdefault(key, value)
        return query

    def __getitem__(self, name: str) -> str:
        return self._parsed()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._parsed())

    def __len__(self) -> int:
        return len(self._parsed())

    def __repr__(self) -> str:
        return f"EnvironQuery({self._parsed()!r})"
