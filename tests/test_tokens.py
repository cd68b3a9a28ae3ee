"""Signed user tokens: issue and verify, the /chat middleware with real clients, the CLI."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest

from roomkit import Settings, create_app
from roomkit.app import SETTINGS_KEY
from roomkit.cli import build_parser, main, serve_settings
from roomkit.errors import ConnectRefused
from roomkit.settings import Limits
from roomkit.testing import RunningServer, connect, expect_silence, serve
from roomkit.tokens import (
    USER_TOKEN_SECRET_ENV,
    InvalidUserToken,
    issue_user_token,
    verify_user_token,
)

SECRET = "s" * 40
OTHER_SECRET = "o" * 40
HOUR = 3600.0


def _expired(name: str = "alice") -> str:
    # Issued two hours ago for one hour: expired by an hour, so no clock race.
    return issue_user_token(name, SECRET, ttl=HOUR, now=time.time() - 2 * HOUR)


def _forged_claims(**claims: Any) -> str:
    # Built at collection time, so valid for a day: a long test run must not
    # turn "wrong audience" into "expired".
    now = int(time.time())
    base = {"sub": "alice", "aud": "roomkit", "iat": now, "exp": now + 86_400}
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, SECRET, algorithm="HS256")


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    flipped = "A" if signature[0] != "A" else "B"
    return ".".join([header, payload, flipped + signature[1:]])


# -- issue / verify ---------------------------------------------------------------------


def test_a_token_proves_its_name() -> None:
    token = issue_user_token("alice", SECRET, ttl=60)
    assert verify_user_token(token, SECRET) == "alice"
    assert "alice" not in token.split(".")[2]  # the name is in the claims, signed


def test_an_expired_token_is_refused() -> None:
    with pytest.raises(InvalidUserToken, match=r"^user token expired: get a new one$"):
        verify_user_token(_expired(), SECRET)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(_tampered(issue_user_token("alice", SECRET)), id="altered signature"),
        pytest.param(issue_user_token("alice", OTHER_SECRET), id="other secret"),
        pytest.param(_forged_claims(aud="elsewhere"), id="other audience"),
        pytest.param(_forged_claims(exp=None), id="no expiry"),
        pytest.param(_forged_claims(sub="a\nb"), id="unprintable name"),
        pytest.param(_forged_claims(sub="x" * 40), id="name too long"),
        pytest.param(
            jwt.encode({"sub": "alice", "aud": "roomkit"}, None, algorithm="none"),
            id="alg none",
        ),
        pytest.param("not.a.token", id="garbage"),
        pytest.param("", id="empty"),
        pytest.param("x" * 10_000, id="huge"),
        pytest.param(12345, id="not a string"),
        pytest.param(["a"], id="list"),
    ],
)
def test_bad_tokens_are_refused_without_echo(token: Any) -> None:
    with pytest.raises(InvalidUserToken) as refused:
        verify_user_token(token, SECRET)
    assert str(refused.value) == "invalid user token"


def test_issue_checks_its_inputs() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        issue_user_token("alice", "short")
    with pytest.raises(ValueError, match="name must not be empty"):
        issue_user_token("", SECRET)
    with pytest.raises(ValueError, match="ttl must be a positive"):
        issue_user_token("alice", SECRET, ttl=0)


def test_settings_refuse_a_required_token_without_secret() -> None:
    with pytest.raises(ValueError, match="require_user_token needs a user_token_secret"):
        Settings(require_user_token=True)


def test_settings_repr_hides_the_secrets() -> None:
    shown = repr(Settings(admin_token="admin-" + SECRET, user_token_secret=SECRET))
    assert SECRET not in shown
    assert "admin_token" not in shown


def test_a_short_secret_stops_the_app_factory() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        create_app(Settings(user_token_secret="too short", metrics_interval=0))


# -- the /chat middleware with real clients ------------------------------------------------


@pytest.fixture(params=[False, True], ids=["tokens optional", "tokens required"])
async def token_server(request: pytest.FixtureRequest) -> AsyncIterator[RunningServer]:
    settings = Settings(
        metrics_interval=0, user_token_secret=SECRET, require_user_token=request.param
    )
    async with serve(create_app(settings)) as running:
        yield running


async def test_the_token_names_the_connection_not_auth_name(token_server: RunningServer) -> None:
    token = issue_user_token("alice", SECRET, ttl=60)
    alice = await connect(token_server.url, "x", auth={"token": token, "name": "mallory"})
    await alice.call("join room", "general")
    members = (await alice.call("members", "general"))["members"]
    assert [member["name"] for member in members] == ["alice"]
    await alice.disconnect()


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (_expired, "user token expired: get a new one"),
        (lambda: _tampered(issue_user_token("alice", SECRET)), "invalid user token"),
        (lambda: issue_user_token("alice", OTHER_SECRET), "invalid user token"),
        (lambda: "garbage", "invalid user token"),
        (lambda: 42, "invalid user token"),
    ],
)
async def test_bad_tokens_are_refused_at_connect(
    token_server: RunningServer, make_token: Any, reason: str
) -> None:
    token = make_token()
    with pytest.raises(ConnectRefused) as refused:
        await connect(token_server.url, "x", auth={"token": token, "name": "alice"})
    assert refused.value.reason == reason
    assert str(token) not in refused.value.reason


async def test_without_a_token_auth_name_is_trusted_only_when_tokens_are_optional(
    token_server: RunningServer,
) -> None:
    if token_server.app[SETTINGS_KEY].require_user_token:
        with pytest.raises(ConnectRefused) as refused:
            await connect(token_server.url, "alice")
        assert refused.value.reason == "this server requires a user token in auth.token"
    else:
        alice = await connect(token_server.url, "alice")
        assert (await alice.call("join room", "general"))["ok"] is True
        await alice.disconnect()


async def test_required_tokens_keep_impostors_out_of_private_rooms() -> None:
    settings = Settings(metrics_interval=0, user_token_secret=SECRET, require_user_token=True)
    async with serve(create_app(settings)) as server:
        alice = await connect(
            server.url, "alice", auth={"token": issue_user_token("alice", SECRET)}
        )
        await alice.call("create room", {"name": "ops", "private": True})
        # Without the secret nobody can make a token that says "alice".
        forged = jwt.encode(
            {"sub": "alice", "aud": "roomkit", "iat": 1, "exp": 2**40},
            OTHER_SECRET,
            algorithm="HS256",
        )
        for auth in ({"name": "alice"}, {"token": forged}):
            with pytest.raises(ConnectRefused):
                await connect(server.url, "impostor", auth=auth)
        bob = await connect(server.url, "bob", auth={"token": issue_user_token("bob", SECRET)})
        assert (await bob.call("join room", "ops"))["ok"] is False
        await expect_silence(alice)
        await alice.disconnect()
        await bob.disconnect()


# -- the command line ------------------------------------------------------------------------


def test_token_command_prints_a_token_the_server_accepts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(USER_TOKEN_SECRET_ENV, SECRET)
    assert main(["token", "alice", "--ttl", "120"]) == 0
    token = capsys.readouterr().out.strip()
    assert verify_user_token(token, SECRET) == "alice"
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="roomkit")
    assert claims["exp"] - claims["iat"] == 120


def test_token_command_needs_the_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(USER_TOKEN_SECRET_ENV, raising=False)
    assert main(["token", "alice"]) == 2
    assert USER_TOKEN_SECRET_ENV in capsys.readouterr().err
    monkeypatch.setenv(USER_TOKEN_SECRET_ENV, "tiny-secret")
    assert main(["token", "alice"]) == 2
    err = capsys.readouterr().err
    assert "at least 32 bytes" in err
    assert "tiny-secret" not in err


def test_serve_reads_the_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(USER_TOKEN_SECRET_ENV, SECRET)
    args = build_parser().parse_args(["serve", "--require-user-token"])
    settings = serve_settings(args, "admin-token-0123456")
    assert settings.user_token_secret == SECRET
    assert settings.require_user_token is True
    monkeypatch.delenv(USER_TOKEN_SECRET_ENV)
    with pytest.raises(SystemExit, match=USER_TOKEN_SECRET_ENV):
        serve_settings(args, "admin-token-0123456")
    monkeypatch.setenv(USER_TOKEN_SECRET_ENV, "tiny-secret")
    with pytest.raises(SystemExit, match="at least 32 bytes") as stopped:
        serve_settings(build_parser().parse_args(["serve"]), "admin-token-0123456")
    assert "tiny-secret" not in str(stopped.value)


def test_serve_without_a_secret_takes_names_from_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(USER_TOKEN_SECRET_ENV, raising=False)
    settings = serve_settings(build_parser().parse_args(["serve"]), "admin-token-0123456")
    assert settings.user_token_secret is None
    assert settings.limits == Limits()
