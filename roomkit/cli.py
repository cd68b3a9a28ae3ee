"""The ``roomkit`` command line."""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from aiohttp import web

from roomkit.app import create_app
from roomkit.cluster import add_cluster_command
from roomkit.course.cli import add_course_commands
from roomkit.errors import StoreMisconfigured
from roomkit.settings import (
    ADMIN_TOKEN_ENV,
    DEFAULT_NODE_TTL,
    MIN_ADMIN_TOKEN_LENGTH,
    Limits,
    LoadLimits,
    Settings,
    admin_token_from_env,
)
from roomkit.settings_flags import add_field_flags, fields_from_args
from roomkit.tokens import (
    DEFAULT_TTL,
    USER_TOKEN_SECRET_ENV,
    check_secret,
    issue_user_token,
    user_token_secret_from_env,
)

__all__ = ["main", "serve_settings"]

logger = logging.getLogger("roomkit")

# A broadcast to N clients allocates several objects per recipient (tasks,
# handles, queue entries) that reference counting frees. With Python's default
# threshold of 700 the cyclic collector runs every few recipients and scans
# every connection's objects; docs/benchmarks.md measures the difference.
GC_THRESHOLD = 100_000

ALLOWED_HOSTS_ENV = "ROOMKIT_ALLOWED_HOSTS"
TRUSTED_PROXIES_ENV = "ROOMKIT_TRUSTED_PROXIES"
WEBSOCKET_COMPRESSION_ENV = "ROOMKIT_WEBSOCKET_COMPRESSION"


def _add_serve(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    serve = commands.add_parser("serve", help="run the multi-room chat server")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind")
    serve.add_argument("--port", type=int, default=8000, help="port to bind")
    serve.add_argument(
        "--redis-url",
        default=None,
        help="share rooms and presence with other servers through this Redis",
    )
    serve.add_argument(
        "--node-ttl",
        type=float,
        default=DEFAULT_NODE_TTL,
        help="with --redis-url: seconds within which a dead server's members disappear",
    )
    serve.add_argument(
        "--no-rate-limit", action="store_true", help="turn the per-connection rate limit off"
    )
    serve.add_argument(
        "--require-user-token",
        action="store_true",
        help=f"refuse /chat clients without a signed user token (needs {USER_TOKEN_SECRET_ENV})",
    )
    serve.add_argument(
        "--allowed-host",
        action="append",
        metavar="NAME",
        help="a host name the server answers to, besides IP addresses and localhost; "
        f"repeatable; '*' for any (default: ${ALLOWED_HOSTS_ENV}, comma-separated)",
    )
    serve.add_argument(
        "--trusted-proxy",
        action="append",
        metavar="ADDRESS",
        help="address of a reverse proxy whose X-Forwarded-* headers are believed; "
        f"repeatable (default: ${TRUSTED_PROXIES_ENV}, comma-separated; none)",
    )
    serve.add_argument(
        "--websocket-compression",
        action="store_true",
        default=os.environ.get(WEBSOCKET_COMPRESSION_ENV, "") == "1",
        help="accept permessage-deflate when clients offer it; costs CPU per recipient "
        f"(${WEBSOCKET_COMPRESSION_ENV}=1; off)",
    )
    serve.add_argument("--log-level", default="INFO", help="logging level")
    serve.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop"),
        default="auto",
        help="event loop; auto: uvloop when installed, measured faster (docs/benchmarks.md)",
    )
    serve.add_argument(
        "--gc-threshold",
        type=int,
        default=GC_THRESHOLD,
        help="allocations between young-generation garbage collections; 0 keeps "
        "Python's default (700). Fewer collections: faster fan-out",
    )
    add_field_flags(
        serve,
        Limits,
        title="limits on what clients may send and hold (docs/security.md)",
        dest_prefix="limit_",
    )
    add_field_flags(serve, LoadLimits, title="load limits (docs/security.md)", dest_prefix="load_")
    serve.set_defaults(run=_serve)


def _new_event_loop(choice: str) -> asyncio.AbstractEventLoop:
    """A new event loop of ``choice`` (``auto``, ``asyncio`` or ``uvloop``)."""
    if choice == "asyncio":
        return asyncio.new_event_loop()
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        if choice == "uvloop":
            raise SystemExit("roomkit: --loop uvloop needs the uvloop package") from None
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def _serve(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    token, generated = admin_token_from_env()
    settings = serve_settings(args, token)
    app = create_app(settings)
    base = f"http://{args.host}:{args.port}"

    def announce(_: str) -> None:
        # run_app calls this once the port is open: the line means "ready".
        print(
            f"roomkit serving on {base}  (chat page {base}/, admin page {base}/admin)", flush=True
        )
        if generated:
            print(f"admin token (set ROOMKIT_ADMIN_TOKEN to choose one): {token}", flush=True)

    if args.gc_threshold > 0:
        gc.set_threshold(args.gc_threshold, *gc.get_threshold()[1:])
    loop = _new_event_loop(args.loop)
    try:
        web.run_app(
            app, host=args.host, port=args.port, print=announce, shutdown_timeout=2.0, loop=loop
        )
    except StoreMisconfigured as problem:  # a setup mistake, not a crash: no traceback
        print(f"roomkit: {problem}", file=sys.stderr)
        return 2
    return 0


def serve_settings(args: argparse.Namespace, admin_token: str) -> Settings:
    """The settings ``roomkit serve`` runs with.

    :param args: the parsed ``serve`` flags.
    :param admin_token: the ``/admin`` token.
    :raises SystemExit: when the user token configuration is unusable.
    """
    secret = user_token_secret_from_env()
    if args.require_user_token and secret is None:
        raise SystemExit(f"roomkit: --require-user-token needs {USER_TOKEN_SECRET_ENV}")
    if secret is not None:
        try:
            check_secret(secret)
        except ValueError as problem:
            raise SystemExit(f"roomkit: {USER_TOKEN_SECRET_ENV}: {problem}") from None
    if len(admin_token) < MIN_ADMIN_TOKEN_LENGTH:
        raise SystemExit(
            f"roomkit: {ADMIN_TOKEN_ENV} must have at least {MIN_ADMIN_TOKEN_LENGTH} "
            "characters (unset it to get a random one)"
        )
    try:
        limits = Limits(
            rate_limit=not args.no_rate_limit,
            **fields_from_args(args, Limits, dest_prefix="limit_"),
        )
        load = LoadLimits(**fields_from_args(args, LoadLimits, dest_prefix="load_"))
    except ValueError as problem:
        raise SystemExit(f"roomkit: {problem}") from None
    return replace(
        Settings(),
        admin_token=admin_token,
        redis_url=args.redis_url,
        node_ttl=args.node_ttl,
        limits=limits,
        user_token_secret=secret,
        require_user_token=args.require_user_token,
        allowed_hosts=_listed(args.allowed_host, ALLOWED_HOSTS_ENV),
        trusted_proxies=_listed(args.trusted_proxy, TRUSTED_PROXIES_ENV),
        load=load,
        websocket_compression=args.websocket_compression,
    )


def _listed(flags: list[str] | None, env: str) -> tuple[str, ...]:
    """Values given by a repeatable flag, else the comma-separated ``env`` variable."""
    if flags:
        return tuple(flags)
    return tuple(part.strip() for part in os.environ.get(env, "").split(",") if part.strip())


def _add_token(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    token = commands.add_parser(
        "token", help=f"print a signed user token for a display name (uses {USER_TOKEN_SECRET_ENV})"
    )
    token.add_argument("name", help="the display name the token proves")
    token.add_argument(
        "--ttl", type=float, default=DEFAULT_TTL, help="seconds the token stays valid"
    )
    token.set_defaults(run=_token)


def _token(args: argparse.Namespace) -> int:
    secret = user_token_secret_from_env()
    if secret is None:
        print(f"roomkit: set {USER_TOKEN_SECRET_ENV} to the server's secret", file=sys.stderr)
        return 2
    try:
        print(issue_user_token(args.name, secret, args.ttl))
    except ValueError as problem:
        print(f"roomkit: {problem}", file=sys.stderr)
        return 2
    return 0


class _DefaultsHelp(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's help ends with its default, read from the code; options whose
    default is "not given" (None, False, empty) say nothing more."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, [], ()):
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """A subcommand's parser: its help shows the defaults too."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("formatter_class", _DefaultsHelp)
        super().__init__(**options)


def build_parser() -> argparse.ArgumentParser:
    """The ``roomkit`` command line, with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="roomkit",
        description="Socket.IO rooms and namespaces: course and server",
        formatter_class=_DefaultsHelp,
    )
    commands = parser.add_subparsers(
        dest="command",
        required=True,
        parser_class=_Parser,
    )
    _add_serve(commands)
    _add_token(commands)
    add_cluster_command(commands)
    add_course_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.run(args)
    except KeyboardInterrupt:
        status = 130
    return status


if __name__ == "__main__":
    sys.exit(main())
