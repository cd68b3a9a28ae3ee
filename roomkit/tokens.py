"""Signed, expiring user tokens: display names that a deployment vouches for.

By default ``/chat`` believes whatever display name a client sends as
``auth.name``. Names matter: private rooms admit names, and a name's personal
room receives its invitations. A deployment that knows who its users are (a
login page, another service) can instead hand each user a token::

    token = issue_user_token("alice", secret, ttl=3600)   # on the login side
    socket = io("/chat", {auth: {token}})                  # in the browser

and start roomkit with the same ``secret`` (``ROOMKIT_USER_TOKEN_SECRET``).
The ``/chat`` middleware from :func:`user_token_middleware` then takes the name
from the token, and refuses forged, altered and expired tokens.

The tokens are standard JSON Web Tokens (HS256, via PyJWT), so any service in
any language can issue them: claims ``sub`` (the display name), ``iat``, ``exp``
and ``aud`` = ``"roomkit"``.
"""

from __future__ import annotations

import os
import time
from typing import Any

import jwt

from roomkit.errors import ProtocolError, Refused
from roomkit.middleware import Handshake, Middleware
from roomkit.settings import Limits
from roomkit.validation import display_name

__all__ = [
    "AUDIENCE",
    "DEFAULT_TTL",
    "MIN_SECRET_BYTES",
    "USER_TOKEN_SECRET_ENV",
    "InvalidUserToken",
    "check_secret",
    "issue_user_token",
    "user_token_middleware",
    "user_token_secret_from_env",
    "verify_user_token",
]

USER_TOKEN_SECRET_ENV = "ROOMKIT_USER_TOKEN_SECRET"
AUDIENCE = "roomkit"
DEFAULT_TTL = 3600.0
# RFC 7518 section 3.2: an HS256 key must be at least as long as the hash.
MIN_SECRET_BYTES = 32
_ALGORITHM = "HS256"
# Far above any token we issue (about 200 bytes); stops huge strings before decoding.
_MAX_TOKEN_LENGTH = 4096


class InvalidUserToken(Refused):
    """A ``/chat`` connection's ``auth.token`` is missing, forged, altered or expired.

    The message reaches the client's ``connect_error``; it never contains the token.
    """


def check_secret(secret: str) -> str:
    """Return ``secret`` if it is long enough to sign tokens with.

    :raises ValueError: when it has fewer than :data:`MIN_SECRET_BYTES` bytes.
    """
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ValueError(
            f"the user token secret must be at least {MIN_SECRET_BYTES} bytes long"
            " (for example: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return secret


def issue_user_token(
    name: str, secret: str, ttl: float = DEFAULT_TTL, *, now: float | None = None
) -> str:
    """A signed token proving display name ``name`` for ``ttl`` seconds.

    :param name: the display name; must pass :func:`roomkit.validation.display_name`
        with default limits.
    :param secret: the server's ``user_token_secret`` (at least 32 bytes).
    :param ttl: seconds the token stays valid. Default 3600.
    :param now: the issue time as Unix time. Default: the current time (tests
        pass a past time to get an already expired token).
    :raises ValueError: for a bad name, a short secret or a ttl that is not positive.
    """
    try:
        name = display_name(name, Limits())
    except ProtocolError as problem:
        raise ValueError(str(problem)) from None
    if ttl <= 0:
        raise ValueError("ttl must be a positive number of seconds")
    issued = int(time.time() if now is None else now)
    claims = {"sub": name, "aud": AUDIENCE, "iat": issued, "exp": issued + int(ttl)}
    return jwt.encode(claims, check_secret(secret), algorithm=_ALGORITHM)


def verify_user_token(token: Any, secret: str, limits: Limits | None = None) -> str:
    """The display name that ``token`` proves.

    :param token: what the client sent as ``auth.token``.
    :param secret: the secret the token must be signed with.
    :param limits: bounds for the name. Default: ``Limits()``.
    :raises InvalidUserToken: with a reason that never repeats the token.
    """
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_LENGTH:
        raise InvalidUserToken("invalid user token")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[_ALGORITHM],  # never "none", never what the token header says
            audience=AUDIENCE,
            options={"require": ["sub", "iat", "exp", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidUserToken("user token expired: get a new one") from None
    except (jwt.InvalidTokenError, UnicodeError):  # lone surrogates are not UTF-8
        raise InvalidUserToken("invalid user token") from None
    try:
        return display_name(claims["sub"], limits or Limits())
    except ProtocolError:
        raise InvalidUserToken("invalid user token") from None


def user_token_middleware(secret: str, *, required: bool, limits: Limits) -> Middleware:
    """A ``/chat`` middleware that takes the display name from a signed ``auth.token``.

    It sets ``handshake.data["name"]``, which the chat namespace then keeps
    instead of ``auth.name``, so it must run before the chat's own middleware.

    :param secret: the secret tokens are signed with.
    :param required: refuse connections that send no token. When False, such
        connections fall back to the unauthenticated ``auth.name``.
    :param limits: bounds for the name.
    """
    check_secret(secret)

    def check_user_token(handshake: Handshake) -> None:
        token = handshake.auth.get("token")
        if token is None:
            if required:
                raise InvalidUserToken("this server requires a user token in auth.token")
            return
        handshake.data["name"] = verify_user_token(token, secret, limits)

    return check_user_token


def user_token_secret_from_env() -> str | None:
    """The secret in ``ROOMKIT_USER_TOKEN_SECRET``, or None when unset or empty."""
    return os.environ.get(USER_TOKEN_SECRET_ENV) or None
