"""Server settings: one immutable object the app factory reads."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

__all__ = ["Limits", "Settings", "admin_token_from_env"]

ADMIN_TOKEN_ENV = "ROOMKIT_ADMIN_TOKEN"


@dataclass(frozen=True, slots=True)
class Limits:
    """Limits that protect the server from oversized or abusive input.

    :param max_text_length: longest chat message text, in characters. Default 2000.
    :param max_payload_bytes: largest Socket.IO packet accepted, in bytes; larger
        packets close the connection (engine.io's ``max_http_buffer_size``).
        Default 64 KiB.
    :param max_room_name_length: longest room name, in characters. Default 64.
    :param max_topic_length: longest room topic, in characters. Default 200.
    :param max_name_length: longest display name, in characters. Default 32.
    :param max_rooms_per_socket: rooms one connection may be in at once
        (its personal room not counted). Default 50.
    :param max_rooms_total: chat rooms that may exist at once. Default 10000.
    :param rate_limit: whether the per-connection token bucket is on. Default True.
    :param rate_per_second: tokens added to a connection's bucket per second.
        Default 20.
    :param rate_burst: bucket size: how many events may arrive back to back.
        Default 40.
    :param max_backlog_bytes: bytes that may wait to be sent to one
        connection (queued, and buffered by its transport) before it is
        disconnected as a slow consumer. Default 4 MiB (a ``list rooms``
        reply with 10,000 rooms, about 3.2 MB, fits).
    :param max_backlog_packets: packets that may wait to be sent to one
        connection before it is disconnected as a slow consumer. Default 5000.
    """

    max_text_length: int = 2000
    max_payload_bytes: int = 64 * 1024
    max_room_name_length: int = 64
    max_topic_length: int = 200
    max_name_length: int = 32
    max_rooms_per_socket: int = 50
    max_rooms_total: int = 10_000
    rate_limit: bool = True
    rate_per_second: float = 20.0
    rate_burst: int = 40
    max_backlog_bytes: int = 4 * 1024 * 1024
    max_backlog_packets: int = 5000


def admin_token_from_env() -> tuple[str, bool]:
    """Return ``(token, generated)``: the admin token from ``ROOMKIT_ADMIN_TOKEN``,
    or a fresh random one (``generated`` is then True) when the variable is unset
    or empty."""
    token = os.environ.get(ADMIN_TOKEN_ENV, "")
    if token:
        return token, False
    return secrets.token_urlsafe(24), True


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything :func:`roomkit.create_app` needs to build a server.

    :param admin_token: the token ``/admin`` clients must send as ``auth.token``.
        Default: a random token, so no server ever runs with a guessable one.
    :param store_url: where room and presence state lives: ``memory://``
        (one process) or ``redis://host:port/db``. Default None: ``redis_url``
        when that is set, else ``memory://``.
    :param redis_url: when set, emits are relayed between servers through this
        Redis (python-socketio's ``AsyncRedisManager``) and, unless ``store_url``
        says otherwise, room state is kept there too. Default None.
    :param limits: see :class:`Limits`.
    :param serve_pages: serve the chat page at ``/`` and the admin page at
        ``/admin``. Default True.
    :param metrics_interval: seconds between metrics pushed to ``/admin``'s
        ``metrics`` room; 0 turns them off. Default 1.0.
    :param node_ttl: seconds after which a silent server's members are dropped
        from shared presence (Redis only). Default 10.
    :param cors_allowed_origins: browser origins allowed to connect, passed to
        python-socketio: None allows only pages served by this server (same
        origin), ``"*"`` any page on any site, or a list of origins such as
        ``["https://chat.example.org"]``. Clients that send no ``Origin``
        header (Python, Node) are never affected. Default None.
    :param user_token_secret: when set, ``/chat`` accepts signed user tokens
        (``auth.token``, see :mod:`roomkit.tokens`) and takes the display name
        from them; at least 32 bytes. Default None: no tokens.
    :param require_user_token: refuse ``/chat`` connections without a valid user
        token, so every display name is authenticated; needs
        ``user_token_secret``. Default False.
    :param websocket_compression: accept permessage-deflate when a client
        offers it (browsers always do). Each message is then compressed once
        per recipient; docs/benchmarks.md measures the cost. Default False:
        declined, as Node's socket.io does by default.
    """

    # repr=False: printing or logging the settings must not reveal the secrets.
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    store_url: str | None = None
    redis_url: str | None = None
    limits: Limits = field(default_factory=Limits)
    serve_pages: bool = True
    metrics_interval: float = 1.0
    node_ttl: float = 10.0
    cors_allowed_origins: str | list[str] | None = None
    user_token_secret: str | None = field(default=None, repr=False)
    require_user_token: bool = False
    websocket_compression: bool = False

    def __post_init__(self) -> None:
        if self.require_user_token and not self.user_token_secret:
            raise ValueError("require_user_token needs a user_token_secret")

    @property
    def room_store_url(self) -> str:
        """The store URL in force (see ``store_url``)."""
        return self.store_url or self.redis_url or "memory://"
