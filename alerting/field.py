"""What a grid member does in the field, as incident changes: accept a task, arrive (with the
phone's position when the member agreed), attach a photo, resolve with an outcome.

Each goes through `alerting.store.act` where it moves the lifecycle, so the timeline, the
escalation timer and the live stream follow exactly as for the console's actions:

- accept on a new or acknowledged incident is a dispatch to oneself: the acknowledge (or
  dispatch) deadline stops and the arrive deadline starts, as the policy says; accept on an
  incident already dispatched to oneself records the acceptance and keeps the arrive deadline;
- arrive moves it on site: no deadline runs any more;
- the outcome picks resolve or false alarm and is kept on the incident for the monthly report.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime

from alerting import store
from alerting.errors import IllegalTransition
from alerting.lifecycle import Action, State
from vigil.db.connect import Conn

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class Outcome:
    code: str
    zh: str
    en: str
    action: Action


# What a responder found; a false press or a device fault closes the incident as a false alarm.
OUTCOMES: tuple[Outcome, ...] = (
    Outcome("fire_out", "明火已扑灭", "fire put out", Action.RESOLVE),
    Outcome("cooking", "做饭油烟，无火情", "cooking, no fire", Action.RESOLVE),
    Outcome("fell_helped", "老人跌倒，已扶起", "fell and helped up", Action.RESOLVE),
    Outcome("hospital", "已送医", "taken to hospital", Action.RESOLVE),
    Outcome("unwell_helped", "身体不适，已处置", "unwell, cared for", Action.RESOLVE),
    Outcome("nobody_home", "家中无人，已联系家属", "nobody home, family reached", Action.RESOLVE),
    Outcome("false_press", "误按", "false press", Action.FALSE_ALARM),
    Outcome("device_fault", "设备故障", "device fault", Action.FALSE_ALARM),
    Outcome("other", "其他", "other", Action.RESOLVE),
)
OUTCOME_BY_CODE = {o.code: o for o in OUTCOMES}


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine): far better than a phone's GPS needs."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def accept(
    conn: Conn, *, incident_id: int, user_id: int, actor: str, now: datetime
) -> store.IncidentRow:
    """Take the task: dispatch to oneself if nobody has it yet, then record the acceptance."""
    with conn.transaction():
        row = store.load(conn, incident_id, lock=True)
        if row.state in (State.NEW, State.ACKNOWLEDGED):
            row = store.act(
                conn,
                incident_id=incident_id,
                action=Action.DISPATCH,
                actor=actor,
                now=now,
                assignee_id=user_id,
                note="网格员接单 / accepted by the grid member",
            )
        elif row.state is State.DISPATCHED:
            if row.assigned_to != user_id:
                raise IllegalTransition(
                    Action.DISPATCH, row.state, "已派给他人 / dispatched to someone else"
                )
        else:
            raise IllegalTransition(
                Action.DISPATCH, row.state, f"事件已是 {row.state} / the incident is {row.state}"
            )
        conn.execute(
            "update incidents set accepted_at = coalesce(accepted_at, %s), accepted_by = %s "
            "where id = %s",
            (now, user_id, incident_id),
        )
        store.timeline(
            conn,
            incident_id,
            at=now,
            actor=actor,
            action="accept",
            from_state=str(row.state),
            to_state=str(row.state),
            note=None,
        )
        store.announce(conn, [incident_id])
    return store.load(conn, incident_id)


def arrive(
    conn: Conn,
    *,
    incident_id: int,
    user_id: int,
    actor: str,
    now: datetime,
    position: tuple[float, float, float | None] | None,
) -> tuple[store.IncidentRow, float | None]:
    """On site: accepts first if nobody was dispatched; records the position and distance."""
    with conn.transaction():
        row = store.load(conn, incident_id, lock=True)
        if row.state in (State.NEW, State.ACKNOWLEDGED):
            accept(conn, incident_id=incident_id, user_id=user_id, actor=actor, now=now)
        distance = None
        if position is not None:
            building = conn.execute(
                "select b.lat, b.lon from households h join buildings b on b.id = h.building_id "
                "where h.id = %s",
                (row.household_id,),
            ).fetchone()
            if building is not None and building[0] is not None and building[1] is not None:
                distance = round(distance_m(position[0], position[1], building[0], building[1]))
        if position is None:
            note = "已到达（未共享位置）/ arrived (position not shared)"
        elif distance is None:
            note = "已到达（楼栋无坐标）/ arrived (the building has no coordinates)"
        else:
            note = (
                f"已到达，距楼栋约 {distance:.0f} 米 / arrived {distance:.0f} m from the building"
            )
        saved = store.act(
            conn, incident_id=incident_id, action=Action.ARRIVE, actor=actor, now=now, note=note
        )
        conn.execute(
            "insert into incident_arrivals (incident_id, user_id, at, lat, lon, accuracy_m, "
            "distance_m) values (%s, %s, %s, %s, %s, %s, %s)",
            (
                incident_id,
                user_id,
                now,
                position[0] if position else None,
                position[1] if position else None,
                position[2] if position else None,
                distance,
            ),
        )
    return saved, distance


def resolve(
    conn: Conn, *, incident_id: int, actor: str, now: datetime, outcome: str, note: str | None
) -> store.IncidentRow:
    """Close with what was found; the outcome's label and the note go on the timeline."""
    chosen = OUTCOME_BY_CODE[outcome]
    text = f"结果：{chosen.zh} / outcome: {chosen.en}"
    if note and note.strip():
        text += f" — {note.strip()}"
    with conn.transaction():
        saved = store.act(
            conn, incident_id=incident_id, action=chosen.action, actor=actor, now=now, note=text
        )
        conn.execute("update incidents set outcome = %s where id = %s", (outcome, incident_id))
    return saved


@dataclass(frozen=True)
class Photo:
    id: int
    sha256: str
    size_bytes: int


def attach_photo(
    conn: Conn,
    *,
    incident_id: int,
    user_id: int,
    actor: str,
    now: datetime,
    content_type: str,
    data: bytes,
) -> Photo:
    """Keep the photo with its SHA-256 and put it on the timeline (any state: evidence of a
    closed incident is still evidence)."""
    digest = hashlib.sha256(data).hexdigest()
    with conn.transaction():
        row = conn.execute(
            "insert into incident_evidence (incident_id, user_id, content_type, sha256, "
            "size_bytes, data, taken_at) values (%s, %s, %s, %s, %s, %s, %s) returning id",
            (incident_id, user_id, content_type, digest, len(data), data, now),
        ).fetchone()
        assert row is not None
        state = conn.execute("select state from incidents where id = %s", (incident_id,)).fetchone()
        assert state is not None
        store.timeline(
            conn,
            incident_id,
            at=now,
            actor=actor,
            action="photo",
            from_state=state[0],
            to_state=state[0],
            note=f"照片 / photo #{row[0]} sha256:{digest} ({len(data) // 1024} kB)",
        )
        store.announce(conn, [incident_id])
    return Photo(int(row[0]), digest, len(data))
