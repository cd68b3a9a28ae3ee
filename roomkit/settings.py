"""Server settings: one immutable object the app factory reads."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields

__all__ = [
    "ADMIN_TOKEN_ENV",
    "DEFAULT_NODE_TTL",
    "MIN_ADMIN_TOKEN_LENGTH",
    "Limits",
    "LoadLimits",
    "Settings",
    "admin_token_from_env",
    "random_admin_token",
]

ADMIN_TOKEN_ENV = "ROOMKIT_ADMIN_TOKEN"
# Seconds without a heartbeat after which a server's members leave shared presence.
DEFAULT_NODE_TTL = 10.0
# Shortest admin token accepted: 16 characters; a random one has 32.
MIN_ADMIN_TOKEN_LENGTH = 16
# Limits for which 0 means something: no binary attachments, no log throttling.
_MAY_BE_ZERO = frozenset({"max_attachments", "log_interval"})


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

    Abuse guards (see docs/security.md):

    :param max_attachments: binary attachments one Socket.IO packet may declare;
        a packet declaring more, or whose attachments together exceed
        ``max_payload_bytes``, closes the connection. Default 8.
    :param address_rate_per_second: tokens added per second to the bucket shared
        by all ``/chat`` connections from one client address (with
        ``rate_limit``), so opening more connections does not multiply the
        rate. Default 200.
    :param address_burst: that shared bucket's size. Default 400.
    :param refusal_rate_per_second: refusals answered per second on one
        connection (with ``rate_limit``); refusals beyond it are dropped
        unanswered, so a flood of bad events does not get a flood of answers
        back. Default 2.
    :param refusal_burst: refusals answered back to back. Default 10.
    :param admin_attempts_per_second: wrong ``/admin`` tokens allowed per second
        from one client address; beyond that every attempt from it is refused
        without being checked until the bucket refills. Default 0.1.
    :param admin_attempts_burst: wrong ``/admin`` tokens allowed back to back
        from one address. Default 5.
    :param max_poll_gap: seconds an HTTP long-polling session may go without a
        GET request open before it is closed (a legitimate client always has
        one open but for a round trip). Default 10.
    :param log_interval: seconds between log lines about the same kind of
        refusal (bad packets, wrong admin tokens, refused connections); the
        next line says how many were left out. Default 10.

    Outgoing backlog (see docs/security.md, "Slow consumers"):

    :param max_backlog_bytes: bytes that may wait to be sent to one
        connection (queued, and buffered by its transport) before it is
        disconnected as a slow consumer. Default 4 MiB (a ``list rooms``
        reply with 10,000 rooms, about 3.2 MB, fits).
    :param max_backlog_packets: packets that may wait to be sent to one
        connection before it is disconnected as a slow consumer. Default 5000.
    :raises ValueError: when a limit is not positive (``max_attachments`` and
        ``log_interval`` may be 0: no binary attachments, every log line).
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
    # Abuse guards.
    max_attachments: int = 8
    address_rate_per_second: float = 200.0
    address_burst: int = 400
    refusal_rate_per_second: float = 2.0
    refusal_burst: int = 10
    admin_attempts_per_second: float = 0.1
    admin_attempts_burst: int = 5
    max_poll_gap: float = 10.0
    log_interval: float = 10.0
    # Outgoing backlog.
    max_backlog_bytes: int = 4 * 1024 * 1024
    max_backlog_packets: int = 5000

    def __post_init__(self) -> None:
        for limit in fields(self):
            value = getattr(self, limit.name)
            if isinstance(value, bool):
                continue
            if limit.name in _MAY_BE_ZERO and value < 0:
                raise ValueError(f"{limit.name} must not be negative")
            if limit.name not in _MAY_BE_ZERO and not value > 0:  # NaN too
                raise ValueError(f"{limit.name} must be positive")


@dataclass(frozen=True, slots=True)
class LoadLimits:
    """Limits that keep a failing Redis, one busy room or one client address
    from taking the whole server down (docs/security.md, docs/scaling.md).

    :param redis_max_connections: connections the room store's Redis client
        may open; a call that finds all of them busy waits for one within its
        timeout. The pub/sub relay holds two more (one publishing, one
        listening). Default 4.
    :param redis_timeout: seconds one room-store call may take, waiting for a
        pooled connection and for the server's own lock included; past it the
        event is answered "temporarily unavailable". Default 2.
    :param relay_timeout: seconds a ``message`` waits for Redis to take it for
        the other servers; past it (or when Redis fails) the ack says
        ``"relayed": false``. Default 1.
    :param relay_queue: messages for the other servers that Redis may leave
        unanswered (waiting to be written, or written) while it is slow; past
        it a ``message`` is not queued and its ack says ``"relayed": false`` at
        once, so memory stays bounded (10,000 messages of the longest text allowed are about 25 MB).
        Default 10000.
    :param presence_fanout_per_second: packets per second one room's
        ``user joined`` and ``user left`` events may cost on this server
        (each costs one packet per member); past it they are summed up in one
        ``presence`` event per ``presence_interval``. Default 10000.
    :param presence_interval: seconds between two ``presence`` summaries of one
        room. Default 1.
    :param room_creations_per_minute: rooms the connections from one client
        address may create per minute on this server (``create room``, or
        ``join room`` of a room that does not exist). Default 30.
    :param room_creation_burst: rooms one address may create back to back.
        Default 20.
    """

    redis_max_connections: int = 4
    redis_timeout: float = 2.0
    relay_timeout: float = 1.0
    relay_queue: int = 10_000
    presence_fanout_per_second: int = 10_000
    presence_interval: float = 1.0
    room_creations_per_minute: float = 30.0
    room_creation_burst: int = 20

    def __post_init__(self) -> None:
        for name in ("redis_max_connections", "relay_queue"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("redis_timeout", "relay_timeout", "presence_interval"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


def random_admin_token() -> str:
    """A fresh admin token that nobody can guess (24 random bytes, URL-safe)."""
    return secrets.token_urlsafe(24)


def admin_token_from_env() -> tuple[str, bool]:
    """Return ``(token, generated)``: the admin token from ``ROOMKIT_ADMIN_TOKEN``,
    or a fresh random one (``generated`` is then True) when the variable is unset
    or empty. A token shorter than ``MIN_ADMIN_TOKEN_LENGTH`` is refused later,
    by :class:`Settings`."""
    token = os.environ.get(ADMIN_TOKEN_ENV, "")
    if token:
        return token, False
    return random_admin_token(), True


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

    Where requests come from (see docs/security.md):

    :param allowed_hosts: names the server answers to in the ``Host`` header;
        requests for any other name get 421, so a DNS rebinding page cannot
        pass as same-origin. IP address literals and ``localhost`` are always
        allowed; ``("*",)`` allows every name. Default empty.
    :param trusted_proxies: addresses of reverse proxies whose
        ``X-Forwarded-For``/``-Proto``/``-Host`` headers are believed; from any
        other peer those headers are dropped. Default empty.
    :param websocket_compression: accept permessage-deflate when a client
        offers it (browsers always do). Each message is then compressed once
        per recipient; docs/benchmarks.md measures the cost. Default False:
        declined, as Node's socket.io does by default.

    Load:

    :param load: see :class:`LoadLimits`.
    """

    # repr=False: printing or logging the settings must not reveal the secrets.
    admin_token: str = field(default_factory=random_admin_token, repr=False)
    store_url: str | None = None
    redis_url: str | None = None
    limits: Limits = field(default_factory=Limits)
    serve_pages: bool = True
    metrics_interval: float = 1.0
    node_ttl: float = DEFAULT_NODE_TTL
    cors_allowed_origins: str | list[str] | None = None
    user_token_secret: str | None = field(default=None, repr=False)
    require_user_token: bool = False
    # Where requests come from.
    allowed_hosts: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    websocket_compression: bool = False
    # Load.
    load: LoadLimits = field(default_factory=LoadLimits)

    def __post_init__(self) -> None:
        if self.require_user_token and not self.user_token_secret:
            raise ValueError("require_user_token needs a user_token_secret")
        if len(self.admin_token) < MIN_ADMIN_TOKEN_LENGTH:
            raise ValueError(
                f"the admin token must have at least {MIN_ADMIN_TOKEN_LENGTH} characters"
            )

    @property
    def room_store_url(self) -> str:
        """The store URL in force (see ``store_url``)."""
        return self.store_url or self.redis_url or "memory://"
