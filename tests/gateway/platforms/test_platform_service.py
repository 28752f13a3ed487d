"""`vigil platform run` over HTTP on the test stack: signed pushes in the documented formats go
through the receiver, Vigil's broker and ingest into the database, each alarm once; bad pushes
are refused and stored nowhere; what a profile cannot read is a visible dead letter."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from gateway.platforms import fake
from tests.console.conftest import running_app, sign_in
from tests.gateway.platforms.running import (
    AES,
    CTWING_TOKEN,
    ONENET_TOKEN,
    Running,
    platform_stack,
)
from vigil.harness import wait_for
from vigil.settings import Settings
from vigil.stack import LocalStack

pytestmark = pytest.mark.stack

LIAN_IMEI, LIAN_ID, LIAN_PRODUCT = "860374051096202", "acf7baaee65e431eadfb8f5fe50e8b81", "15014772"
INV_IMEI, INV_ID = "861111111111111", "inv-dev"
BUTTONS = 20


@pytest.fixture(scope="module")
def svc(stack: LocalStack, schema_template: str, settings: Settings) -> Iterator[Running]:
    with platform_stack(stack, schema_template, settings) as running:
        added = running.vigil(
            "platform", "device", "add", "nb-smoke-1", "--source", "ctwing", "--gateway",
            running.gateway, "--imei", LIAN_IMEI, "--platform-id", LIAN_ID, "--product",
            LIAN_PRODUCT, "--household", "h1", "--room", "kitchen",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        rows = ["device_id,source,imei,platform_id,product,profile,household_id,room",
                f"nb-inv-1,ctwing,{INV_IMEI},{INV_ID},inv-1,,h1,hall",
                "nb-onenet-1,onenet,,dev-1,op1,onenet-smoke,h2,kitchen",
                "nb-legacy-1,onenet,,2016617,,onenet-smoke,h2,hall"]  # fmt: skip
        rows += [f"nb-btn-{i:02d},ctwing,8620000000000{i:02d},btn-{i:02d},btn,nb-sos-button,h1,"
                 for i in range(BUTTONS)]  # fmt: skip
        (running.var / "devices.csv").write_text("\n".join(rows) + "\n")
        imported = running.vigil("platform", "device", "import", str(running.var / "devices.csv"),
                                 "--gateway", running.gateway, "--profiles-dir",
                                 str(running.var / "profiles"))  # fmt: skip
        assert imported.returncode == 0, imported.stderr
        running.start()
        yield running


def post(svc: Running, path: str, body: bytes) -> httpx.Response:
    return httpx.post(f"{svc.url}{path}", content=body, timeout=30,
                      headers={"content-type": "application/json"})  # fmt: skip


def ctwing(svc: Running, obj: dict[str, Any], token: str = CTWING_TOKEN) -> httpx.Response:
    return post(svc, f"/ctwing/district?token={token}", fake.ctwing_body(obj))


def lian(status: int, t: float) -> dict[str, Any]:
    data = {"Alarm_Status": status, "Battery_Level": 87, "RSRP": 117, "SNR": 2, "CSQ": 9}
    return fake.ctwing_data(LIAN_IMEI, LIAN_ID, LIAN_PRODUCT, data, t=t)


def events(svc: Running, device: str) -> list[tuple[str, float]]:
    rows = svc.query("select kind, value from device_events where device_id = %s "
                     "order by seq", device)  # fmt: skip
    return [(k, float(v)) for k, v in rows]


def settle(svc: Running, device: str, count: int) -> list[tuple[str, float]]:
    wait_for(lambda: len(events(svc, device)) >= count, 30, f"{count} events of {device}")
    time.sleep(0.5)  # anything more would have arrived by now
    return events(svc, device)


def test_alarm_restoral_test_tamper_low_battery_each_once(svc: Running) -> None:
    t = time.time() - 60
    sequence = [7, 1, 1, 7, 14, 10, 11, 4]  # normal, alarm, still alarm, normal, test, ...
    for i, status in enumerate(sequence):
        r = ctwing(svc, lian(status, t + i))
        assert r.status_code == 200, r.text
    retried = ctwing(svc, lian(1, t + 1))  # the platform retrying the alarm push
    assert retried.status_code == 200
    got = settle(svc, "nb-smoke-1", 6)
    assert got == [("smoke_alarm", 1.0), ("smoke_alarm", 0.0), ("self_test", 1.0),
                   ("tamper", 1.0), ("tamper", 0.0), ("low_battery", 1.0)]  # fmt: skip
    (detail,) = svc.query("select detail from device_events where device_id = 'nb-smoke-1' "
                          "and kind = 'smoke_alarm' and value = 1")[0]  # fmt: skip
    assert detail["source"] == "ctwing"
    assert detail["model"] == "lian-nb-smoke"
    assert detail["code"] == "Alarm_Status=1"
    rsrp = svc.query("select value from readings where device_id = 'nb-smoke-1' and metric = "
                     "'rsrp'")  # fmt: skip
    assert rsrp
    assert {v for (v,) in rsrp} == {-117.0}


def test_bad_pushes_are_refused_and_stored_nowhere(svc: Running) -> None:
    alarm = lian(1, time.time())
    alarm["IMEI"] = alarm["payload"]["serviceData"]["IMEI"] = INV_IMEI
    assert ctwing(svc, alarm, token="wrong").status_code == 401
    assert post(svc, "/ctwing/district", fake.ctwing_body(alarm)).status_code == 401
    inner = fake.onenet_property("op1", "dev-1", {"smoke_sensor_state": 1})
    forged = fake.onenet_body(inner, "not-the-token")
    assert post(svc, "/onenet/district", forged).status_code == 401
    assert post(svc, "/onenet/nowhere", forged).status_code == 404
    huge = b'{"messageType":"dataReport","pad":"' + b"x" * 2_000_000 + b'"}'
    assert post(svc, f"/ctwing/district?token={CTWING_TOKEN}", huge).status_code == 413
    malformed = post(svc, f"/ctwing/district?token={CTWING_TOKEN}", b'{"messageType": 1,')
    assert malformed.status_code == 400
    unknown = fake.ctwing_data("869999999999999", "nobody", LIAN_PRODUCT, {"Alarm_Status": 1})
    assert ctwing(svc, unknown).status_code == 200  # kept as a dead letter: a retry cannot help
    health = svc.health()
    assert health["refused"]["unauthorised"] >= 3
    assert health["refused"]["too_large"] >= 1

    def dead() -> set[str] | None:
        # filed under the receiver's gateway, where the console lists a gateway's dead letters
        sql = "select reason from dead_letters where split_part(topic, '/', 4) = %s"
        found = {r for (r,) in svc.query(sql, svc.gateway)}
        return found if {"malformed", "unknown_device"} <= found else None

    wait_for(dead, 15, "the dead letters in the database")
    assert events(svc, "nb-inv-1") == []  # the forged alarm raised nothing


def test_onenet_current_encrypted_legacy_and_url_check(svc: Running) -> None:
    check = httpx.get(f"{svc.url}/onenet/district?{fake.url_check_query(ONENET_TOKEN, 'abc')}")
    assert check.status_code == 200
    assert check.text == "abc"
    bad = httpx.get(f"{svc.url}/onenet/district?{fake.url_check_query('x', 'abc')}")
    assert bad.status_code == 401
    now = time.time()
    normal = fake.onenet_property("op1", "dev-1", {"smoke_sensor_state": 0, "rsrp": -98}, t=now)
    assert post(svc, "/onenet/district", fake.onenet_body(normal, ONENET_TOKEN)).status_code == 200
    alarm = fake.onenet_property("op1", "dev-1", {"smoke_sensor_state": 1}, t=now + 1)
    body = fake.onenet_body(alarm, ONENET_TOKEN, key=AES, message_id="m-42")
    assert post(svc, "/onenet/secure", body).status_code == 200
    assert post(svc, "/onenet/secure", body).status_code == 200  # retried: read once
    assert settle(svc, "nb-onenet-1", 1) == [("smoke_alarm", 1.0)]
    items = [fake.legacy_point(2016617, "smoke_sensor_state", 0, t=now),
             fake.legacy_point(2016617, "smoke_sensor_state", 1, t=now + 1)]  # fmt: skip
    legacy = fake.onenet_legacy_body(items, ONENET_TOKEN, separators=(", ", ": "))
    assert post(svc, "/onenet/district", legacy).status_code == 200
    offline = fake.onenet_legacy_body(fake.legacy_status(2016617, online=False, t=now + 2),
                                      ONENET_TOKEN)  # fmt: skip
    assert post(svc, "/onenet/district", offline).status_code == 200
    assert settle(svc, "nb-legacy-1", 2) == [("smoke_alarm", 1.0), ("availability", 0.0)]


def test_heartbeats_then_silence_and_platform_online_offline(svc: Running) -> None:
    # The inverted vendor (heartbeat every 2 s in its profile): smoke_state 1 is normal.
    for i in range(3):
        obj = fake.ctwing_data(INV_IMEI, INV_ID, "inv-1", {"smoke_state": 1, "rsrp": -90})
        assert ctwing(svc, obj).status_code == 200, i
        time.sleep(0.5)
    assert events(svc, "nb-inv-1") == []
    # silence: 2 s + 1 s slack, checked every 0.2 s
    got = settle(svc, "nb-inv-1", 1)
    assert got == [("availability", 0.0)]
    (detail,) = svc.query("select detail from device_events where device_id = 'nb-inv-1'")[0]
    assert detail["reason"] == "missed_heartbeat"
    # the detectors raise the device's offline trouble from it
    sql = "select signal from alerts where device_id = 'nb-inv-1' and kind = 'offline'"
    offline = wait_for(lambda: svc.query(sql), 30, "the offline alert")
    assert offline == [("trouble",)]
    # the platform says it is back; then offline; then the device speaks
    assert ctwing(svc, fake.ctwing_online(INV_ID, "inv-1", online=True)).status_code == 200
    assert ctwing(svc, fake.ctwing_online(INV_ID, "inv-1", online=False)).status_code == 200
    alarm = fake.ctwing_data(INV_IMEI, INV_ID, "inv-1", {"smoke_state": 0})
    assert ctwing(svc, alarm).status_code == 200
    got = settle(svc, "nb-inv-1", 5)
    assert got[:5] == [("availability", 0.0), ("availability", 1.0), ("availability", 0.0),
                       ("availability", 1.0), ("smoke_alarm", 1.0)]  # fmt: skip


def test_a_burst_of_1000_pushes_each_press_once(svc: Running) -> None:
    t0 = time.time() - 30
    bodies = [
        fake.ctwing_body(fake.ctwing_data(f"8620000000000{i % BUTTONS:02d}",
                                          f"btn-{i % BUTTONS:02d}", "btn",
                                          {"sos": 1, "battery": 80, "signal": -95},
                                          t=t0 + i * 0.001))
        for i in range(1000)
    ]  # fmt: skip

    async def burst(payloads: list[bytes]) -> list[int]:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:
            sem = asyncio.Semaphore(50)

            async def one(body: bytes) -> int:
                url = f"{svc.url}/ctwing/district?token={CTWING_TOKEN}"
                async with sem:
                    for attempt in range(3):  # as the platform does: up to 3 tries
                        try:
                            return (await client.post(url, content=body)).status_code
                        except httpx.TransportError:
                            if attempt == 2:
                                raise
                    raise AssertionError("unreachable")

            return await asyncio.gather(*(one(b) for b in payloads))

    started = time.monotonic()
    codes = asyncio.run(burst(bodies))
    took = time.monotonic() - started
    assert codes == [200] * 1000, {c: codes.count(c) for c in set(codes)}
    assert asyncio.run(burst(bodies[:100])) == [200] * 100  # retries

    def presses() -> int | None:
        (n,) = svc.query("select count(*) from device_events where device_id like 'nb-btn-%%' "
                         "and kind = 'button'")[0]  # fmt: skip
        return int(n) if n >= 1000 else None

    wait_for(presses, 60, "1000 presses stored")
    time.sleep(1.0)
    assert presses() == 1000, f"each press once (burst took {took:.1f} s)"
    print(json.dumps({"burst_pushes": 1000, "seconds": round(took, 2)}))


def test_poor_signal_is_flagged_on_the_device_health_page(svc: Running, settings: Settings) -> None:
    # nb-smoke-1 last reported RSRP -117 dBm (the first test); nb-onenet-1 -98 dBm.
    wait_for(lambda: svc.query("select 1 from readings where device_id = 'nb-onenet-1' "
                               "and metric = 'rsrp'"), 15, "nb-onenet-1's RSRP")  # fmt: skip
    with running_app(svc.dsn, settings) as app:
        client = sign_in(app, "inst")
        poor = client.get("/api/devices/nb-smoke-1").json()["health"]
        good = client.get("/api/devices/nb-onenet-1").json()["health"]
        listed = client.get("/api/devices?problem=poor_signal").json()["items"]
        summary = client.get("/api/devices/health").json()["grids"]
    assert poor["poor_signal"] is True
    assert poor["rsrp_dbm"] == -117.0
    assert good["poor_signal"] is False
    assert "nb-smoke-1" in {d["id"] for d in listed}
    assert "nb-onenet-1" not in {d["id"] for d in listed}
    assert sum(g["poor_signal"] for g in summary) >= 1


def test_a_device_registered_with_the_shared_columns_only(svc: Running) -> None:
    """As the console or `vigil device add` register a foreign device: source, external_id
    (the IMEI) and model, no platform_devices row; its product's profile reads it."""
    imei = "868888888888888"
    with psycopg.connect(svc.dsn, autocommit=True) as conn:
        conn.execute(
            "insert into devices (id, device_type, gateway_id, household_id, source, model, "
            "external_id) values ('nb-console-1', 'smoke_alarm', %s, 'h2', 'ctwing', "
            "'LiAn JTY-GD-H361', %s)",
            (svc.gateway, imei),
        )
    time.sleep(2.5)  # the receiver reloads the registry within a second of a change
    t = time.time()
    for dt, status in ((0, 7), (1, 1)):
        obj = fake.ctwing_data(
            imei, "console-pid", LIAN_PRODUCT, {"Alarm_Status": status}, t=t + dt
        )
        assert ctwing(svc, obj).status_code == 200
    assert settle(svc, "nb-console-1", 1) == [("smoke_alarm", 1.0)]


def test_a_csv_import_with_a_bad_row_imports_nothing(svc: Running) -> None:
    rows = ["device_id,source,imei,platform_id,product,profile,household_id,room",
            "nb-csv-ok,ctwing,867777777777771,csv-1,15014772,,h1,hall",
            "nb-csv-bad,zigbee,867777777777772,csv-2,15014772,,h1,hall",
            "nb-csv-noprofile,ctwing,867777777777773,csv-3,99999,,h1,hall"]  # fmt: skip
    path = svc.var / "bad.csv"
    path.write_text("\n".join(rows) + "\n")
    done = svc.vigil("platform", "device", "import", str(path), "--gateway", svc.gateway)
    assert done.returncode == 1
    assert "line 3" in done.stderr
    assert "line 4" in done.stderr
    assert svc.query("select id from devices where id like 'nb-csv-%%'") == []
