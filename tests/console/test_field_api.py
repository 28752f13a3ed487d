"""The grid member's mobile API: my tasks behind the grid fence, accept / arrive / photo /
resolve through the lifecycle, each action exactly once per Idempotency-Key, and the refusals
(another grid's incident, a photo too large or not an image, an incident that moved on)."""

from __future__ import annotations

import hashlib
import struct
import uuid
import zlib
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from alerting import scoring
from alerting.field import distance_m
from tests.console.seed import open_incident

pytestmark = pytest.mark.stack


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def png(width: int = 4, height: int = 3) -> bytes:
    """A real (tiny) PNG, made here."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def incident(db: psycopg.Connection) -> Iterator[int]:
    """A panic press in grid g1; whatever the test left open is closed afterwards."""
    yield open_incident(db, household="h1", cause="panic", severity=5)
    db.execute(
        "update incidents set state = 'resolved', closed_at = now() "
        "where household_id in ('h1', 'h2') and state not in ('resolved', 'false_alarm', 'test')"
    )


def test_my_tasks_are_my_grids_open_incidents_with_the_next_deadline(
    clients: dict[str, TestClient], db: psycopg.Connection, incident: int
) -> None:
    other = open_incident(db, household="h2", cause="smoke", severity=4)
    db.execute(
        "insert into escalation_timers (incident_id, stage, tier, due_at) "
        "values (%s, 'acknowledge', 0, now() + interval '3 minutes')",
        (incident,),
    )
    mine = clients["gm1"].get("/api/field/tasks").json()
    ids = [t["id"] for t in mine["items"]]
    assert incident in ids
    assert other not in ids
    task = next(t for t in mine["items"] if t["id"] == incident)
    assert task["address"] == "和平路1号"
    assert task["unit"] == "301"
    assert task["deadline_stage"] == "acknowledge"
    assert task["next_deadline"] is not None
    assert other in [t["id"] for t in clients["gm2"].get("/api/field/tasks").json()["items"]]


def test_another_grids_incident_is_not_found_and_cannot_be_acted_on(
    clients: dict[str, TestClient], incident: int
) -> None:
    gm2 = clients["gm2"]
    assert gm2.get(f"/api/field/tasks/{incident}").status_code == 404
    assert gm2.post(f"/api/field/tasks/{incident}/accept", headers=key()).status_code == 404
    assert (
        gm2.post(f"/api/field/tasks/{incident}/arrive", json={}, headers=key()).status_code == 404
    )
    assert (
        gm2.post(
            f"/api/field/tasks/{incident}/photos",
            content=png(),
            headers={**key(), "Content-Type": "image/png"},
        ).status_code
        == 404
    )
    assert clients["inst"].get("/api/field/tasks").status_code == 403


def test_the_whole_loop_accept_arrive_photo_resolve(
    clients: dict[str, TestClient], db: psycopg.Connection, incident: int
) -> None:
    gm1 = clients["gm1"]
    detail = gm1.get(f"/api/field/tasks/{incident}").json()
    assert "accept" in detail["can"]
    assert detail["residents"][0]["contacts"][0]["phone"] == "13900000001"
    assert detail["residents"][0]["medical_notes"] == "心脏起搏器"

    accepted = gm1.post(f"/api/field/tasks/{incident}/accept", headers=key())
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["state"] == "dispatched"
    row = db.execute(
        "select i.assigned_to = u.id, i.accepted_at is not null, t.stage "
        "from incidents i join users u on u.username = 'gm1' "
        "left join escalation_timers t on t.incident_id = i.id and t.fired_at is null "
        "and t.cancelled_at is null where i.id = %s",
        (incident,),
    ).fetchone()
    assert row is not None
    assert row[0] is True
    assert row[1] is True
    # The acknowledge deadline stopped; the arrive one runs while a tier above is left.
    assert row[2] in ("arrive", None)

    # At the building's door: 39.902, 116.402; the phone is ~28 m east.
    arrived = gm1.post(
        f"/api/field/tasks/{incident}/arrive",
        json={"lat": 39.902, "lon": 116.40233, "accuracy_m": 12},
        headers=key(),
    )
    assert arrived.status_code == 200, arrived.text
    expected = distance_m(39.902, 116.40233, 39.902, 116.402)
    assert 20 < expected < 40
    assert arrived.json()["distance_m"] == pytest.approx(expected, abs=1)
    assert arrived.json()["state"] == "on_site"
    timers = db.execute(
        "select count(*) from escalation_timers where incident_id = %s and fired_at is null "
        "and cancelled_at is null",
        (incident,),
    ).fetchone()
    assert timers == (0,)

    image = png()
    photo = gm1.post(
        f"/api/field/tasks/{incident}/photos",
        content=image,
        headers={**key(), "Content-Type": "image/png"},
    )
    assert photo.status_code == 200, photo.text
    stored = photo.json()["photo"]
    assert stored["sha256"] == hashlib.sha256(image).hexdigest()
    fetched = gm1.get(stored["url"])
    assert fetched.content == image
    assert fetched.headers["content-type"] == "image/png"
    assert clients["gm2"].get(stored["url"]).status_code == 404

    resolved = gm1.post(
        f"/api/field/tasks/{incident}/resolve",
        json={"outcome": "fell_helped", "note": "老人已扶起，无外伤"},
        headers=key(),
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["state"] == "resolved"
    board = clients["op"].get(f"/api/incidents/{incident}").json()
    actions = [e["action"] for e in board["timeline"]]
    assert actions == ["open", "dispatch", "accept", "arrive", "photo", "resolve"]
    assert "扶起" in board["timeline"][-1]["note"]
    assert stored["sha256"] in board["timeline"][-2]["note"]
    outcome = db.execute("select outcome from incidents where id = %s", (incident,)).fetchone()
    assert outcome == ("fell_helped",)

    # The monthly scoring sees gm1's response and arrival times.
    opened = db.execute("select opened_at from incidents where id = %s", (incident,)).fetchone()
    assert opened is not None
    monthly = scoring.report(
        db, start=opened[0] - timedelta(minutes=1), end=opened[0] + timedelta(hours=1)
    )
    mine = next(s for s in monthly.responders if s.name == "gm1")
    assert mine.ack_p50_s is not None
    assert mine.arrive_p50_s is not None
    assert mine.arrive_p50_s >= 0


def test_a_replayed_action_gets_the_same_answer_and_acts_once(
    clients: dict[str, TestClient], db: psycopg.Connection, incident: int
) -> None:
    gm1 = clients["gm1"]
    same = key()
    first = gm1.post(f"/api/field/tasks/{incident}/note", json={"note": "楼道有烟味"}, headers=same)
    second = gm1.post(
        f"/api/field/tasks/{incident}/note", json={"note": "楼道有烟味"}, headers=same
    )
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert second.headers.get("idempotent-replay") == "true"
    notes = db.execute(
        "select count(*) from incident_timeline where incident_id = %s and action = 'note'",
        (incident,),
    ).fetchone()
    assert notes == (1,)
    reused = gm1.post(f"/api/field/tasks/{incident}/accept", headers=same)
    assert reused.status_code == 422


def test_an_action_on_an_incident_that_moved_on_is_refused_once_and_for_all(
    clients: dict[str, TestClient], incident: int
) -> None:
    closed = clients["op"].post(
        f"/api/incidents/{incident}/actions", json={"action": "resolve", "note": "电话确认无事"}
    )
    assert closed.status_code == 200
    same = key()
    late = clients["gm1"].post(
        f"/api/field/tasks/{incident}/resolve", json={"outcome": "false_press"}, headers=same
    )
    assert late.status_code == 409
    assert "已处置" in late.json()["detail"]
    assert "resolved" in late.json()["detail"]
    again = clients["gm1"].post(
        f"/api/field/tasks/{incident}/resolve", json={"outcome": "false_press"}, headers=same
    )
    assert again.status_code == 409
    assert again.json() == late.json()


def test_a_photo_too_large_or_not_an_image_is_refused(
    clients: dict[str, TestClient], db: psycopg.Connection, incident: int
) -> None:
    gm1 = clients["gm1"]
    url = f"/api/field/tasks/{incident}/photos"
    big = b"\xff\xd8\xff" + b"\x00" * (4 * 1024 * 1024)
    too_large = gm1.post(url, content=big, headers={**key(), "Content-Type": "image/jpeg"})
    assert too_large.status_code == 413
    assert "4 MB" in too_large.json()["detail"]
    text = gm1.post(url, content=b"hello", headers={**key(), "Content-Type": "text/plain"})
    assert text.status_code == 415
    lying = gm1.post(url, content=b"<html>", headers={**key(), "Content-Type": "image/jpeg"})
    assert lying.status_code == 415
    stored = db.execute(
        "select count(*) from incident_evidence where incident_id = %s", (incident,)
    ).fetchone()
    assert stored == (0,)
    assert gm1.post(url, content=png(), headers={"Content-Type": "image/png"}).status_code == 422
