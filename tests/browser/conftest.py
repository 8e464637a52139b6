"""Browser fixtures: Debian's chromium driven by Playwright, against the real server in this loop.

The browser tests run in the embedded mode only (SQLite, memory broadcast): the
page drives the same routes in both modes, and the other suites cover PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.browser.helpers import CuttableProxy, DemoPage, NewPage
from tests.conftest import fresh_sqlite
from tests.support import RunningServer

# Every wait for the page is generous: a shared CI machine may be slow, and
# waiting is not what is measured.
expect.set_options(timeout=10_000)


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A freshly migrated SQLite file (overrides the sqlite/postgres pair of the root conftest)."""
    return fresh_sqlite(sqlite_template, tmp_path)


@pytest.fixture
async def new_page(browser: Browser, server: RunningServer) -> AsyncIterator[NewPage]:
    """Open the demo page in a fresh browser context (its own storage: one person each)."""
    contexts = []
    pages: list[DemoPage] = []

    async def open_page(url: str | None = None) -> DemoPage:
        context = await browser.new_context(
            viewport={"width": 1280, "height": 800},
            locale="en-US",
            timezone_id="Europe/Paris",
        )
        contexts.append(context)
        page = await context.new_page()
        demo = DemoPage(page, url or server.url)
        pages.append(demo)
        await demo.goto()
        return demo

    try:
        yield open_page
    finally:
        for context in contexts:
            await context.close()
    for demo in pages:
        assert not demo.errors, f"script errors in the page: {demo.errors}"


@pytest.fixture
async def proxy(server: RunningServer) -> AsyncIterator[CuttableProxy]:
    """A TCP relay in front of the server whose connections the test can cut."""
    relay = await CuttableProxy.start(server.url)
    try:
        yield relay
    finally:
        await relay.stop()
