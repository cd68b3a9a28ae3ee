"""The chat and admin pages in real headless Chromium, against a live roomkit server.

Each person is a separate browser context (its own storage and connection).
Waiting is Playwright's auto-waiting ``expect``; "X did not arrive" is asserted
only after a round trip on that person's own connection (their own message's
ack), which the server answers after anything it sent them before.

Every request and WebSocket a page makes is checked against 127.0.0.1, and any
other host is refused: the pages work offline.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Route,
    ViewportSize,
    WebSocket,
    async_playwright,
    expect,
)

from roomkit import Limits, Settings, create_app
from roomkit.app import STATIC_DIR
from roomkit.pages import add_page_routes
from roomkit.testing import RunningServer, connect, serve

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
ADMIN_TOKEN = "browser-admin-token"
LOCAL_HOST = "127.0.0.1"
# Leave room for a busy 2-core machine.
expect.set_options(timeout=10_000)


def require_chromium_and_client() -> None:
    """Skip without Chromium on a developer's machine; fail without it in CI (which
    installs it) and whenever the vendored client is missing."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found (Debian package chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    if not (STATIC_DIR / "vendor" / "socket.io.min.js").exists():
        pytest.fail("the vendored Socket.IO client is missing: run `make setup`")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[Browser]:
    """One Debian Chromium for the module; Playwright never downloads a browser."""
    require_chromium_and_client()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        await launched.close()


@dataclass
class Browsing:
    """Opens pages of one server, one browser context per person, and watches
    what they fetch and what goes wrong in them."""

    browser: Browser
    base_url: str
    requested: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    contexts: list[BrowserContext] = field(default_factory=list)
    frames: dict[int, list[str]] = field(default_factory=dict)

    def _note(self, url: str) -> None:
        self.requested.append(url)
        if urlsplit(url).hostname != LOCAL_HOST:
            self.foreign.append(url)

    async def _local_only(self, route: Route) -> None:
        if urlsplit(route.request.url).hostname == LOCAL_HOST:
            await route.continue_()
        else:
            await route.abort()

    def _watch_socket(self, page: Page, socket: WebSocket) -> None:
        self._note(socket.url)
        received = self.frames.setdefault(id(page), [])

        def record(payload: str | bytes) -> None:
            text = payload if isinstance(payload, str) else payload.decode(errors="replace")
            received.append(text)

        socket.on("framereceived", record)

    def received(self, page: Page) -> str:
        """Every WebSocket frame ``page`` has received so far, joined."""
        return "\n".join(self.frames.get(id(page), []))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.page_errors.append(f"console: {message.text}")

    async def open(self, path: str = "/") -> Page:
        context = await self.browser.new_context(viewport=VIEWPORT)
        self.contexts.append(context)
        await context.route("**/*", self._local_only)
        page = await context.new_page()
        page.on("request", lambda request: self._note(request.url))
        page.on("websocket", lambda socket: self._watch_socket(page, socket))
        page.on("pageerror", lambda error: self.page_errors.append(f"page: {error}"))
        page.on("console", self._console)
        await page.goto(self.base_url + path)
        return page

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@pytest_asyncio.fixture(loop_scope="module")
async def site() -> AsyncIterator[RunningServer]:
    """A live server with the pages, in the module's event loop, metrics every 0.25 s."""
    settings = Settings(admin_token=ADMIN_TOKEN, metrics_interval=0.25)
    async with serve(create_app(settings)) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def browsing(browser: Browser, site: RunningServer) -> AsyncIterator[Browsing]:
    watcher = Browsing(browser, site.url)
    yield watcher
    await watcher.close()


def assert_offline_and_clean(browsing: Browsing) -> None:
    """Every request went to 127.0.0.1 (including the WebSocket), and no page broke."""
    assert any(url.endswith("/static/vendor/socket.io.min.js") for url in browsing.requested)
    assert any(url.startswith(f"ws://{LOCAL_HOST}:") for url in browsing.requested)
    assert browsing.foreign == []
    assert browsing.page_errors == []


# -- what a person does on the chat page ----------------------------------------


async def sign_in(page: Page, name: str) -> None:
    await page.get_by_label("Your name", exact=True).fill(name)
    await page.get_by_role("button", name="Connect", exact=True).click()
    # Once on WebSocket, everything the server sends this page is a frame we see.
    await expect(page.get_by_role("status")).to_have_text(f"Connected as {name} · websocket")


async def join(page: Page, room: str) -> None:
    await page.get_by_label("Room", exact=True).fill(room)
    await page.get_by_role("button", name="Join", exact=True).click()
    await expect(page.locator("#room-title")).to_have_text(room)


async def say(page: Page, text: str) -> None:
    """Type ``text`` and press Enter; return once the server acknowledged it."""
    box = page.get_by_label("Message", exact=True)
    await box.fill(text)
    await box.press("Enter")
    own = page.locator(".msg.own").filter(has_text=text)
    await expect(own).to_have_attribute("data-state", "sent")


def members(page: Page) -> Locator:
    return page.get_by_role("list", name="Member list").locator(".member-name")


def texts(page: Page) -> Locator:
    return page.locator(".msg .text")


def room_count(page: Page, room: str) -> Locator:
    return page.locator(f'#room-list li[data-room="{room}"] .count')


# -- the tests ------------------------------------------------------------------


async def test_two_users_chat_and_a_third_in_another_room_sees_nothing(
    browsing: Browsing,
) -> None:
    alice, bob, carol = [await browsing.open("/") for _ in range(3)]
    await sign_in(alice, "alice")
    await sign_in(bob, "bob")
    await sign_in(carol, "carol")
    await join(alice, "general")
    await join(bob, "general")
    await join(carol, "random")

    await say(alice, "hello bob")
    await expect(bob.locator(".msg:not(.own)")).to_have_count(1)
    await expect(bob.locator(".msg:not(.own) .author")).to_have_text("alice")
    await expect(texts(bob)).to_have_text(["hello bob"])
    await say(bob, "hi alice")
    await expect(texts(alice)).to_have_text(["hello bob", "hi alice"])

    # Barrier: carol's own message is acknowledged only after everything the
    # server sent her before it, so alice's message would have reached her by now.
    await say(carol, "anyone here?")
    await expect(texts(carol)).to_have_text(["anyone here?"])
    assert "hello bob" in browsing.received(bob)
    assert "hello bob" not in browsing.received(carol)
    assert "hi alice" not in browsing.received(carol)
    await expect(texts(alice)).to_have_text(["hello bob", "hi alice"])

    # Member counts in everyone's room list, private to nobody here. Counts of
    # rooms one is not in refresh every 30 s or on the refresh button.
    for page in (alice, carol):
        await page.click("#refresh-rooms")
    await expect(room_count(carol, "general")).to_have_text("2")
    await expect(room_count(alice, "random")).to_have_text("1")

    ARTIFACTS.mkdir(exist_ok=True)
    await alice.screenshot(path=str(ARTIFACTS / "chat.png"))
    assert_offline_and_clean(browsing)


async def test_member_list_follows_joins_leaves_and_disconnects(browsing: Browsing) -> None:
    alice, bob = [await browsing.open("/") for _ in range(2)]
    await sign_in(alice, "alice")
    await sign_in(bob, "bob")
    await join(alice, "lobby")
    await expect(members(alice)).to_have_text(["alice"])

    await join(bob, "lobby")
    await expect(members(alice)).to_have_text(["alice", "bob"])
    await expect(members(bob)).to_have_text(["alice", "bob"])
    await expect(alice.locator(".notice").filter(has_text="bob joined")).to_have_count(1)
    await expect(room_count(alice, "lobby")).to_have_text("2")

    await bob.get_by_role("button", name="Leave", exact=True).click()
    await expect(bob.locator("#room-title")).to_have_text("No room open")
    await expect(members(alice)).to_have_text(["alice"])
    await expect(alice.locator(".notice").filter(has_text="bob left")).to_have_count(1)
    await expect(room_count(alice, "lobby")).to_have_text("1")

    # Closing the tab is leaving too: the server drops bob's connection.
    await join(bob, "lobby")
    await expect(members(alice)).to_have_text(["alice", "bob"])
    await bob.context.close()
    await expect(members(alice)).to_have_text(["alice"])
    assert_offline_and_clean(browsing)


async def test_admin_system_message_reaches_every_page(browsing: Browsing) -> None:
    alice, bob = [await browsing.open("/") for _ in range(2)]
    await sign_in(alice, "alice")
    await sign_in(bob, "bob")  # in no room at all
    await join(alice, "general")

    admin = await browsing.open("/admin")
    await admin.get_by_label("Admin token", exact=True).fill(ADMIN_TOKEN)
    await admin.get_by_role("button", name="Connect", exact=True).click()
    await expect(admin.get_by_role("status").first).to_have_text("Signed in")
    # Pushed by the server every metrics_interval: two chat connections.
    await expect(admin.locator("#total-connections")).to_have_text("2")
    await expect(admin.locator("#total-rooms")).to_have_text("1")

    await admin.get_by_label("System message", exact=True).fill("Maintenance at noon")
    await admin.get_by_role("button", name="Send", exact=True).click()
    await expect(admin.locator("#sent")).to_contain_text("Maintenance at noon")
    for page in (alice, bob):
        await expect(page.locator(".msg.system .text")).to_have_text(["Maintenance at noon"])

    ARTIFACTS.mkdir(exist_ok=True)
    await admin.screenshot(path=str(ARTIFACTS / "admin.png"))
    assert_offline_and_clean(browsing)


async def test_wrong_admin_token_is_refused_visibly(browsing: Browsing) -> None:
    admin = await browsing.open("/admin")
    await admin.get_by_label("Admin token", exact=True).fill("not-the-token")
    await admin.get_by_role("button", name="Connect", exact=True).click()
    await expect(admin.get_by_role("alert")).to_have_text(
        "The server refused the admin token: Unauthorized"
    )
    await expect(admin.get_by_label("System message", exact=True)).to_be_disabled()


async def test_private_room_refusal_is_shown_and_an_invite_lets_in(browsing: Browsing) -> None:
    alice, bob = [await browsing.open("/") for _ in range(2)]
    await sign_in(alice, "alice")
    await sign_in(bob, "bob")
    await alice.get_by_label("Room", exact=True).fill("secret")
    await alice.get_by_label("Private (invite only)").check()
    await alice.get_by_role("button", name="Create room", exact=True).click()
    await expect(alice.locator("#room-title")).to_have_text("secret")
    await expect(alice.locator("#room-privacy")).to_be_visible()

    await bob.get_by_label("Room", exact=True).fill("secret")
    await bob.get_by_role("button", name="Join", exact=True).click()
    await expect(bob.get_by_role("alert")).to_have_text(
        "Could not join the room: room 'secret' is private: ask a member for an invite"
    )
    await expect(bob.locator("#room-title")).to_have_text("No room open")

    await alice.get_by_label("Invite name", exact=True).fill("bob")
    await alice.get_by_role("button", name="Invite", exact=True).click()
    await expect(alice.locator(".notice").filter(has_text="You invited bob")).to_have_count(1)
    await bob.get_by_role("button", name="Join secret").click()
    await expect(bob.locator("#room-title")).to_have_text("secret")
    await expect(bob.locator("#room-privacy")).to_have_text("Private")
    await expect(members(alice)).to_have_text(["alice", "bob"])
    assert_offline_and_clean(browsing)


async def test_a_refused_connection_is_shown(browsing: Browsing) -> None:
    page = await browsing.open("/")
    # A zero-width space passes the browser but not the server's printable check.
    await page.get_by_label("Your name", exact=True).fill("eve\u200b")
    await page.get_by_role("button", name="Connect", exact=True).click()
    await expect(page.get_by_role("alert")).to_have_text(
        "The server refused the connection: "
        "invalid auth.name: name must contain only printable characters"
    )
    await expect(page.get_by_role("status")).to_have_text("Connection refused")
    await expect(page.get_by_label("Room", exact=True)).to_be_disabled()


async def test_a_missing_client_bundle_is_explained_on_the_page(
    browser: Browser, tmp_path: Path
) -> None:
    for name in ["chat.html", "chat.js", "style.css", "favicon.svg", "lock.svg"]:
        shutil.copy(STATIC_DIR / name, tmp_path / name)
    app = create_app(Settings(admin_token=ADMIN_TOKEN, metrics_interval=0, serve_pages=False))
    add_page_routes(app, tmp_path)
    async with serve(app) as running:
        watcher = Browsing(browser, running.url)
        try:
            page = await watcher.open("/")
            await expect(page.get_by_role("alert").first).to_contain_text("make setup")
            await expect(page.get_by_role("status")).to_have_text("Unavailable")
            await expect(page.get_by_role("button", name="Connect", exact=True)).to_be_disabled()
        finally:
            await watcher.close()
    # The only thing that went wrong is the missing file itself.
    assert len(watcher.page_errors) == 1
    assert "404" in watcher.page_errors[0]


FLOOD = 1500


async def test_a_flood_of_messages_keeps_the_page_bounded(browser: Browser) -> None:
    # The page used to keep (and draw one by one) every message it ever got.
    limits = Limits(rate_limit=False)
    app = create_app(Settings(admin_token=ADMIN_TOKEN, metrics_interval=0, limits=limits))
    async with serve(app) as server:
        watcher = Browsing(browser, server.url)
        alice = await watcher.open("/")
        await sign_in(alice, "alice")
        await join(alice, "flood")
        bob = await connect(server.url, "bob")
        await bob.call("join room", "flood")
        for i in range(FLOOD):
            await bob.emit("message", {"room": "flood", "text": f"m{i}"})
        await bob.sync()
        await expect(texts(alice).last).to_have_text(f"m{FLOOD - 1}")
        # Every entry counts (a notice too, if the loaded machine made the page reconnect).
        shown = await alice.locator("#messages > li").count()
        await say(alice, "still here")  # the page still answers its user
        await bob.disconnect()
        await watcher.close()
    assert shown == 1000  # MAX_LOG_ENTRIES in chat.js, the newest ones
    assert watcher.page_errors == []


async def test_an_open_page_asks_for_the_room_list_rarely(browser: Browser) -> None:
    # Before: every open page fetched the whole `list rooms` every 3 s. With
    # the page's clock under the test's control, 29 s pass at once (less than
    # the client's ping timeout, so the connection stays as it is).
    settings = Settings(admin_token=ADMIN_TOKEN, metrics_interval=0)
    async with serve(create_app(settings)) as running:
        context = await browser.new_context(viewport=VIEWPORT)
        try:
            page = await context.new_page()
            sent: list[str] = []
            page.on(
                "websocket",
                lambda socket: socket.on(
                    "framesent",
                    lambda payload: sent.append(payload if isinstance(payload, str) else ""),
                ),
            )
            await page.clock.install()
            await page.goto(running.url + "/")
            await sign_in(page, "idle")
            await join(page, "quiet")

            def listings() -> int:
                return sum('"list rooms"' in frame for frame in sent)

            before = listings()
            await page.clock.run_for(29_000)
            await say(page, "still here")  # a round trip: anything sent before it has arrived
            assert listings() - before == 0
        finally:
            await context.close()
