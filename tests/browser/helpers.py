"""What the browser tests do on the demo page, in a person's terms, and a relay they can cut."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Locator, Page, WebSocket, expect

from tests.support import eventually

# Screenshots of the main screens, rewritten by every run (gitignored).
SCREENSHOTS = Path(__file__).parent / "screenshots"
HOUR_PX = 48  # the week grid's height of one hour (web-demo/js/week.js)


@dataclass
class DemoPage:
    page: Page
    url: str
    # Every message the page sent and received on its WebSockets, oldest first.
    sent: list[dict[str, Any]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    # Uncaught exceptions and unhandled rejections in the page's scripts.
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("websocket", self._watch)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _watch(self, socket: WebSocket) -> None:
        socket.on("framesent", lambda payload: self.sent.append(json.loads(payload)))
        socket.on("framereceived", lambda payload: self.received.append(json.loads(payload)))

    async def goto(self) -> None:
        await self.page.goto(self.url + "/")

    @property
    def connection(self) -> Locator:
        return self.page.get_by_test_id("connection")

    async def sign_up(self, username: str) -> None:
        await self.page.get_by_role("button", name="New here? Create an account").click()
        password = f"{username}-password"
        await self._sign_in(username, "Create account", password, f"{username}@example.com")

    async def log_in(self, username: str, password: str) -> None:
        await self._sign_in(username, "Log in", password)

    async def _sign_in(
        self, username: str, button: str, password: str, email: str | None = None
    ) -> None:
        await self.page.get_by_label("Username").fill(username)
        if email:
            await self.page.get_by_label("Email").fill(email)
        await self.page.get_by_label("Password").fill(password)
        await self.page.get_by_role("button", name=button).click()
        await expect(self.connection).to_have_attribute("data-state", "live")

    # The week

    def block(self, title: str) -> Locator:
        return self.page.locator(".event-block", has_text=title)

    async def create_event(self, title: str, day: int = 2, hour: int = 10) -> None:
        """Click the empty slot at `hour` on the week's `day` (0 = Monday) and name the event."""
        column = self.page.locator(".day-column").nth(day)
        await column.click(position={"x": 10, "y": hour * HOUR_PX + 4})
        await expect(self.field("title")).to_be_focused()
        await self.field("title").fill(title)
        await expect(self.block(title)).to_be_visible()

    async def open_event(self, title: str) -> None:
        await self.block(title).first.click()
        await expect(self.field("title")).to_have_value(title)

    # The side panel

    @property
    def panel(self) -> Locator:
        return self.page.locator("#panel")

    def field(self, name: str) -> Locator:
        return self.page.locator(f"#field-{name}")

    @property
    def presence(self) -> Locator:
        return self.panel.get_by_test_id("presence")

    @property
    def notice(self) -> Locator:
        return self.page.get_by_test_id("notice")

    async def edit(self, name: str, value: str) -> None:
        """Type a new value and leave the field, as a person would."""
        await self.field(name).fill(value)
        await self.field(name).blur()

    async def saved(self, value: Any) -> None:
        """Wait until the server acknowledged (so committed) this page's edit to `value`."""

        def acknowledged() -> bool:
            op_ids = {
                m["op_id"]
                for m in self.sent
                if m["type"] == "patch" and any(op.get("value") == value for op in m["ops"])
            }
            return any(m["type"] == "ack" and m["op_id"] in op_ids for m in self.received)

        await eventually(acknowledged)

    async def share(self, username: str, role: str) -> None:
        await self.panel.get_by_role("button", name="Share").click()
        dialog = self.page.locator(".share-dialog")
        await dialog.get_by_label("Username").fill(username)
        await dialog.get_by_label("Role", exact=True).select_option(role)
        await dialog.get_by_role("button", name="Share").click()
        await expect(self.permission(username)).to_be_visible()

    def permission(self, username: str) -> Locator:
        return self.page.get_by_test_id("permissions").locator(f'li[data-username="{username}"]')

    async def close_dialog(self) -> None:
        await self.page.locator(".share-dialog").get_by_role("button", name="Close").click()

    async def show_history(self) -> Locator:
        await self.panel.get_by_role("button", name="History").click()
        return self.page.get_by_test_id("versions")

    def toast(self, text: str) -> Locator:
        return self.page.locator(".toast", has_text=text)

    async def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(exist_ok=True)
        await self.page.screenshot(path=SCREENSHOTS / f"{name}.png", animations="disabled")


NewPage = Callable[..., Awaitable[DemoPage]]


async def two_people_sharing(
    new_page: NewPage, title: str, role: str, ann_url: str | None = None
) -> tuple[DemoPage, DemoPage]:
    """Ann and Bob sign up; Ann creates `title` and shares it with Bob as `role`;
    Bob sees it appear in his week (no reload), and both have it open."""
    ann, bob = await new_page(ann_url), await new_page()
    await ann.sign_up("ann")
    await bob.sign_up("bob")
    await ann.create_event(title)
    await ann.share("bob", role)
    await ann.close_dialog()
    await expect(bob.block(title)).to_be_visible()
    await bob.open_event(title)
    await expect(ann.presence).to_contain_text("bob")
    return ann, bob


class CuttableProxy:
    """A TCP relay to the server: `cut()` resets every relayed connection at once
    and refuses new ones until `restore()`, as a network that drops would."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._transports: set[asyncio.BaseTransport] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None
        self.url = ""
        self.open = True

    @classmethod
    async def start(cls, server_url: str) -> CuttableProxy:
        target = urlsplit(server_url)
        assert target.hostname and target.port
        relay = cls(target.hostname, target.port)
        relay._server = await asyncio.start_server(relay._relay, "127.0.0.1", 0)
        port = relay._server.sockets[0].getsockname()[1]
        relay.url = f"http://127.0.0.1:{port}"
        return relay

    def cut(self) -> None:
        self.open = False
        for transport in list(self._transports):
            transport.abort()

    def restore(self) -> None:
        self.open = True

    async def stop(self) -> None:
        self.cut()
        assert self._server is not None
        self._server.close()
        # Cutting ended every relay; cancelling their tasks instead would make asyncio
        # log a traceback for each stream callback it interrupted.
        await asyncio.wait_for(asyncio.gather(*self._handlers, return_exceptions=True), 10)
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            if not self.open:
                writer.transport.abort()
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*self._target)
            except OSError:
                writer.transport.abort()
                return
            pair = {writer.transport, up_writer.transport}
            self._transports |= pair
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                self._transports -= pair
                for transport in pair:
                    transport.abort()
        finally:
            self._handlers.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction until it ends; then the whole connection goes (no half-close)."""
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()
