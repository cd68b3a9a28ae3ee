"""Shared fixtures: a real roomkit server on 127.0.0.1 and real clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from support import ADMIN_TOKEN, Connect

from roomkit import Settings, create_app
from roomkit.testing import RecordingClient, RunningServer, connect, serve

pytest_plugins = ["redis_fixtures"]  # tests/redis_fixtures.py: a real Redis per test


def pytest_addoption(parser: pytest.Parser) -> None:
    # `make soak` runs tests/test_soak.py with --soak-cycles 2000; `make test` with the default.
    parser.addoption(
        "--soak-cycles",
        type=int,
        default=200,
        help="connect/join/leave/disconnect cycles in tests/test_soak.py (200)",
    )
    # `make soak` runs tests/test_storms.py with --storm-members 3000.
    parser.addoption(
        "--storm-members",
        type=int,
        default=300,
        help="clients joining one room at once in tests/test_storms.py (300)",
    )
    # `make soak` runs tests/test_backlog.py with --backlog-seconds 60.
    parser.addoption(
        "--backlog-seconds",
        type=float,
        default=0.0,
        help="least seconds of sending to silent clients in tests/test_backlog.py "
        "(0: until they are cut off)",
    )


@pytest.fixture
def settings() -> Settings:
    """Defaults, a known admin token, and no metrics timer."""
    return Settings(admin_token=ADMIN_TOKEN, metrics_interval=0)


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    async with serve(create_app(settings)) as running:
        yield running


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[Connect]:
    """``await client("alice")`` connects a recording client to ``/chat``;
    every client is disconnected at teardown."""
    made: list[RecordingClient] = []

    async def make(name: str, **options: Any) -> RecordingClient:
        connected = await connect(server.url, name, **options)
        made.append(connected)
        return connected

    yield make
    for each in made:
        await each.disconnect()
