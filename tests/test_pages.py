"""The web pages over HTTP: routes, headers, the vendored client, and what is not served."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from roomkit import Settings, create_app
from roomkit.app import STATIC_DIR
from roomkit.pages import add_page_routes, content_security_policy
from roomkit.testing import RunningServer, connect, serve

ADMIN_TOKEN = "pages-admin-token"

VENDOR = STATIC_DIR / "vendor" / "socket.io.min.js"
OUR_ASSETS = [
    "chat.html",
    "admin.html",
    "chat.js",
    "admin.js",
    "style.css",
    "favicon.svg",
    "lock.svg",
]


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=server.url) as session:
        yield session


def require_vendor() -> None:
    if not VENDOR.exists():
        pytest.fail(f"{VENDOR} is missing: run `make setup` (it needs Node.js and npm)")


async def test_chat_page_is_served_at_root(http: aiohttp.ClientSession) -> None:
    async with http.get("/") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        body = await response.text()
    assert "<title>roomkit chat</title>" in body
    assert '<script src="/static/vendor/socket.io.min.js" defer></script>' in body
    assert '<script src="/static/chat.js" defer></script>' in body


async def test_admin_page_and_admin_namespace_share_the_path(
    server: RunningServer, settings: Settings
) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{server.url}/admin") as response:
        assert response.status == 200
        assert "<title>roomkit admin</title>" in await response.text()
    # The namespace is reached through /socket.io/, so the page route does not shadow it.
    admin = await connect(
        server.url, "admin", namespace="/admin", auth={"token": settings.admin_token}
    )
    try:
        assert admin.connected
    finally:
        await admin.disconnect()


@pytest.mark.parametrize("path", ["/", "/admin", "/static/chat.js", "/static/style.css"])
async def test_every_page_and_asset_carries_the_security_headers(
    http: aiohttp.ClientSession, server: RunningServer, path: str
) -> None:
    async with http.get(path) as response:
        assert response.status == 200
        policy = response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "Last-Modified" in response.headers
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    host = server.url.removeprefix("http://")
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == f"'self' ws://{host} wss://{host}"
    assert "unsafe" not in policy


async def test_unchanged_asset_is_revalidated_cheaply(http: aiohttp.ClientSession) -> None:
    async with http.get("/static/chat.js") as response:
        last_modified = response.headers["Last-Modified"]
    async with http.get("/static/chat.js", headers={"If-Modified-Since": last_modified}) as again:
        assert again.status == 304


async def test_vendored_socketio_client_is_served(http: aiohttp.ClientSession) -> None:
    require_vendor()
    async with http.get("/static/vendor/socket.io.min.js") as response:
        assert response.status == 200
        assert "javascript" in response.content_type
        body = await response.text()
    assert body == VENDOR.read_text()
    assert re.match(r"/\*!\s*\* Socket\.IO v4\.", body)


def test_pages_name_no_other_host() -> None:
    """Offline by construction: nothing we serve points a browser at another host."""
    for name in OUR_ASSETS:
        text = (STATIC_DIR / name).read_text()
        urls = re.findall(r"\b[a-z][a-z0-9+.-]*://[^\s\"'<>)]*", text)
        # The SVG namespace is an identifier, never fetched.
        assert set(urls) <= {"http://www.w3.org/2000/svg"}, name
        for link in re.findall(r"\b(?:src|href)=\"([^\"]*)\"", text):
            assert link.startswith("/"), (name, link)
            assert not link.startswith("//"), (name, link)


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/static/nope.js",
        "/static/",
        "/static/vendor",
        "/static/..%2Fpages.py",
        "/static/%2e%2e/app.py",
        "/static/vendor/..%2F..%2Fapp.py",
    ],
)
async def test_unknown_and_escaping_paths_answer_404(
    http: aiohttp.ClientSession, path: str
) -> None:
    async with http.get(path) as response:
        assert response.status == 404
        assert "__all__" not in await response.text()


async def test_pages_can_be_turned_off() -> None:
    app = create_app(Settings(admin_token=ADMIN_TOKEN, metrics_interval=0, serve_pages=False))
    async with (
        serve(app) as server,
        aiohttp.ClientSession(base_url=server.url) as session,
        session.get("/") as response,
    ):
        assert response.status == 404


async def test_without_the_vendor_file_the_page_still_loads(tmp_path: Path) -> None:
    """No Node.js at set-up: the client 404s, the page itself (and its message) is served."""
    for name in OUR_ASSETS:
        shutil.copy(STATIC_DIR / name, tmp_path / name)
    app = create_app(Settings(admin_token=ADMIN_TOKEN, metrics_interval=0, serve_pages=False))
    add_page_routes(app, tmp_path)
    async with serve(app) as server, aiohttp.ClientSession(base_url=server.url) as session:
        async with session.get("/static/vendor/socket.io.min.js") as response:
            assert response.status == 404
        async with session.get("/") as response:
            assert response.status == 200
            assert "make setup" in await response.text()


@pytest.mark.parametrize(
    "host", ["evil.example; script-src *", "a b", "host\r\nX: y", "", "[::1]:8000x"]
)
def test_a_malformed_host_header_is_not_echoed_into_the_policy(host: str) -> None:
    policy = content_security_policy(host)
    assert "connect-src 'self';" in policy
    assert "*" not in policy


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost", "[::1]:8000", "chat.example"])
def test_a_wellformed_host_gets_its_websocket_origin(host: str) -> None:
    assert f"connect-src 'self' ws://{host} wss://{host};" in content_security_policy(host)
