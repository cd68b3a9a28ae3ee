"""The Redis :class:`~roomkit.stores.base.RoomStore`: rooms and presence shared by a cluster.

:mod:`~roomkit.stores.redis.scripts` holds the Lua scripts that change the keys
below, :mod:`~roomkit.stores.redis.store` the :class:`RedisStore` that runs them.

Every server of a cluster points at one Redis. Key layout (``P`` is the prefix,
``roomkit`` by default; every value is a string, JSON where structured)::

    P:rooms              SET     names of existing rooms
    P:room:<name>        STRING  the room's JSON (name, topic, created_by,
                                 created_at, private); never changed after creation
    P:invited:<name>     SET     display names invited into a private room
    P:members:<name>     HASH    sid -> {"name": display name, "node": node id}
    P:sid:<sid>          SET     rooms the connection is in
    P:nodes              SET     ids of nodes that heartbeat (or did)
    P:node:<node>        SET     sids that are in at least one room, per node
    P:alive:<node>       STRING  the node's heartbeat; expires after 3/5 node_ttl

Changes that must not interleave (join creating a room, the last leave
deleting it, create's exists-check, a sweep) are Lua scripts, which Redis runs
atomically. Liveness: each node renews its ``alive`` key every ``node_ttl/5``
seconds and, on the same tick, sweeps every node whose key has expired,
removing its members exactly as if they had left. A SIGKILLed node's members
are therefore gone within ``3/5 + 1/5 = 4/5`` of ``node_ttl``.

Recovery: every change this node makes first checks its own ``alive`` key.
When the key is missing (Redis restarted empty, or this node was swept after a
long stall) the node reconciles: it writes back every membership of its local
connections (from :meth:`RedisStore.attach`) with the room data it remembers,
removes entries of connections it no longer has, and renews its key. The
heartbeat does the same, so a node recovers within one tick even when idle.
"""

from __future__ import annotations

from roomkit.stores.redis.node import redacted
from roomkit.stores.redis.store import RedisStore

__all__ = ["RedisStore", "redacted"]
