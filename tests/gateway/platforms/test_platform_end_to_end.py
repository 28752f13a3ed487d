"""Issue 19's end-to-end test: signed CTWing and OneNET pushes, sent over HTTP to `vigil platform
run`, reach the console's live stream as incidents and the family as SMS (demo provider),
through ingest, the detector stage, alerting and the notifier as real processes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from bench.alerting import live_headers
from gateway.platforms import fake
from tests.console.seed import PASSWORD
from tests.gateway.platforms.running import CTWING_TOKEN, ONENET_TOKEN, Running, platform_stack
from vigil.harness import free_port, wait_for, wait_for_port
from vigil.settings import Settings
from vigil.stack import LocalStack

pytestmark = pytest.mark.stack

IMEI, PID, PRODUCT = "860374051096202", "acf7baaee65e431eadfb8f5fe50e8b81", "15014772"
IMEI3 = "860374051096203"


@pytest.fixture(scope="module")
def e2e(
    stack: LocalStack, schema_template: str, settings: Settings
) -> Iterator[tuple[Running, int]]:
    web = free_port()
    services = [["alerting", "run"], ["notifier", "run"], ["console", "run", "--port", str(web)]]
    with platform_stack(stack, schema_template, settings, services) as running:
        for args in (
            ["nb-smoke-1", "--source", "ctwing", "--imei", IMEI, "--platform-id", PID,
             "--product", PRODUCT, "--household", "h1", "--room", "kitchen"],
            ["nb-sos-2", "--source", "onenet", "--platform-id", "sos-2", "--product", "p-sos",
             "--profile", "nb-sos-button", "--household", "h2", "--room", "bedroom"],
            ["nb-smoke-3", "--source", "ctwing", "--imei", IMEI3, "--platform-id", "pid-3",
             "--product", PRODUCT, "--household", "h2", "--room", "kitchen"],
        ):  # fmt: skip
            done = running.vigil("platform", "device", "add", *args, "--gateway", running.gateway)
            assert done.returncode == 0, done.stderr
        running.start()
        wait_for_port(web)
        time.sleep(1.0)  # alerting's subscriptions confirmed
        yield running, web


def incident_of(ws: ClientConnection, household: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no incident for {household} on the live stream")
        message = json.loads(ws.recv(timeout=left))
        if message.get("type") == "incident" and (
            message["incident"].get("household_id") == household
        ):
            return dict(message["incident"])


def family_texts(svc: Running, household: str) -> list[str] | None:
    rows = svc.query(
        "select body from sms_demo_messages where recipient in (select c.phone from contacts c "
        "join residents r on r.id = c.resident_id where r.household_id = %s)",
        household,
    )
    return [str(r[0]) for r in rows] or None


def test_platform_pushes_reach_the_live_stream_and_the_family(e2e: tuple[Running, int]) -> None:
    svc, web = e2e
    url = f"ws://127.0.0.1:{web}/api/live"
    with connect(url, open_timeout=10, additional_headers=live_headers(svc.dsn)) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
        t = time.time() - 5
        for status, dt in ((7, 0.0), (1, 1.0)):  # normal, then the detector's own smoke alarm
            data = {"Alarm_Status": status, "Battery_Level": 90, "RSRP": 101}
            body = fake.ctwing_body(fake.ctwing_data(IMEI, PID, PRODUCT, data, t=t + dt))
            r = httpx.post(f"{svc.url}/ctwing/district?token={CTWING_TOKEN}", content=body)
            assert r.status_code == 200, r.text
        fire = incident_of(ws, "h1", timeout=60)
        press = fake.onenet_property("p-sos", "sos-2", {"sos": 1, "battery": 77})
        r = httpx.post(f"{svc.url}/onenet/district", content=fake.onenet_body(press, ONENET_TOKEN))
        assert r.status_code == 200, r.text
        panic = incident_of(ws, "h2", timeout=60)
    assert fire["household_id"] == "h1"
    assert panic["household_id"] == "h2"
    assert wait_for(lambda: family_texts(svc, "h1"), 30, "the h1 family's SMS")
    assert wait_for(lambda: family_texts(svc, "h2"), 30, "the h2 family's SMS")
    alerts = svc.query("select device_id, kind from alerts order by ts")
    assert [k for d, k in alerts if d == "nb-smoke-1"] == ["smoke"], alerts  # raised once
    assert [k for d, k in alerts if d == "nb-sos-2"] == ["panic"], alerts
    assert fire["cause"] == "fire"
    assert panic["cause"] == "panic"
    print(json.dumps({"fire_cause": fire.get("cause"), "panic_cause": panic.get("cause"),
                      "alerts": alerts}, default=str))  # fmt: skip


def test_commissioning_with_the_detector_test_button(e2e: tuple[Running, int]) -> None:
    """`vigil device test` (the console API it calls): the installer presses the detector's
    test button, the platform pushes it, and the test passes; a test, never a fire."""
    svc, web = e2e
    base = f"http://127.0.0.1:{web}"
    login = httpx.post(f"{base}/api/auth/login", json={"username": "inst", "password": PASSWORD})
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    lines: list[dict[str, Any]] = []
    waiting = threading.Event()

    def commission() -> None:
        with httpx.stream("POST", f"{base}/api/devices/nb-smoke-3/test", headers=headers,
                          json={"mode": "press", "timeout_s": 60}, timeout=90) as r:  # fmt: skip
            for line in r.iter_lines():
                if line:
                    lines.append(json.loads(line))
                    if lines[-1]["step"] == "waiting":
                        waiting.set()

    worker = threading.Thread(target=commission)
    worker.start()
    assert waiting.wait(30), lines
    data = {"Alarm_Status": 14, "Battery_Level": 90, "RSRP": 101}  # 模拟报警: the test button
    body = fake.ctwing_body(fake.ctwing_data(IMEI3, "pid-3", PRODUCT, data))
    r = httpx.post(f"{svc.url}/ctwing/district?token={CTWING_TOKEN}", content=body)
    assert r.status_code == 200, r.text
    worker.join(90)
    result = lines[-1]
    assert result["step"] == "result", lines
    assert result["passed"] is True, lines
    assert result["message"] == "self_test signal stored"
    assert svc.query("select kind from alerts where device_id = 'nb-smoke-3'") == [], "no fire"
    stored = svc.query("select kind, value from device_events where device_id = 'nb-smoke-3'")
    assert stored == [("self_test", 1.0)]
