"""The routine page in a real browser: a PIR home whose sensors miss the resident every
afternoon shows its heat-map and, in words, the hours where the switches' daytime ceiling holds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import psycopg
import pytest
from playwright.sync_api import Browser

from detectors.households import generate
from tests.console.browser.pages import serving, sign_in
from tests.console.conftest import seeded_database
from vigil.settings import Settings
from vigil.stack import LocalStack

pytestmark = [pytest.mark.stack, pytest.mark.browser]

WEEK_S = 7 * 86400.0


def _blind_afternoons(dsn: str) -> None:
    """Three weeks of a generated PIR home with nothing seen 14:00-17:36 (an armchair no PIR
    covers), moved by whole weeks to end a minute ago, as household h1's."""
    hh = generate("many_visitors", 1, days=21)
    local_h = ((hh.ts + 8 * 3600.0) % 86400.0) / 3600.0
    keep = ~((local_h > 14.0) & (local_h < 17.6)) | (hh.device == hh.door)
    until = time.time() - 60.0
    shift = math.ceil((until - float(hh.ts[-1])) / WEEK_S) * WEEK_S
    names = [f"rb-pir{i}" for i in range(hh.n_presence)] + ["rb-door"]
    with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany(
            "insert into devices (id, device_type, gateway_id, household_id, room) "
            "values (%s, %s, 'gw1', 'h1', %s)",
            [(n, "door" if n == "rb-door" else "pir", f"room{i}") for i, n in enumerate(names)],
        )
        cur.executemany(
            "insert into readings (time, device_id, metric, value, seq, gateway_ts) "
            "values (to_timestamp(%s), %s, %s, %s, %s, to_timestamp(%s))",
            [
                (t + shift, names[d], "door" if d == hh.door else "motion", v, i, t + shift)
                for i, (t, d, v) in enumerate(
                    zip(
                        hh.ts[keep].tolist(),
                        hh.device[keep].tolist(),
                        hh.value[keep].tolist(),
                        strict=True,
                    )
                )
                if t + shift <= until
            ],
        )


@pytest.fixture(scope="module")
def routine_console(stack: LocalStack, schema_template: str, settings: Settings) -> Iterator[str]:
    with seeded_database(stack, schema_template) as dsn:
        _blind_afternoons(dsn)
        with serving(settings, dsn) as url:
            yield url


def test_the_routine_page_names_the_hours_the_sensors_miss_the_resident(
    routine_console: str, browser: Browser
) -> None:
    url = routine_console
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, url, "op")
    page.goto(f"{url}#/routine/h1")
    page.wait_for_selector("[data-testid=routine-heatmap]")
    assert page.locator("[data-testid=heat-cell]").count() == 7 * 24
    blind = page.locator("[data-testid=routine-blind] li")
    assert blind.count() == 2  # weekdays and weekends
    text = page.locator("[data-testid=routine-blind]").inner_text()
    assert "工作日" in text
    assert "周末" in text
    assert "白天上限 3.9 小时" in text
    assert "传感器看不到住户的时段" in page.content()
    assert errors == []
    page.close()
