"""Names the test modules share (import from here, never from ``conftest``:
tests/exercises has a conftest of its own, and the two would shadow each other)."""

from __future__ import annotations

import asyncio
import logging
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


class LogWaiter(logging.Handler):
    """``with LogWaiter(text) as waiter``: ``waiter.seen`` is set once roomkit
    logs a line containing ``text``."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()

    def __enter__(self) -> LogWaiter:
        logger = logging.getLogger("roomkit")
        self.level = logger.level
        logger.setLevel(logging.INFO)  # the lowest level waited for (disconnect lines)
        logger.addHandler(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        logger = logging.getLogger("roomkit")
        logger.removeHandler(self)
        logger.setLevel(self.level)
