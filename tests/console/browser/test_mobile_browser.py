"""The grid member's phone app in a real browser (Debian's Chromium, a 360 x 740 phone): a
simulated resident presses a panic button, the centre dispatches the alarm to the grid member,
who accepts it on the phone, arrives (emulated position), takes a photo (a fixture image), loses
the signal, reports the outcome offline, and when the signal returns the queued report is sent
once: the console's timeline shows the whole loop, each step once.

The press comes through the real pipeline as processes (tests/fix_pipeline.py), as in
tests/console/browser/test_browser.py. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser

from console.api import accounts
from console.api.roles import Role
from firmware_sim.district import build_district, seed
from tests.console.conftest import seeded_database
from tests.console.seed import PASSWORD
from tests.fix_pipeline import clear_gateway_status, pipeline, simulator, truth_lines
from tests.fix_stack import scratch_var
from vigil.harness import free_port, wait_for
from vigil.settings import REPO_ROOT, Settings
from vigil.stack import LocalStack

pytestmark = [pytest.mark.stack, pytest.mark.browser]

ARTIFACTS = REPO_ROOT / "test-artifacts"
SCENE = Path(__file__).parent.parent / "fixtures" / "scene.png"
SIM_SEED = 3  # the district test_browser.py uses (its gateway account on the test broker)
SIM_DEVICES = 20
PRESS_AFTER_S = 8.0  # after the gateway's start; nothing here is timed from the press


def _one(dsn: str, sql: str, *params: object) -> tuple[object, ...] | None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql, params).fetchone()


def test_a_grid_member_takes_a_panic_press_to_its_resolution_on_a_phone(
    stack: LocalStack, schema_template: str, settings: Settings, browser: Browser
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    district = build_district(SIM_SEED, 1, SIM_DEVICES)
    with seeded_database(stack, schema_template) as dsn, scratch_var() as var:
        with psycopg.connect(dsn, autocommit=True) as conn:
            seed(conn, district)
            for n, grid in enumerate(district.grids):
                accounts.create_user(
                    conn,
                    username=f"field{n}",
                    password=PASSWORD,
                    role=Role.GRID_MEMBER,
                    grid_id=grid.id,
                    display_name=f"网格员{n}",
                    department="community",
                )
        clear_gateway_status(settings, [(g.site_id, g.id) for g in district.gateways])
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        truth = var / "truth.jsonl"
        args = ["--gateways", "1", "--devices-per-gateway", str(SIM_DEVICES),
                "--seed", str(SIM_SEED), "--speed", "1", "--duration", "5m",
                "--scenario", "panic_press", "--scenarios-per-hour", "0",
                "--opening", f"panic_press:{PRESS_AFTER_S:g}"]  # fmt: skip
        with (
            pipeline(settings, dsn, var, console_port=port),
            simulator(settings, dsn, var, args, truth),
        ):
            (press,) = wait_for(lambda: truth_lines(truth), PRESS_AFTER_S + 30, "the press")
            row = wait_for(
                lambda: _one(
                    dsn,
                    "select i.id, coalesce(i.grid_id, b.grid_id) from incidents i "
                    "join households h on h.id = i.household_id "
                    "join buildings b on b.id = h.building_id "
                    "where i.household_id = %s and i.cause = 'panic'",
                    press["household"],
                ),
                30,
                "the panic incident",
            )
            incident_id, grid_id = int(str(row[0])), str(row[1])
            member = next(f"field{n}" for n, g in enumerate(district.grids) if g.id == grid_id)
            _loop(browser, url, dsn, incident_id, member)


def _loop(browser: Browser, url: str, dsn: str, incident_id: int, member: str) -> None:
    # The centre dispatches the alarm to the grid member (as the console's dispatch button does).
    with httpx.Client(base_url=url) as centre:
        login = centre.post("/api/auth/login", json={"username": "op", "password": PASSWORD})
        token = login.json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        member_id = _one(dsn, "select id from users where username = %s", member)
        assert member_id is not None
        dispatched = centre.post(
            f"/api/incidents/{incident_id}/actions",
            json={"action": "dispatch", "assignee_id": member_id[0]},
            headers=headers,
        )
        assert dispatched.status_code == 200, dispatched.text

    building = _one(
        dsn,
        "select b.lat, b.lon from incidents i join households h on h.id = i.household_id "
        "join buildings b on b.id = h.building_id where i.id = %s",
        incident_id,
    )
    assert building is not None
    lat, lon = float(str(building[0])), float(str(building[1]))
    context = browser.new_context(
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        geolocation={"latitude": lat + 0.0002, "longitude": lon, "accuracy": 15},
        permissions=["geolocation"],
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def shot(name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"mobile-{name}.png"))

    page.goto(f"{url}/m/")
    page.fill("#u", member)
    page.fill("#p", PASSWORD)
    shot("1-sign-in")
    page.click("#login button")
    card = page.locator(f".card[data-id='{incident_id}']")
    card.wait_for(timeout=10_000)
    assert "派给我" in card.inner_text()
    assert "紧急呼叫" in card.inner_text()
    shot("2-my-tasks")

    card.click()
    page.locator("#do-accept").wait_for()
    assert page.locator("a.call").count() >= 1
    assert page.locator("a.call").first.get_attribute("href", timeout=1000).startswith("tel:")  # type: ignore[union-attr]
    shot("3-task")
    page.click("#do-accept")
    page.locator("#do-arrive").wait_for(timeout=10_000)
    page.click("#do-arrive")
    page.click("#share")
    page.locator("#do-resolve").wait_for(timeout=10_000)
    # The server's entry; the queued action's own line (li.pend) may still show beside it.
    page.locator(".tl li:not(.pend):has-text('到达')").wait_for(timeout=10_000)
    assert "米" in page.locator(".tl").inner_text()

    page.set_input_files("#camera", str(SCENE))
    page.locator(".tl img").wait_for(timeout=10_000)
    photo = _one(dsn, "select size_bytes, content_type from incident_evidence")
    assert photo is not None
    assert photo[1] == "image/jpeg"  # resized and re-encoded on the phone
    shot("4-on-site-with-photo")

    context.set_offline(True)
    page.click("#do-resolve")
    page.locator("label.opt:has-text('老人跌倒')").click()
    page.fill("#rnote", "老人在卫生间滑倒，已扶起，无外伤，已通知女儿")
    shot("5-outcome-offline")
    page.click("#rf button.main")
    page.locator("#pending:not([hidden])").wait_for(timeout=5_000)
    assert "待发送" in page.locator("#pending").inner_text()
    shot("6-pending-offline")
    state = _one(dsn, "select state from incidents where id = %s", incident_id)
    assert state == ("on_site",), "nothing may reach the server while offline"

    context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    wait_for(
        lambda: (
            _one(dsn, "select state from incidents where id = %s", incident_id) == ("resolved",)
        ),
        15,
        "the queued outcome to arrive",
    )
    page.locator("#pending[hidden]").wait_for(state="attached", timeout=10_000)
    shot("7-back-online")

    # The console's view: the whole loop, each step once.
    with httpx.Client(base_url=url) as centre:
        token = centre.post(
            "/api/auth/login", json={"username": "op", "password": PASSWORD}
        ).json()["token"]
        detail = centre.get(
            f"/api/incidents/{incident_id}", headers={"Authorization": f"Bearer {token}"}
        ).json()
    actions = [e["action"] for e in detail["timeline"] if e["action"] != "escalate"]
    assert actions == ["open", "dispatch", "accept", "arrive", "photo", "resolve"], actions
    assert "老人跌倒" in detail["timeline"][-1]["note"]

    # And the centre's own console page shows each step once.
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    board = desk.new_page()
    board.goto(f"{url}/")
    board.fill("input[name=username]", "op")
    board.fill("input[name=password]", PASSWORD)
    board.click("#login-form button[type=submit]")
    board.wait_for_selector("table[data-testid=board]")
    board.goto(f"{url}/#/incident/{incident_id}")
    board.wait_for_selector("[data-testid=timeline] li[data-action=resolve]", timeout=10_000)
    for step in ("dispatch", "accept", "arrive", "photo", "resolve"):
        shown = board.locator(f"[data-testid=timeline] li[data-action={step}]").count()
        assert shown == 1, f"{step} shown {shown} times on the console"
    board.screenshot(path=str(ARTIFACTS / "mobile-8-console-timeline.png"), full_page=True)
    desk.close()
    assert errors == []
    context.close()
