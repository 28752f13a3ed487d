"""Issue 22 through the API: sentences in the reader's language (new rows by code, old English
rows mapped back), the evidence each alarm needs, several seats on one incident (presence, a
readable 409 instead of an overwrite, the hand-over list) and the district map's data."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from alerting.policies import default_book
from alerting.triage import triage_pending

pytestmark = pytest.mark.stack

HOME = "h22"
LATIN_WORD = re.compile(r"[A-Za-z]{3,}")
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def home(db: psycopg.Connection) -> Iterator[str]:
    """A household of its own in grid g1: a panic button, a motion sensor, a kitchen smoke
    detector, an elder who uses a wheelchair and a daughter who holds a key."""
    db.execute(
        "insert into households (id, building_id, unit, living_alone) values (%s, 'b1', '502', "
        "true) on conflict do nothing",
        (HOME,),
    )
    if db.execute("select 1 from residents where household_id = %s", (HOME,)).fetchone() is None:
        row = db.execute(
            "insert into residents (household_id, name, birth_year, phone, medical_notes, "
            "mobility) values (%s, '赵桂英', 1938, '13800000022', '糖尿病', 'wheelchair') "
            "returning id",
            (HOME,),
        ).fetchone()
        assert row is not None
        db.execute(
            "insert into contacts (resident_id, name, relation, phone, has_key) "
            "values (%s, '赵敏', '女儿', '13900000022', true)",
            (row[0],),
        )
    for device, kind, room in (
        ("panic22", "panic", "bedroom"),
        ("pir22", "pir", "living_room"),
        ("smoke22", "smoke", "kitchen"),
    ):
        db.execute(
            "insert into devices (id, device_type, gateway_id, household_id, room, last_seen) "
            "values (%s, %s, 'gw1', %s, %s, now()) on conflict do nothing",
            (device, kind, HOME, room),
        )
    db.execute(
        "insert into device_events (time, device_id, kind, value, seq, gateway_ts) "
        "values (now() - interval '20 minutes', 'pir22', 'motion', 1, 1, now())"
    )
    yield HOME
    db.execute(
        "update incidents set state = 'resolved', closed_at = now() where household_id = %s "
        "and closed_at is null",
        (HOME,),
    )


def _alert(db: psycopg.Connection, device: str, kind: str, evidence: dict[str, Any]) -> int:
    """An alert as the detector stage writes it, triaged by alerting's own code."""
    now = datetime.now(UTC)
    db.execute(
        "insert into alerts (device_id, household_id, kind, signal, severity, score, reason, "
        "evidence, ts, received_at) values (%s, %s, %s, 'alarm', 4, 1.0, 'english reason', %s, "
        "%s, %s)",
        (device, HOME, kind, Jsonb(evidence), now - timedelta(seconds=1), now),
    )
    (incident,) = triage_pending(db, default_book(), now=now)
    return incident


PANIC = {"rule": "panic_press", "reason": {"code": "reason.panic_press", "params": {}}}
SMOKE = {
    "rule": "smoke_high",
    "reason": {"code": "reason.smoke_high", "params": {"smoke": 12.34, "limit": 10.0}},
    "thresholds": {"smoke_high_pct": 10.0, "smoke_high_count": 2},
    "smoke_baseline_pct": 0.5,
}


def _detail(client: TestClient, incident: int, lang: str) -> dict[str, Any]:
    response = client.get(f"/api/incidents/{incident}", headers={"Accept-Language": lang})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_panic_press_reads_in_chinese_and_in_english(
    clients: dict[str, TestClient], db: psycopg.Connection, home: str
) -> None:
    incident = _alert(db, "panic22", "panic", PANIC)
    zh = _detail(clients["op"], incident, "zh")
    assert zh["timeline"][0]["code"] == "tl.open"
    assert zh["timeline"][0]["text"] == "紧急按钮：panic22（卧室）按下了紧急按钮"
    assert zh["alerts"][0]["text"] == "按下了紧急按钮"
    en = _detail(clients["op"], incident, "en")
    assert en["timeline"][0]["text"] == "panic button on panic22 (bedroom): panic button pressed"
    # The evidence a panic press needs.
    ev = zh["evidence"]
    assert ev["layout"] == "panic"
    assert [d["id"] for d in ev["devices"]] == ["panic22"]
    assert ev["last_activity"]["device_id"] == "pir22"
    assert ev["last_activity"]["room"] == "living_room"
    assert [c["name"] for c in ev["key_holders"]] == ["赵敏"]
    (elder,) = zh["residents"]
    assert elder["mobility"] == "wheelchair"
    assert elder["medical_notes"] == "糖尿病"
    inst = clients["inst"].get(f"/api/incidents/{incident}")
    assert inst.status_code == 403, "installers never see incidents"


def test_a_fire_shows_its_rule_thresholds_and_the_buildings_detectors(
    clients: dict[str, TestClient], db: psycopg.Connection, home: str
) -> None:
    incident = _alert(db, "smoke22", "smoke", SMOKE)
    zh = _detail(clients["op"], incident, "zh")
    assert zh["alerts"][0]["text"] == "浓烟：高出基线 12.3 %/m（报警阈值 10 %/m）"
    ev = zh["evidence"]
    assert ev["layout"] == "fire"
    assert ev["rules"][0]["rule"] == "smoke_high"
    detectors = {d["id"] for d in ev["building_devices"]}
    assert {"smoke22", "smoke1"} <= detectors, "the household's and the neighbours' detectors"
    curves = clients["op"].get(f"/api/incidents/{incident}/readings").json()
    assert curves["scope"] == "building"
    assert {"metric": "smoke_obscuration", "value": 10.5} in [
        {"metric": t["metric"], "value": t["value"]} for t in curves["thresholds"]
    ], "the alarm level sits over the detector's baseline"


def test_old_english_rows_read_in_the_viewers_language(
    clients: dict[str, TestClient], db: psycopg.Connection, home: str
) -> None:
    incident = _alert(db, "panic22", "panic", PANIC)
    db.execute("update incident_timeline set code = null, params = null where incident_id = %s",
               (incident,))  # fmt: skip
    db.execute(
        "update incident_timeline set note = 'panic on panic22: panic button pressed' "
        "where incident_id = %s and action = 'open'",
        (incident,),
    )
    db.execute(
        "insert into incident_timeline (incident_id, at, actor, action, from_state, to_state, "
        "note) values (%s, now(), 'system', 'escalate', 'new', 'new', %s)",
        (
            incident,
            "not acknowledged in time: grid member → community duty officer "
            "(deadline 2026-12-06T05:48:55.895299+00:00, fired 0.001 s late)",
        ),
    )
    zh = _detail(clients["op"], incident, "zh")
    texts = [e["text"] for e in zh["timeline"]]
    assert texts[0] == "紧急按钮：panic22（卧室）按下了紧急按钮"
    assert texts[-1] == "超时未确认（期限 12月6日 13:48:55）：网格员 → 社区值班员"
    for text in texts:
        assert not LATIN_WORD.search(text.replace("panic22", "")), text
    en = _detail(clients["op"], incident, "en")
    for entry in en["timeline"]:
        assert not HAN.search(entry["text"]), entry["text"]


def test_a_second_seat_is_refused_in_words_and_nothing_is_overwritten(
    clients: dict[str, TestClient], db: psycopg.Connection, home: str
) -> None:
    incident = _alert(db, "panic22", "panic", PANIC)
    op, sup = clients["op"], clients["sup"]
    seen = sup.post(f"/api/incidents/{incident}/presence", json={"activity": "viewing"})
    assert seen.status_code == 200, seen.text
    on_it = op.get(f"/api/incidents/{incident}").json()["presence"]
    assert [(p["display_name"], p["activity"]) for p in on_it] == [("sup", "viewing")]

    first = op.post(
        f"/api/incidents/{incident}/actions",
        json={"action": "acknowledge", "expected_state": "new"},
    )
    assert first.status_code == 200, first.text
    # The supervisor's screen still said "new": their dispatch must not land on op's work.
    second = sup.post(
        f"/api/incidents/{incident}/actions",
        json={"action": "dispatch", "expected_state": "new", "assignee_id": 1},
    )
    assert second.status_code == 409
    detail = second.json()["detail"]
    assert "op" in detail
    assert "确认" in detail
    assert "已确认" in detail
    row = db.execute(
        "select state, assigned_to from incidents where id = %s", (incident,)
    ).fetchone()
    assert row == ("acknowledged", None)
    english = sup.post(
        f"/api/incidents/{incident}/actions",
        json={"action": "dispatch", "expected_state": "new", "assignee_id": 1},
        headers={"Accept-Language": "en"},
    )
    assert english.status_code == 409
    assert "op already did" in english.json()["detail"]
    seats = {
        p["display_name"]: p["activity"]
        for p in sup.get(f"/api/incidents/{incident}").json()["presence"]
    }
    assert seats == {"op": "handling", "sup": "viewing"}
    left = sup.post(f"/api/incidents/{incident}/presence", json={"activity": "left"})
    assert [p["display_name"] for p in left.json()] == ["op"]


def test_the_hand_over_lists_what_is_open_with_its_state(
    clients: dict[str, TestClient], db: psycopg.Connection, home: str
) -> None:
    incident = _alert(db, "panic22", "panic", PANIC)
    clients["op"].post(f"/api/incidents/{incident}/actions", json={"action": "acknowledge"})
    handover = clients["sup"].get("/api/handover", headers={"Accept-Language": "zh"}).json()
    (item,) = [i for i in handover["open"] if i["incident"]["id"] == incident]
    assert item["incident"]["state"] == "acknowledged"
    assert item["last"]["action"] == "acknowledge"
    assert item["last"]["actor"] == "op"
    assert clients["inst"].get("/api/handover").status_code == 403


def test_the_district_map_has_streets_buildings_and_open_incidents(
    clients: dict[str, TestClient], db: psycopg.Connection, home: str
) -> None:
    incident = _alert(db, "panic22", "panic", PANIC)
    data = clients["op"].get("/api/district/map").json()
    b1 = next(b for b in data["buildings"] if b["id"] == "b1")
    assert b1["status"] == "alarm"
    assert b1["unacknowledged"] is True
    mine = next(h for h in b1["households"] if h["id"] == HOME)
    assert [i["id"] for i in mine["incidents"]] == [incident]
    fenced = clients["gm2"].get("/api/district/map").json()
    assert {b["grid_id"] for b in fenced["buildings"]} == {"g2"}
    clients["op"].post(f"/api/incidents/{incident}/actions", json={"action": "acknowledge"})
    again = clients["op"].get("/api/district/map").json()
    b1 = next(b for b in again["buildings"] if b["id"] == "b1")
    ours = next(i for h in b1["households"] for i in h["incidents"] if i["id"] == incident)
    assert ours["state"] == "acknowledged"
    # The building pulses while any other alarm in it (another test's, say) is still new.
    others = [i for h in b1["households"] for i in h["incidents"] if i["id"] != incident]
    expected = any(i["signal"] == "alarm" and i["state"] == "new" for i in others)
    assert b1["unacknowledged"] is expected


def test_the_catalogue_is_served_in_each_language(anon: TestClient) -> None:
    assert anon.get("/api/messages?lang=zh").json()["room.kitchen"] == "厨房"
    assert anon.get("/api/messages", headers={"Accept-Language": "en"}).json()["room.kitchen"] == (
        "kitchen"
    )
    config = anon.get("/api/config").json()
    assert config["timezone"] == "Asia/Shanghai"
    assert config["tile_crs"] == "wgs84"


def test_key_holders_and_mobility_are_kept_through_the_registry(
    clients: dict[str, TestClient], db: psycopg.Connection, home: str
) -> None:
    sup = clients["sup"]
    (resident,) = sup.get("/api/residents", params={"q": "赵桂英"}).json()["items"]
    assert resident["mobility"] == "wheelchair"
    moved = sup.patch(f"/api/residents/{resident['id']}", json={"mobility": "bedridden"})
    assert moved.status_code == 200, moved.text
    assert (
        sup.patch(f"/api/residents/{resident['id']}", json={"mobility": "flying"}).status_code
        == 422
    )
    (contact,) = sup.get("/api/contacts", params={"q": "赵敏"}).json()["items"]
    assert contact["has_key"] is True
    assert sup.patch(f"/api/contacts/{contact['id']}", json={"has_key": False}).status_code == 200
    incident = _alert(db, "panic22", "panic", PANIC)
    detail = _detail(clients["op"], incident, "zh")
    assert detail["evidence"]["key_holders"] == []
    assert detail["residents"][0]["mobility"] == "bedridden"
    sup.patch(f"/api/contacts/{contact['id']}", json={"has_key": True})
    sup.patch(f"/api/residents/{resident['id']}", json={"mobility": "wheelchair"})
