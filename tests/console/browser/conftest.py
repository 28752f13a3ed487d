"""One headless Chromium for every browser test: starting Playwright's driver and the browser
costs 2-3 s on a busy machine, once per module before. Each test still gets fresh pages and
contexts of its own (`Browser.new_page` makes a context per page).

Package-scoped, not session-scoped: while Playwright's sync API is open its event loop counts
as running in this thread, so `asyncio.run` in a later test would fail; the browser closes
when the last test of this folder is done."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = "/usr/bin/chromium"  # Debian's: Playwright downloads no browser
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()
