"""The web pages: the chat page at ``/``, the admin page at ``/admin``, and their assets.

The pages are plain HTML, CSS and JavaScript with no build step. They talk to
the server through the official Socket.IO JavaScript client, which ``make setup``
copies from npm into ``static/vendor/``; roomkit serves it itself, so a page
never asks any other host for anything and works offline.

The page route ``/admin`` and the Socket.IO namespace ``/admin`` do not clash:
every Socket.IO request travels under ``/socket.io/`` and names its namespace
inside the packets, so ``GET /admin`` only ever reaches the page.

Every response sent from here carries a Content-Security-Policy that lets the
page load scripts, styles and images from this server alone and open
connections (HTTP long-polling and WebSocket) only back to it.
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

__all__ = ["add_page_routes", "content_security_policy"]

# A Host header we are willing to echo into the policy: a name or an IPv4/IPv6
# address with an optional port. Anything else falls back to 'self' alone.
_SAFE_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")

# Pages and assets are not fingerprinted, so browsers must revalidate them on
# every load (cheaply, through Last-Modified); a stale chat.js after an upgrade
# would speak an old protocol.
_CACHE_CONTROL = "no-cache"


def content_security_policy(host: str) -> str:
    """The Content-Security-Policy for a page served to a browser that asked ``host``.

    :param host: the request's ``Host`` header, e.g. ``"127.0.0.1:8000"``. It is
        used to name this server's ``ws:``/``wss:`` origin explicitly (older
        browsers do not count WebSocket URLs as ``'self'``); a malformed value
        is ignored.
    :returns: a policy allowing only this server as a source of scripts, styles,
        images and connections, and forbidding framing, plugins, ``<base>`` and
        form posts.
    """
    connect = "'self'"
    if _SAFE_HOST.match(host):
        connect += f" ws://{host} wss://{host}"
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            f"connect-src {connect}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def _protect(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    response.headers["Content-Security-Policy"] = content_security_policy(request.host)
    response.headers["Cache-Control"] = _CACHE_CONTROL
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def add_page_routes(app: web.Application, static_dir: Path) -> None:
    """Serve the pages and their assets from ``static_dir`` on ``app``.

    Adds ``GET /`` (``chat.html``), ``GET /admin`` (``admin.html``) and
    ``GET /static/<path>`` (any file under ``static_dir``, including the
    vendored Socket.IO client in ``static_dir/vendor/``). Paths that leave
    ``static_dir`` and files that do not exist answer 404.

    :param app: the application to add the routes to (not yet started).
    :param static_dir: the folder holding ``chat.html``, ``admin.html`` and the
        assets they load.
    """
    root = static_dir.resolve()

    def page(filename: str) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            return _protect(request, web.FileResponse(root / filename))

        return handler

    async def asset(request: web.Request) -> web.StreamResponse:
        target = (root / request.match_info["path"]).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            raise web.HTTPNotFound()
        return _protect(request, web.FileResponse(target))

    app.router.add_get("/", page("chat.html"), name="chat-page")
    # Not the /admin Socket.IO namespace: that one is reached through /socket.io/.
    app.router.add_get("/admin", page("admin.html"), name="admin-page")
    app.router.add_get("/static/{path:.+}", asset, name="static")
