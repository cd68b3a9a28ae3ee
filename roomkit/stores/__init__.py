"""Where rooms and members live: a small interface and its backends, chosen by URL.

:mod:`roomkit.stores.base` defines the :class:`~roomkit.stores.base.RoomStore`
interface and its data types; :mod:`roomkit.stores.memory` keeps the state in
this process, :mod:`roomkit.stores.redis` in Redis for a cluster.
:func:`store_from_url` picks one, importing a backend only when it is used.
"""

from __future__ import annotations

from roomkit.settings import DEFAULT_NODE_TTL
from roomkit.stores.base import RoomStore

__all__ = ["store_from_url"]


def store_from_url(
    url: str,
    *,
    node_id: str = "",
    node_ttl: float = DEFAULT_NODE_TTL,
    timeout: float = 2.0,
    max_connections: int = 4,
) -> RoomStore:
    """Build the store a URL names.

    :param url: ``memory://`` or ``redis://[:password@]host:port/db`` (also
        ``rediss://`` and ``unix://``).
    :param node_id: this server's id in a cluster. Default ``""``.
    :param node_ttl: seconds without a heartbeat after which a node's members are
        dropped (Redis only). Default :data:`roomkit.settings.DEFAULT_NODE_TTL`.
    :param timeout: seconds one call may take (Redis only). Default 2.
    :param max_connections: connections the store may open (Redis only). Default 4.
    :raises ValueError: for an unknown scheme.
    """
    scheme = url.split("://", 1)[0].lower()
    if scheme == "memory":
        from roomkit.stores.memory import MemoryStore

        return MemoryStore(node_id=node_id)
    if scheme in {"redis", "rediss", "unix"}:
        from roomkit.stores.redis import RedisStore

        return RedisStore(
            url,
            node_id=node_id,
            node_ttl=node_ttl,
            timeout=timeout,
            max_connections=max_connections,
        )
    raise ValueError(f"unknown store URL scheme {scheme!r}; use memory:// or redis://")
