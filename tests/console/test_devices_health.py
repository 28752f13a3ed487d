"""Device health from the registry and the event stream: offline, battery, dirty, tamper."""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

pytestmark = pytest.mark.stack


def _event(
    db: psycopg.Connection,
    device: str,
    kind: str,
    value: float,
    detail: dict[str, object] | None = None,
    ago: str = "1 minute",
) -> None:
    db.execute(
        "insert into device_events (time, device_id, kind, value, seq, gateway_ts, detail) "
        f"values (now() - interval '{ago}', %s, %s, %s, 1, now(), %s)",
        (device, kind, value, Jsonb(detail) if detail else None),
    )


def test_health_flags_follow_the_devices_reports(
    clients: dict[str, TestClient], db: psycopg.Connection
) -> None:
    inst = clients["inst"]
    for device in ("hA", "hB", "hC", "hD"):
        assert (
            inst.post(
                "/api/devices",
                json={
                    "id": device,
                    "device_type": "smoke",
                    "gateway_id": "gw2",
                    "household_id": "h2",
                },
            ).status_code
            == 201
        )
    db.execute(
        "update devices set last_seen = now(), battery_v = 3.0 where id in ('hA', 'hB', 'hC', 'hD')"
    )
    db.execute("update devices set last_seen = now() - interval '20 minutes' where id = 'hA'")
    _event(db, "hB", "tamper", 1.0)
    _event(db, "hC", "fault", 1.0, {"code": "dirty_chamber"})
    _event(db, "hD", "tamper", 1.0, ago="10 minutes")
    _event(db, "hD", "tamper", 0.0)  # put back on its base
    _event(db, "hD", "fault", 1.0, {"code": "dirty"}, ago="3 days")  # long ago: cleared
    health = {
        d["id"]: d["health"]
        for d in inst.get("/api/devices", params={"grid_id": "g2", "limit": 1000}).json()["items"]
    }
    # smoke detectors heartbeat every 300 s: two missed plus slack is offline.
    assert health["hA"]["offline"] is True
    assert health["hB"] == {
        "offline": False,
        "low_battery": False,
        "dirty": False,
        "tamper": True,
        "fault": False,
        "poor_signal": False,
        "rsrp_dbm": None,
    }
    assert health["hC"]["dirty"] is True
    assert health["hC"]["fault"] is True
    assert not any(health["hD"].values())
    assert health["panic2"]["low_battery"] is True  # 2.4 V in the seed
    problems = inst.get("/api/devices", params={"problem": "tamper"}).json()["items"]
    assert [d["id"] for d in problems] == ["hB"]
    any_problem = {
        d["id"] for d in inst.get("/api/devices", params={"problem": "any"}).json()["items"]
    }
    assert {"hA", "hB", "hC", "panic2"} <= any_problem
    assert "hD" not in any_problem
    summary = {g["grid_id"]: g for g in inst.get("/api/devices/health").json()["grids"]}
    assert summary["g2"]["tamper"] == 1
    assert summary["g2"]["dirty"] == 1
    assert summary["g2"]["offline"] >= 1
    assert summary["g2"]["low_battery"] >= 1


def test_last_seen_and_battery_come_from_the_readings_when_the_registry_lacks_them(
    clients: dict[str, TestClient], db: psycopg.Connection
) -> None:
    inst = clients["inst"]
    assert (
        inst.post(
            "/api/devices",
            json={"id": "hR", "device_type": "smoke", "gateway_id": "gw2", "household_id": "h2"},
        ).status_code
        == 201
    )
    assert inst.get("/api/devices/hR").json()["health"]["offline"] is False  # just installed
    db.execute("update devices set installed_at = now() - interval '1 hour' where id = 'hR'")
    assert inst.get("/api/devices/hR").json()["health"]["offline"] is True  # never heard from
    db.execute(
        "insert into readings (time, device_id, metric, value, seq, gateway_ts) values "
        "(now() - interval '30 seconds', 'hR', 'battery', 2.5, 1, now()), "
        "(now() - interval '10 seconds', 'hR', 'temperature', 21.0, 2, now())"
    )
    device = inst.get("/api/devices/hR").json()
    assert device["battery_v"] == pytest.approx(2.5)
    assert device["health"]["offline"] is False
    assert device["health"]["low_battery"] is True
    assert device["last_seen"] is not None
