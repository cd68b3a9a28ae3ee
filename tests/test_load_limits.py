"""roomkit.LoadLimits: the defaults docs/security.md states, and the flag and
environment variable ``roomkit serve`` has for each."""

from __future__ import annotations

import dataclasses

import pytest
from support import ADMIN_TOKEN

from roomkit import LoadLimits, Settings
from roomkit.cli import build_parser, serve_settings


def test_default_load_limits() -> None:
    assert LoadLimits() == LoadLimits(
        redis_max_connections=4,
        redis_timeout=2.0,
        relay_timeout=1.0,
        presence_fanout_per_second=10_000,
        presence_interval=1.0,
        room_creations_per_minute=30.0,
        room_creation_burst=20,
    )
    assert Settings().load == LoadLimits()


def test_serve_has_a_flag_and_an_environment_variable_for_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parser = build_parser()
    assert serve_settings(parser.parse_args(["serve"]), ADMIN_TOKEN).load == LoadLimits()
    monkeypatch.setenv("ROOMKIT_RELAY_TIMEOUT", "0.25")
    monkeypatch.setenv("ROOMKIT_ROOM_CREATION_BURST", "7")
    parser = build_parser()  # defaults are read when the flags are declared
    args = parser.parse_args(["serve", "--presence-interval", "2.5", "--room-creation-burst", "9"])
    load = serve_settings(args, ADMIN_TOKEN).load
    assert (load.relay_timeout, load.presence_interval, load.room_creation_burst) == (
        0.25,
        2.5,
        9,  # the flag wins over the environment
    )
    for field in dataclasses.fields(LoadLimits):  # every field has its flag
        flagged = parser.parse_args(["serve", "--" + field.name.replace("_", "-"), "3"])
        assert getattr(serve_settings(flagged, ADMIN_TOKEN).load, field.name) == 3


@pytest.mark.parametrize("field", ["redis_timeout", "relay_timeout", "presence_interval"])
def test_timeouts_must_be_positive(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        LoadLimits(**{field: 0})
