"""What the browser tests do alike: serve the console on a database, sign a page in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Page

from console.app import create_app
from console.serve import ConsoleServer
from tests.console.seed import PASSWORD
from vigil.harness import free_port
from vigil.settings import Settings


@contextmanager
def serving(settings: Settings, dsn: str) -> Iterator[str]:
    """The console app on `dsn`, served by uvicorn on a free port; its URL until the block ends."""
    server = ConsoleServer(create_app(settings, dsn=dsn), port=free_port())
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def sign_in(page: Page, url: str, username: str) -> None:
    """Sign `username` in with the seed's password and wait for the board and its live stream."""
    page.goto(url)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("table[data-testid=board]")
    page.wait_for_selector("#live.on")  # the WebSocket is up: alarms arrive by push
