"""Debian's chromium for the browser tests, driven by Playwright (which downloads no
browser here). Skipped without it, except in CI (REQUIRE_SERVICES=1), where it fails."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking flags chromium keeps dialling Google and
# fills the log with refused connections; there is no network here anyway.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"chromium not found at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)"
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One headless chromium for the whole run; each test opens its own contexts."""
    require_chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()
