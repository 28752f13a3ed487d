"""The console's "cooking, confirmed by phone": a bounded kitchen hush, on the timeline."""

from __future__ import annotations

from datetime import datetime

import psycopg
import pytest
from fastapi.testclient import TestClient

from ingest.detection.hushes import active_hushes
from tests.console.seed import open_incident

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def homes(console_dsn: str) -> tuple[str, str]:
    """One household with a kitchen detector, one with only a bedroom detector."""
    with psycopg.connect(console_dsn) as conn:
        for hh, unit, device, room in (
            ("hk", "901", "smoke-hk", "kitchen"),
            ("hb", "902", "smoke-hb", "bedroom"),
        ):
            conn.execute(
                "insert into households (id, building_id, unit) values (%s, 'b1', %s)", (hh, unit)
            )
            conn.execute(
                "insert into devices (id, device_type, gateway_id, household_id, room) "
                "values (%s, 'smoke', 'gw1', %s, %s)",
                (device, hh, room),
            )
    return "hk", "hb"


def test_hush_is_bounded_recorded_and_read_by_the_detectors(
    clients: dict[str, TestClient], db: psycopg.Connection, homes: tuple[str, str]
) -> None:
    kitchen, _ = homes
    incident = open_incident(db, household=kitchen, cause="fire", signal="alarm", severity=4)
    done = clients["op"].post(f"/api/incidents/{incident}/hush", json={"minutes": 5})
    assert done.status_code == 201, done.text
    body = done.json()
    started = datetime.fromisoformat(body["started_at"])
    until = datetime.fromisoformat(body["until"])
    assert (until - started).total_seconds() == pytest.approx(300.0)
    row = db.execute(
        "select household_id, room, actor, incident_id from room_hushes where id = %s",
        (body["id"],),
    ).fetchone()
    assert row == (kitchen, "kitchen", "op", incident)
    detail = clients["op"].get(f"/api/incidents/{incident}").json()
    hush = [e for e in detail["timeline"] if e["action"] == "hush"]
    assert len(hush) == 1
    assert "heat, CO and other rooms still alarm" in hush[0]["note"]
    active = [h for h in active_hushes(db) if h.id == body["id"]]
    assert [(h.household_id, h.room) for h in active] == [(kitchen, "kitchen")]
    too_long = clients["op"].post(f"/api/incidents/{incident}/hush", json={"minutes": 30})
    assert too_long.status_code == 422


def test_hush_is_refused_outside_a_kitchen_and_for_other_causes(
    clients: dict[str, TestClient], db: psycopg.Connection, homes: tuple[str, str]
) -> None:
    kitchen, bedroom_only = homes
    fire = open_incident(db, household=bedroom_only, cause="fire", signal="alarm", severity=4)
    refused = clients["op"].post(f"/api/incidents/{fire}/hush", json={})
    assert refused.status_code == 422
    assert "kitchen" in refused.json()["detail"]
    bedroom = clients["op"].post(f"/api/incidents/{fire}/hush", json={"room": "bedroom"})
    assert bedroom.status_code == 422
    panic = open_incident(db, household=kitchen, cause="panic", signal="alarm", severity=5)
    assert clients["op"].post(f"/api/incidents/{panic}/hush", json={}).status_code == 409
    assert clients["op"].post("/api/incidents/999999999/hush", json={}).status_code == 404
