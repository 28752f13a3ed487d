"""Incidents through the API: the board's order, the detail page, sensor curves and actions
driven through alerting.store, with the grid fence and the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.console.seed import open_incident

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def home(console_dsn: str) -> str:
    """A household of its own in grid g1, so the counts here are ours alone."""
    with psycopg.connect(console_dsn) as conn:
        conn.execute("insert into households (id, building_id, unit) values ('hx', 'b1', '808')")
        conn.execute(
            "insert into residents (household_id, name, birth_year, medical_notes) "
            "values ('hx', '孙爷爷', 1936, '糖尿病')"
        )
        conn.execute(
            "insert into devices (id, device_type, gateway_id, household_id, room) "
            "values ('smokex', 'smoke', 'gw1', 'hx', 'kitchen')"
        )
    return "hx"


def test_the_board_lists_alarms_first_then_severity_then_age(
    clients: dict[str, TestClient], db: psycopg.Connection, home: str
) -> None:
    trouble = open_incident(db, household=home, cause="low_battery", signal="trouble", severity=4)
    smoke = open_incident(db, household=home, cause="smoke", signal="alarm", severity=3)
    panic = open_incident(db, household=home, cause="panic", signal="alarm", severity=5)
    inactivity = open_incident(
        db, household=home, cause="inactivity", signal="supervisory", severity=3
    )
    fire = open_incident(db, household=home, cause="fire", signal="alarm", severity=5)
    listed = clients["op"].get("/api/incidents", params={"household_id": home}).json()
    assert [i["id"] for i in listed["items"]] == [panic, fire, smoke, inactivity, trouble]
    assert listed["total"] == 5
    first = listed["items"][0]
    assert first["address"] == "和平路1号 808"
    assert first["residents"] == ["孙爷爷"]
    assert first["grid_id"] == "g1"
    assert set(first["actions"]) >= {"acknowledge", "dispatch", "resolve", "false_alarm", "note"}
    for incident_id in (trouble, smoke, panic, inactivity, fire):
        clients["op"].post(f"/api/incidents/{incident_id}/actions", json={"action": "resolve"})
    assert clients["op"].get("/api/incidents", params={"household_id": home}).json()["items"] == []
    closed = (
        clients["op"]
        .get("/api/incidents", params={"household_id": home, "state": "closed"})
        .json()["items"]
    )
    assert {i["state"] for i in closed} == {"resolved"}


def test_the_closed_loop_from_acknowledge_to_resolve(
    clients: dict[str, TestClient], db: psycopg.Connection, home: str
) -> None:
    op, gm1 = clients["op"], clients["gm1"]
    incident = open_incident(db, household=home, cause="panic")
    acked = op.post(f"/api/incidents/{incident}/actions", json={"action": "acknowledge"})
    assert acked.status_code == 200, acked.text
    assert acked.json()["state"] == "acknowledged"
    again = op.post(f"/api/incidents/{incident}/actions", json={"action": "acknowledge"})
    assert again.status_code == 409
    assert "已确认" in again.json()["detail"], "refusals are in Chinese by default"
    english = op.post(
        f"/api/incidents/{incident}/actions",
        json={"action": "acknowledge"},
        headers={"Accept-Language": "en"},
    )
    assert english.status_code == 409
    assert "acknowledged" in english.json()["detail"]
    early = gm1.post(f"/api/incidents/{incident}/actions", json={"action": "arrive"})
    assert early.status_code == 409
    responders = op.get(f"/api/incidents/{incident}/responders").json()
    assert responders[0]["display_name"] == "gm1"  # the incident's own grid member first
    assert "gm2" not in [r["display_name"] for r in responders]
    gm1_id = responders[0]["id"]
    sent = op.post(
        f"/api/incidents/{incident}/actions", json={"action": "dispatch", "assignee_id": gm1_id}
    )
    assert sent.status_code == 200, sent.text
    assert (sent.json()["state"], sent.json()["assignee_name"]) == ("dispatched", "gm1")
    assert (
        gm1.post(f"/api/incidents/{incident}/actions", json={"action": "arrive"}).json()["state"]
        == "on_site"
    )
    note = gm1.post(
        f"/api/incidents/{incident}/actions", json={"action": "note", "note": "老人摔倒，已扶起"}
    )
    assert note.status_code == 200
    done = gm1.post(
        f"/api/incidents/{incident}/actions", json={"action": "resolve", "note": "送医"}
    )
    assert done.json()["state"] == "resolved"
    detail = op.get(f"/api/incidents/{incident}").json()
    steps = [(e["action"], e["actor"]) for e in detail["timeline"]]
    assert steps[1:] == [
        ("acknowledge", "op"), ("dispatch", "op"), ("arrive", "gm1"), ("note", "gm1"),
        ("resolve", "gm1"),
    ]  # fmt: skip
    assert detail["timeline"][-1]["note"] == "送医"
    audit = db.execute(
        "select username, action, detail->>'note' from audit_log where target = %s order by id",
        (f"incident:{incident}",),
    ).fetchall()
    assert [(u, a) for u, a, _ in audit] == [
        ("op", "incident.acknowledge"), ("op", "incident.dispatch"), ("gm1", "incident.arrive"),
        ("gm1", "incident.note"), ("gm1", "incident.resolve"),
    ]  # fmt: skip
    assert audit[3][2] == "老人摔倒，已扶起"


def test_who_may_act_on_whose_incident(
    clients: dict[str, TestClient], db: psycopg.Connection, home: str
) -> None:
    incident = open_incident(db, household=home, cause="smoke")
    acknowledge = {"action": "acknowledge"}
    assert (
        clients["inst"].post(f"/api/incidents/{incident}/actions", json=acknowledge).status_code
        == 403
    )
    assert clients["inst"].get(f"/api/incidents/{incident}").status_code == 403
    assert clients["gm2"].get(f"/api/incidents/{incident}").status_code == 404
    assert (
        clients["gm2"].post(f"/api/incidents/{incident}/actions", json=acknowledge).status_code
        == 404
    )
    assert incident not in [i["id"] for i in clients["gm2"].get("/api/incidents").json()["items"]]
    dispatch = clients["gm1"].post(
        f"/api/incidents/{incident}/actions", json={"action": "dispatch"}
    )
    assert dispatch.status_code == 403
    assert (
        "acknowledge"
        in clients["gm1"].get(f"/api/incidents/{incident}").json()["incident"]["actions"]
    )
    assert (
        clients["gm1"].post(f"/api/incidents/{incident}/actions", json=acknowledge).status_code
        == 200
    )
    bad = clients["op"].post(
        f"/api/incidents/{incident}/actions", json={"action": "resolve", "assignee_id": 1}
    )
    assert bad.status_code == 422
    assert clients["op"].post("/api/incidents/999999/actions", json=acknowledge).status_code == 404
    clients["op"].post(f"/api/incidents/{incident}/actions", json={"action": "false_alarm"})


def test_the_detail_page_has_the_resident_card_and_alerts(
    clients: dict[str, TestClient], db: psycopg.Connection, home: str
) -> None:
    incident = open_incident(db, household=home, cause="fire")
    detail = clients["op"].get(f"/api/incidents/{incident}").json()
    assert detail["incident"]["living_alone"] is False
    card = detail["residents"][0]
    assert card["name"] == "孙爷爷"
    assert card["age"] >= 85
    assert card["medical_notes"] == "糖尿病"
    assert [a["kind"] for a in detail["alerts"]] == ["fire"]
    assert isinstance(detail["notifications"], list)
    clients["op"].post(f"/api/incidents/{incident}/actions", json={"action": "false_alarm"})


def test_sensor_curves_are_seconds_from_the_first_alert(
    clients: dict[str, TestClient], db: psycopg.Connection, home: str
) -> None:
    incident = open_incident(db, household=home, cause="smoke")
    row = db.execute("select min(ts) from alerts where incident_id = %s", (incident,)).fetchone()
    assert row is not None
    t0 = row[0]
    for offset, value in ((-120, 0.5), (-60, 2.0), (-1, 9.5), (30, 12.0), (900, 1.0)):
        db.execute(
            "insert into readings (time, device_id, metric, value, seq, gateway_ts) "
            "values (%s, 'smokex', 'smoke_obscuration', %s, %s, now())",
            (t0 + timedelta(seconds=offset), value, offset + 10_000),
        )
    curves = clients["op"].get(f"/api/incidents/{incident}/readings").json()
    assert datetime.fromisoformat(curves["t0"]) == t0.astimezone(UTC)
    assert curves["source"] == "readings"
    (series,) = curves["series"]
    assert (series["device_id"], series["metric"], series["unit"]) == (
        "smokex", "smoke_obscuration", "%/m",
    )  # fmt: skip
    # The default window is 600 s before to 300 s after: the reading at +900 s is outside.
    assert series["points"] == [[-120.0, 0.5], [-60.0, 2.0], [-1.0, 9.5], [30.0, 12.0]]
    wide = (
        clients["op"]
        .get(f"/api/incidents/{incident}/readings", params={"before_s": 86400, "after_s": 3600})
        .json()
    )
    assert wide["source"] == "readings_1m"
    clients["op"].post(f"/api/incidents/{incident}/actions", json={"action": "resolve"})
