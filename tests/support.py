"""Names the test modules share (import from here, never from ``conftest``:
tests/exercises has a conftest of its own, and the two would shadow each other)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from roomkit.stores.base import RoomStore
from roomkit.testing import RecordingClient

ADMIN_TOKEN = "test-admin-token"

Connect = Callable[..., Awaitable[RecordingClient]]
"""``await client("alice", **connect_options)``: the ``client`` fixture's type."""


async def rooms_of(store: RoomStore, sid: str | None) -> list[str]:
    """The rooms ``sid`` is a member of, sorted, as the store's public queries tell."""
    return sorted(
        [
            summary.room.name
            for summary in await store.list_rooms()
            if any(member.sid == sid for member in await store.members(summary.room.name))
        ]
    )
