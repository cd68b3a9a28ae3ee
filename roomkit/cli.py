"""The ``roomkit`` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace

from aiohttp import web

from roomkit.app import create_app
from roomkit.settings import Limits, Settings, admin_token_from_env

__all__ = ["main"]

logger = logging.getLogger("roomkit")


def _add_serve(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    serve = commands.add_parser("serve", help="run the multi-room chat server")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (8000)")
    serve.add_argument(
        "--redis-url",
        default=None,
        help="share rooms and presence with other servers through this Redis",
    )
    serve.add_argument(
        "--no-rate-limit", action="store_true", help="turn the per-connection rate limit off"
    )
    serve.add_argument("--log-level", default="INFO", help="logging level (INFO)")
    serve.set_defaults(run=_serve)


def _serve(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    token, generated = admin_token_from_env()
    limits = Limits(rate_limit=not args.no_rate_limit)
    settings = replace(Settings(), admin_token=token, redis_url=args.redis_url, limits=limits)
    app = create_app(settings)
    base = f"http://{args.host}:{args.port}"
    print(f"roomkit serving on {base}  (chat page {base}/, admin page {base}/admin)", flush=True)
    if generated:
        print(f"admin token (set ROOMKIT_ADMIN_TOKEN to choose one): {token}", flush=True)
    web.run_app(app, host=args.host, port=args.port, print=None, shutdown_timeout=2.0)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="roomkit", description="Socket.IO rooms and namespaces: course and server"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_serve(commands)
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
