"""Incidents: the live board's list, the detail page, the sensor curves and the actions.

Reads are plain queries; every state change goes through `alerting.store.act`, the one place
that drives the lifecycle and writes timeline, outbox and timers in one transaction.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from psycopg.rows import dict_row

from alerting import store
from alerting.errors import IllegalTransition, IncidentNotFoundError
from alerting.lifecycle import Action, State, allowed_actions
from console.api import evidence
from console.api.accounts import Principal
from console.api.deps import (
    AuditDep,
    IncidentActor,
    IncidentReader,
    SessionDep,
    grid_scope,
    not_found,
    now,
)
from console.api.models.common import BigId
from console.api.models.incidents import (
    ActionRequest,
    AlertPublic,
    ContactCard,
    IncidentDetail,
    IncidentPublic,
    IncidentsPublic,
    NotificationPublic,
    ResidentCard,
    Responder,
    SensorCurves,
    Series,
    SourceEvent,
    TimelineEntry,
)
from console.api.roles import Perm, allows, may_act
from console.api.routes import seats
from console.api.sqlutil import fetch_all
from console.api.words import LangDep, TzDep, alert_text, tier_titles, timeline_texts
from vigil.device_types import metrics
from vigil.messages import render
from vigil.observability import CONSOLE_ACTIONS_TOTAL

router = APIRouter(prefix="/incidents", tags=["incidents"])

# Raw readings for windows up to this long; one-minute rollups beyond.
RAW_WINDOW_LIMIT = timedelta(hours=2)
MAX_POINTS = 20_000

_SELECT = """
select i.id, i.household_id, i.cause, i.signal, i.severity, i.state, i.opened_at, i.updated_at,
       i.closed_at, i.assigned_to, u.display_name as assignee_name, i.escalation_tier, i.hops,
       coalesce(i.grid_id, b.grid_id) as grid_id, b.address || ' ' || h.unit as address,
       h.living_alone,
       coalesce((select array_agg(r.name order by r.id) from residents r
                  where r.household_id = h.id and r.retired_at is null), '{}') as residents
from incidents i
left join households h on h.id = i.household_id
left join buildings b on b.id = h.building_id
left join users u on u.id = i.assigned_to
where (%(scope)s::text is null or coalesce(i.grid_id, b.grid_id) = %(scope)s)
  and (%(id)s::bigint is null or i.id = %(id)s)
"""
# Alarms before supervisory before trouble, the most severe first, then the longest waiting.
_BOARD_ORDER = """
order by case i.signal when 'alarm' then 1 when 'supervisory' then 2 else 3 end,
         i.severity desc, i.opened_at, i.id
"""


def _actions(user: Principal, state: State) -> list[Action]:
    return sorted(a for a in allowed_actions(state) if may_act(user.role, a.value))


def _incidents(
    conn: SessionDep, user: Principal, where: str, params: dict[str, Any], order: str
) -> list[IncidentPublic]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"{_SELECT} {where} {order}".encode(),
            {"scope": grid_scope(user), "id": None, **params},
        ).fetchall()
    return [
        IncidentPublic.model_validate({**r, "actions": _actions(user, State(r["state"]))})
        for r in rows
    ]


def _one(conn: SessionDep, user: Principal, incident_id: int) -> IncidentPublic:
    found = _incidents(conn, user, "", {"id": incident_id}, "")
    if not found:
        raise not_found("incident")
    return found[0]


@router.get("")
def list_incidents(
    *,
    conn: SessionDep,
    user: IncidentReader,
    state: Literal["open", "closed", "all"] = "open",
    grid_id: Annotated[str | None, Query(max_length=64)] = None,
    signal: Literal["alarm", "supervisory", "trouble"] | None = None,
    household_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> IncidentsPublic:
    """Open incidents in board order (signal class, severity, age); closed ones newest first."""
    where = """
      and (%(open)s::boolean is null or (i.closed_at is null) = %(open)s)
      and (%(grid)s::text is null or coalesce(i.grid_id, b.grid_id) = %(grid)s)
      and (%(signal)s::text is null or i.signal = %(signal)s)
      and (%(household)s::text is null or i.household_id = %(household)s)
    """
    params = {
        "open": {"open": True, "closed": False, "all": None}[state],
        "grid": grid_id,
        "signal": signal,
        "household": household_id,
    }
    order = _BOARD_ORDER if state == "open" else "order by i.opened_at desc, i.id desc"
    items = _incidents(
        conn,
        user,
        where,
        {**params, "limit": limit, "offset": offset},
        f"{order} limit %(limit)s offset %(offset)s",
    )
    total = conn.execute(
        f"select count(*) from ({_SELECT} {where}) t".encode(),
        {"scope": grid_scope(user), "id": None, **params},
    ).fetchone()
    return IncidentsPublic(total=total[0] if total else 0, items=items)


@router.get("/{incident_id}")
def get_incident(
    incident_id: BigId, conn: SessionDep, user: IncidentReader, lang: LangDep, tz: TzDep
) -> IncidentDetail:
    """Everything the detail page shows: timeline, alerts, resident card, notifications, the
    evidence this kind of alarm needs and who else has it open; sentences in `lang`."""
    incident = _one(conn, user, incident_id)
    with conn.cursor(row_factory=dict_row) as cur:
        alert_rows = cur.execute(
            "select a.id, a.device_id, a.kind, a.signal, a.severity, a.score, a.reason, "
            "a.evidence, a.ts, a.received_at, a.decided_at, a.evidence->>'rule' as rule, "
            "d.room, d.device_type from alerts a left join devices d on d.id = a.device_id "
            "where a.incident_id = %s order by a.ts, a.id",
            (incident_id,),
        ).fetchall()
        entries = cur.execute(
            "select t.at, t.actor, u.display_name as actor_name, t.action, t.from_state, "
            "t.to_state, t.note, t.code, t.params from incident_timeline t "
            "left join users u on u.username = t.actor "
            "where t.incident_id = %s order by t.at, t.id",
            (incident_id,),
        ).fetchall()
        rooms: dict[str, str | None] = {
            r["id"]: r["room"]
            for r in cur.execute(
                "select id, room from devices where household_id = %s", (incident.household_id,)
            ).fetchall()
        }
    alerts = [
        AlertPublic.model_validate({**a, "text": alert_text(a, lang, tz)}) for a in alert_rows
    ]
    rooms.update({a.device_id: a.room for a in alerts})
    timeline = [
        TimelineEntry.model_validate(e)
        for e in timeline_texts(entries, alert_rows, rooms, lang, tz)
    ]
    notifications = fetch_all(
        conn,
        NotificationPublic,
        "select id, channel, recipient, language, body, status, attempts, last_error, created_at, "
        "sent_at, delivered_at from notification_outbox where incident_id = %s order by id",
        (incident_id,),
    )
    titles = tier_titles()
    for n in notifications:
        if n.channel == "console" and n.recipient in titles:
            n.recipient_name = titles[n.recipient]
    place = conn.execute(
        "select h.notes, b.name, h.unit from households h join buildings b on b.id = h.building_id "
        "where h.id = %s",
        (incident.household_id,),
    ).fetchone()
    source_events = fetch_all(conn, SourceEvent, _SOURCE_EVENTS, (incident_id,))
    return IncidentDetail(
        incident=incident,
        household_notes=place[0] if place else None,
        residents=_resident_cards(conn, user, incident.household_id),
        timeline=timeline,
        alerts=alerts,
        notifications=notifications,
        source_events=source_events,
        evidence=evidence.build(conn, incident, alerts, lang, tz),
        presence=seats.present(conn, incident_id),
        building=place[1] if place else None,
        unit=place[2] if place else None,
    )


# The event each alert was raised on (same device, same device time), with what its source said.
_SOURCE_EVENTS = (
    "select a.id as alert_id, e.time, e.device_id, e.kind, e.value, e.detail->>'source' as source, "
    "e.detail->>'account' as account, e.detail->>'zone' as zone, e.detail->>'code' as code, "
    "e.detail->>'room' as room, e.detail->>'name' as name, e.detail->>'name_en' as name_en, "
    "e.detail->>'text' as text from alerts a join device_events e "
    "on e.device_id = a.device_id and e.time = a.ts "
    "where a.incident_id = %s and e.detail ? 'source' order by e.time, e.seq"
)


def _resident_cards(
    conn: SessionDep, user: Principal, household_id: str | None
) -> list[ResidentCard]:
    if household_id is None:
        return []
    with conn.cursor(row_factory=dict_row) as cur:
        residents = cur.execute(
            "select id, name, extract(year from now())::int - birth_year as age, phone, language, "
            "medical_notes, mobility from residents where household_id = %s and retired_at is null "
            "order by id",
            (household_id,),
        ).fetchall()
        contacts = cur.execute(
            "select c.resident_id, c.name, c.relation, c.phone, c.priority, c.has_key "
            "from contacts c "
            "join residents r on r.id = c.resident_id where r.household_id = %s "
            "and c.retired_at is null order by c.priority, c.id",
            (household_id,),
        ).fetchall()
    by_resident: dict[int, list[ContactCard]] = defaultdict(list)
    for c in contacts:
        by_resident[c.pop("resident_id")].append(ContactCard.model_validate(c))
    medical = allows(user.role, Perm.MEDICAL_READ)
    return [
        ResidentCard.model_validate(
            {
                **r,
                "medical_notes": r["medical_notes"] if medical else None,
                "contacts": by_resident.get(r["id"], []),
            }
        )
        for r in residents
    ]


@router.get("/{incident_id}/readings")
def sensor_curves(
    incident_id: BigId,
    conn: SessionDep,
    user: IncidentReader,
    before_s: Annotated[int, Query(ge=0, le=7 * 86400)] = 600,
    after_s: Annotated[int, Query(ge=0, le=7 * 86400)] = 300,
) -> SensorCurves:
    """The curves this kind of alarm needs around it, as seconds from the first alert: for a fire
    every detector of the household and the building, with the fired rules' thresholds; for a
    panic press or inactivity the button, motion and door; for a device trouble that device."""
    incident = _one(conn, user, incident_id)
    with conn.cursor(row_factory=dict_row) as cur:
        alert_rows = cur.execute(
            "select a.id, a.device_id, a.kind, a.signal, a.severity, a.score, a.reason, "
            "a.evidence, a.ts, a.received_at, a.decided_at, a.evidence->>'rule' as rule "
            "from alerts a where a.incident_id = %s order by a.ts, a.id",
            (incident_id,),
        ).fetchall()
    alerts = [AlertPublic.model_validate(a) for a in alert_rows]
    t0 = alerts[0].ts if alerts else incident.opened_at
    layout = evidence.layout_of(incident)
    if layout == "fire":
        scope = "building"
        cards = evidence.building_detectors(conn, incident.household_id)
        metrics_wanted: list[str] | None = ["smoke_obscuration", "temperature", "co"]
    elif layout in ("panic", "inactivity"):
        scope = "household"
        cards = evidence.devices(conn, _household_devices(conn, incident.household_id))
        metrics_wanted = ["button", "motion", "door"]
    elif layout == "trouble":
        scope = "device"
        cards = evidence.devices(conn, [a.device_id for a in alerts])
        metrics_wanted = None
    else:
        scope = "household"
        cards = evidence.devices(conn, _household_devices(conn, incident.household_id))
        metrics_wanted = None
    info = {c.id: c for c in cards}
    start, end = t0 - timedelta(seconds=before_s), t0 + timedelta(seconds=after_s)
    raw = end - start <= RAW_WINDOW_LIMIT
    table, time_col, value_col = (
        ("readings", "time", "value") if raw else ("readings_1m", "bucket", "avg")
    )
    rows = conn.execute(
        f"select device_id, metric, extract(epoch from {time_col} - %(t0)s)::float8, "
        f"{value_col} from {table} where device_id = any(%(ids)s) "
        f"and (%(metrics)s::text[] is null or metric = any(%(metrics)s)) "
        f"and {time_col} >= %(start)s and {time_col} <= %(end)s "
        f"order by device_id, metric, {time_col} limit {MAX_POINTS}".encode(),
        {
            "t0": t0,
            "ids": list(info),
            "metrics": metrics_wanted,
            "start": start,
            "end": end,
        },
    ).fetchall()
    if layout in ("panic", "inactivity"):
        # Presses, doors and motion arrive as device events; drawn as steps beside the readings.
        rows += conn.execute(
            "select device_id, kind, extract(epoch from time - %(t0)s)::float8, "
            "coalesce(value, 1) from device_events where device_id = any(%(ids)s) "
            "and kind = any(%(metrics)s) and time >= %(start)s and time <= %(end)s "
            f"order by device_id, kind, time limit {MAX_POINTS}",
            {"t0": t0, "ids": list(info), "metrics": metrics_wanted, "start": start, "end": end},
        ).fetchall()
    grouped: dict[tuple[str, str], Series] = {}
    units = metrics()
    for device_id, metric, t, value in rows:
        series = grouped.get((device_id, metric))
        if series is None:
            card = info[device_id]
            unit = units[metric].unit if metric in units else ""
            series = grouped[(device_id, metric)] = Series(
                device_id=device_id,
                device_type=card.device_type,
                room=card.room,
                metric=metric,
                unit=unit,
                points=[],
                household_id=card.household_id,
                unit_no=card.unit,
            )
        series.points.append((t, value))
    return SensorCurves(
        t0=t0,
        source="readings" if raw else "readings_1m",
        series=list(grouped.values()),
        scope=scope,
        thresholds=evidence.thresholds(alerts),
    )


def _household_devices(conn: SessionDep, household_id: str | None) -> list[str]:
    return [
        str(r[0])
        for r in conn.execute(
            "select id from devices where household_id = %s and retired_at is null order by id",
            (household_id,),
        ).fetchall()
    ]


@router.get("/{incident_id}/responders")
def responders(incident_id: BigId, conn: SessionDep, user: IncidentActor) -> list[Responder]:
    """Who can be dispatched: the incident's grid members first, then the rest of the staff."""
    incident = _one(conn, user, incident_id)
    return fetch_all(
        conn,
        Responder,
        "select id, display_name, role, grid_id, department from users "
        "where disabled_at is null and role in ('grid_member', 'operator', 'supervisor') "
        "and (%(grid)s::text is null or role <> 'grid_member' or grid_id = %(grid)s) "
        "order by (role = 'grid_member' and grid_id = %(grid)s) desc, display_name",
        {"grid": incident.grid_id},
    )


@router.post(
    "/{incident_id}/actions",
    responses={
        409: {
            "description": "the incident's state does not allow the action, or it moved on "
            "since the operator saw it (expected_state): the detail says who, in their language"
        }
    },
)
def act(
    *,
    incident_id: BigId,
    body: ActionRequest,
    conn: SessionDep,
    user: IncidentActor,
    audit: AuditDep,
    lang: LangDep,
    tz: TzDep,
) -> IncidentPublic:
    """Acknowledge, dispatch, arrive, note, resolve, mark false alarm and so on."""
    _one(conn, user, incident_id)
    if not may_act(user.role, body.action.value):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            render("err.not_allowed", {"role": user.role.value, "action": body.action.value}, lang),
        )
    if body.assignee_id is not None and body.action is not Action.DISPATCH:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "assignee_id is for dispatch")
    if (
        body.assignee_id is not None
        and conn.execute(
            "select 1 from users where id = %s and disabled_at is null", (body.assignee_id,)
        ).fetchone()
        is None
    ):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown assignee_id")
    # Held until this request commits: a second seat's action waits, then sees this one's state.
    locked = conn.execute(
        "select state from incidents where id = %s for update", (incident_id,)
    ).fetchone()
    if body.expected_state is not None and locked is not None and locked[0] != body.expected_state:
        raise HTTPException(status.HTTP_409_CONFLICT, seats.moved_on(conn, incident_id, lang, tz))
    assignee = body.assignee_id
    try:
        store.act(
            conn,
            incident_id=incident_id,
            action=body.action,
            actor=user.username,
            note=body.note,
            now=now(),
            assignee_id=assignee,
        )
    except IncidentNotFoundError as exc:
        raise not_found("incident") from exc
    except IllegalTransition as exc:
        raise HTTPException(
            status.HTTP_409_CONFLICT, seats.refusal(exc, conn, incident_id, lang, tz)
        ) from exc
    detail: dict[str, Any] = {"note": body.note} if body.note else {}
    if assignee is not None:
        detail["assignee_id"] = assignee
    audit(f"incident.{body.action.value}", f"incident:{incident_id}", detail or None)
    CONSOLE_ACTIONS_TOTAL.labels(action=body.action.value).inc()
    seats.mark(conn, incident_id, user, "handling")
    return _one(conn, user, incident_id)
