"""The app factory: :class:`~roomkit.settings.Settings` in, ``aiohttp`` application out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from roomkit.admin import METRICS_ROOM, AdminNamespace
from roomkit.chat import ChatNamespace
from roomkit.engine import host_guard
from roomkit.outbox import Backlog
from roomkit.room_index import IndexedFanoutManager
from roomkit.server import RoomkitServer, close_connections
from roomkit.settings import Settings
from roomkit.stores import store_from_url
from roomkit.stores.base import RoomStore
from roomkit.tokens import user_token_middleware
from roomkit.transport import TransportOptions

__all__ = [
    "ADMIN_KEY",
    "CHAT_KEY",
    "SERVER_KEY",
    "SETTINGS_KEY",
    "STORE_KEY",
    "create_app",
]

logger = logging.getLogger("roomkit")

SETTINGS_KEY = web.AppKey("roomkit.settings", Settings)
SERVER_KEY = web.AppKey("roomkit.server", RoomkitServer)
STORE_KEY = web.AppKey("roomkit.store", RoomStore)
CHAT_KEY = web.AppKey("roomkit.chat", ChatNamespace)
ADMIN_KEY = web.AppKey("roomkit.admin", AdminNamespace)

STATIC_DIR = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None) -> web.Application:
    """Build the roomkit server.

    :param settings: see :class:`~roomkit.settings.Settings`. Default: all defaults
        (in-memory store, random admin token).
    :returns: an ``aiohttp`` application with a Socket.IO server at ``/socket.io/``
        serving ``/chat`` and ``/admin``. Its state is reachable through the typed
        keys ``SETTINGS_KEY``, ``SERVER_KEY``, ``STORE_KEY``, ``CHAT_KEY`` and
        ``ADMIN_KEY``.
    """
    settings = settings or Settings()
    node_id = uuid.uuid4().hex[:12]
    load = settings.load
    store = store_from_url(
        settings.room_store_url,
        node_id=node_id,
        node_ttl=settings.node_ttl,
        timeout=load.redis_timeout,
        max_connections=load.redis_max_connections,
    )
    transport = TransportOptions(
        backlog=Backlog(settings.limits.max_backlog_bytes, settings.limits.max_backlog_packets),
        compression=settings.websocket_compression,
    )
    redis_manager = None
    if settings.redis_url:  # imported only when used, like the store's backend
        from roomkit.redis_manager import RedisManager

        redis_manager = RedisManager(
            settings.redis_url,
            relay_timeout=load.relay_timeout,
            max_queued=load.relay_queue,
            transport=transport,
        )
    sio = RoomkitServer(
        # Without Redis, broadcasts still skip python-socketio's task per recipient.
        client_manager=redis_manager
        if redis_manager is not None
        else IndexedFanoutManager(transport),
        async_mode="aiohttp",
        cors_allowed_origins=settings.cors_allowed_origins,
        max_http_buffer_size=settings.limits.max_payload_bytes,
        limits=settings.limits,
        trusted_proxies=settings.trusted_proxies,
    )
    chat = ChatNamespace(store, settings.limits, load=load)
    if settings.user_token_secret:
        # First in the chain: the chat's own middleware keeps a name a token proved.
        chat.middleware.insert(
            0,
            user_token_middleware(
                settings.user_token_secret,
                required=settings.require_user_token,
                limits=settings.limits,
            ),
        )
    store.attach(chat)
    admin = AdminNamespace(settings.admin_token, settings.limits)
    sio.register_namespace(chat)
    sio.register_namespace(admin)

    # Every route, pages and Socket.IO alike, answers only to our own names.
    app = web.Application(middlewares=[host_guard(settings.allowed_hosts)])
    app[SETTINGS_KEY] = settings
    app[SERVER_KEY] = sio
    app[STORE_KEY] = store
    app[CHAT_KEY] = chat
    app[ADMIN_KEY] = admin
    sio.attach(app)
    if settings.serve_pages and (STATIC_DIR / "chat.html").exists():
        from roomkit.pages import add_page_routes

        add_page_routes(app, STATIC_DIR)
    app.on_shutdown.append(_close_connections)
    app.cleanup_ctx.append(_store_lifetime)
    if redis_manager is not None:  # listens from startup; cancelled and closed on cleanup
        app.cleanup_ctx.append(redis_manager.lifetime)
    app.cleanup_ctx.append(_metrics_lifetime)
    return app


async def _close_connections(app: web.Application) -> None:
    await close_connections(app[SERVER_KEY])
    # Presence summaries of the members that just left, for other servers'
    # members (the Redis relay and the store are still up until cleanup).
    await app[CHAT_KEY].presence.close()


async def _store_lifetime(app: web.Application) -> AsyncIterator[None]:
    store = app[STORE_KEY]
    await store.start()
    yield
    await store.close()


async def _metrics_lifetime(app: web.Application) -> AsyncIterator[None]:
    interval = app[SETTINGS_KEY].metrics_interval
    task = asyncio.create_task(_push_metrics(app, interval)) if interval > 0 else None
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _push_metrics(app: web.Application, interval: float) -> None:
    """Every ``interval`` seconds, tell room ``metrics`` of ``/admin`` how busy we are."""
    chat, store, sio = app[CHAT_KEY], app[STORE_KEY], app[SERVER_KEY]
    last_messages, last_time = chat.messages_relayed, time.monotonic()
    while True:
        await asyncio.sleep(interval)  # a pacing timer, not synchronisation
        now = time.monotonic()
        snapshot = chat.snapshot()
        try:
            rooms = await store.room_count()
        except Exception:  # the store may be down for a while; metrics are best effort
            logger.warning("metrics: room store unavailable", exc_info=True)
            continue
        rate = (snapshot["messages"] - last_messages) / (now - last_time)
        last_messages, last_time = snapshot["messages"], now
        await sio.emit(
            "metrics",
            {
                "node": store.node_id,
                "connections": snapshot["connections"],
                "rooms": rooms,
                "messages_per_second": round(rate, 2),
            },
            room=METRICS_ROOM,
            namespace="/admin",
        )
