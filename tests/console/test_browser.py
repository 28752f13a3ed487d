"""The console in a real browser: a panic press reaches the live board within a second, is
acknowledged from the board, and the acknowledgement shows in the incident's timeline.

Headless Debian Chromium driven by Playwright; the console served by uvicorn on a free port;
the alerting service running. The panic alert is inserted the way the detector stage hands it
over (an `alerts` row and `pg_notify('vigil_alert', id)`), and the latency is measured from
that insert to the row appearing in the page, both on this machine's clock.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from alerting import service
from alerting.api.serve import ConsoleServer
from alerting.app import create_app
from alerting.policies import PolicyBook
from tests.console.conftest import seeded_database
from tests.console.seed import PASSWORD
from vigil.settings import REPO_ROOT, Settings
from vigil.stack import LocalStack

pytestmark = [pytest.mark.stack, pytest.mark.browser]

ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live_console(stack: LocalStack, settings: Settings) -> Iterator[tuple[str, str]]:
    """(console URL, database DSN) with the alerting service handling alerts."""
    with seeded_database(stack, settings) as dsn:
        stop = threading.Event()
        worker = threading.Thread(
            target=service.run, args=(dsn, PolicyBook(None), stop), name="alerting", daemon=True
        )
        worker.start()
        server = ConsoleServer(create_app(settings, dsn=dsn), port=_free_port())
        server.start()
        try:
            yield server.url, dsn
        finally:
            server.stop()
            stop.set()
            worker.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def _sign_in(page: Page, url: str, username: str) -> None:
    page.goto(url)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("table[data-testid=board]")
    page.wait_for_selector("#live.on")  # the WebSocket is up: alarms arrive by push


def _kitchen_readings(dsn: str, device: str) -> None:
    """Five minutes of the kitchen detector's reports before the press, for the curves."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "insert into readings (time, device_id, metric, value, seq, gateway_ts) "
            "select now() - make_interval(secs => s), %(device)s, m.metric, "
            "m.base + m.step * (300 - s) / 300.0, 1000 - s, now() "
            "from generate_series(0, 300, 10) s, (values ('temperature', 22.0, 3.0), "
            "('smoke_obscuration', 0.2, 0.5)) m(metric, base, step)",
            {"device": device},
        )


def _press_panic(dsn: str, household: str, device: str) -> float:
    """Hand a panic alert to alerting as the detector stage does; returns when (epoch s)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        now = datetime.now(UTC)
        pressed = time.time()
        with conn.transaction():
            row = conn.execute(
                "insert into alerts (device_id, household_id, kind, signal, severity, score, "
                "reason, ts, received_at) values (%s, %s, 'panic', 'alarm', 5, 1.0, "
                "'button press', %s, %s) returning id",
                (device, household, now, now),
            ).fetchone()
            assert row is not None
            conn.execute("select pg_notify('vigil_alert', %s)", (str(row[0]),))
    return pressed


_WATCH_PANIC_ROWS = """() => {
  window.__panicAt = null;
  const seen = () => document.querySelector('table[data-testid=board] tr[data-cause=panic]');
  new MutationObserver(() => {
    if (!window.__panicAt && seen()) window.__panicAt = Date.now();
  }).observe(document.body, {childList: true, subtree: true});
}"""


def test_a_panic_press_reaches_the_board_and_is_acknowledged(
    live_console: tuple[str, str], browser: Browser
) -> None:
    url, dsn = live_console
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _kitchen_readings(dsn, "smoke1")
    _sign_in(page, url, "op")
    assert page.locator("tr[data-cause=panic]").count() == 0
    page.evaluate(_WATCH_PANIC_ROWS)

    pressed = _press_panic(dsn, "h1", "panic1")
    page.wait_for_function("window.__panicAt !== null", timeout=10_000)
    latency_s = page.evaluate("window.__panicAt") / 1000 - pressed
    print(f"panic press to live board: {latency_s * 1000:.0f} ms")
    assert latency_s < 1.0, f"the panic alarm took {latency_s:.2f} s to reach the board"

    row = page.locator("tr[data-cause=panic]")
    assert row.get_attribute("data-state") == "new"
    assert "fresh" in (row.get_attribute("class") or "")  # the visual cue
    assert "王1奶奶" in row.inner_text()
    page.screenshot(path=str(ARTIFACTS / "console-board-panic.png"))

    row.locator("button[data-action=acknowledge]").click()
    page.wait_for_selector("tr[data-cause=panic][data-state=acknowledged]", timeout=5_000)

    page.locator("tr[data-cause=panic] td.cause").click()
    page.wait_for_selector("[data-testid=timeline] li[data-action=acknowledge]", timeout=5_000)
    entry = page.locator("[data-testid=timeline] li[data-action=acknowledge]").inner_text()
    assert "op" in entry
    assert page.locator("[data-testid=incident-state]").inner_text() == "已确认"
    page.wait_for_selector("canvas[data-metric=temperature]")  # the curves, drawn by Chart.js
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / "console-incident-acknowledged.png"), full_page=True)
    assert errors == []
    page.close()
