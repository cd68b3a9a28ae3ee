"""Names the test modules share (import from here, never from ``conftest``:
tests/exercises has a conftest of its own, and the two would shadow each other)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from roomkit.testing import RecordingClient

ADMIN_TOKEN = "test-admin-token"

Connect = Callable[..., Awaitable[RecordingClient]]
"""``await client("alice", **connect_options)``: the ``client`` fixture's type."""
