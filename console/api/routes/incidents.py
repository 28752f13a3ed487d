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
from console.api.sqlutil import fetch_all
from vigil.device_types import metrics
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
def get_incident(incident_id: BigId, conn: SessionDep, user: IncidentReader) -> IncidentDetail:
    """Everything the detail page shows: timeline, alerts, resident card, notifications."""
    incident = _one(conn, user, incident_id)
    timeline = fetch_all(
        conn,
        TimelineEntry,
        "select at, actor, action, from_state, to_state, note from incident_timeline "
        "where incident_id = %s order by at, id",
        (incident_id,),
    )
    alerts = fetch_all(
        conn,
        AlertPublic,
        "select id, device_id, kind, signal, severity, score, reason, evidence, ts, received_at, "
        "decided_at from alerts where incident_id = %s order by ts, id",
        (incident_id,),
    )
    notifications = fetch_all(
        conn,
        NotificationPublic,
        "select id, channel, recipient, language, body, status, attempts, last_error, created_at, "
        "sent_at, delivered_at from notification_outbox where incident_id = %s order by id",
        (incident_id,),
    )
    notes_row = conn.execute(
        "select notes from households where id = %s", (incident.household_id,)
    ).fetchone()
    source_events = fetch_all(conn, SourceEvent, _SOURCE_EVENTS, (incident_id,))
    return IncidentDetail(
        incident=incident,
        household_notes=notes_row[0] if notes_row else None,
        residents=_resident_cards(conn, user, incident.household_id),
        timeline=timeline,
        alerts=alerts,
        notifications=notifications,
        source_events=source_events,
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
            "medical_notes from residents where household_id = %s and retired_at is null "
            "order by id",
            (household_id,),
        ).fetchall()
        contacts = cur.execute(
            "select c.resident_id, c.name, c.relation, c.phone, c.priority from contacts c "
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
    """The household's sensor readings around the alarm, as seconds from the first alert."""
    incident = _one(conn, user, incident_id)
    row = conn.execute(
        "select min(ts) from alerts where incident_id = %s", (incident_id,)
    ).fetchone()
    t0 = row[0] if row and row[0] else incident.opened_at
    start, end = t0 - timedelta(seconds=before_s), t0 + timedelta(seconds=after_s)
    raw = end - start <= RAW_WINDOW_LIMIT
    query = (
        "select r.device_id, d.device_type, d.room, r.metric, "
        "extract(epoch from r.time - %(t0)s)::float8, r.value from readings r "
        if raw
        else "select r.device_id, d.device_type, d.room, r.metric, "
        "extract(epoch from r.bucket - %(t0)s)::float8, r.avg from readings_1m r "
    )
    time_col = "r.time" if raw else "r.bucket"
    rows = conn.execute(
        f"{query} join devices d on d.id = r.device_id where d.household_id = %(household)s "
        f"and {time_col} >= %(start)s and {time_col} <= %(end)s "
        f"order by r.device_id, r.metric, {time_col} limit {MAX_POINTS}".encode(),
        {"t0": t0, "household": incident.household_id, "start": start, "end": end},
    ).fetchall()
    grouped: dict[tuple[str, str], Series] = {}
    units = metrics()
    for device_id, device_type, room, metric, t, value in rows:
        series = grouped.get((device_id, metric))
        if series is None:
            unit = units[metric].unit if metric in units else ""
            series = grouped[(device_id, metric)] = Series(
                device_id=device_id,
                device_type=device_type,
                room=room,
                metric=metric,
                unit=unit,
                points=[],
            )
        series.points.append((t, value))
    return SensorCurves(
        t0=t0, source="readings" if raw else "readings_1m", series=list(grouped.values())
    )


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
    responses={409: {"description": "the incident's state does not allow the action"}},
)
def act(
    incident_id: BigId,
    body: ActionRequest,
    conn: SessionDep,
    user: IncidentActor,
    audit: AuditDep,
) -> IncidentPublic:
    """Acknowledge, dispatch, arrive, note, resolve, mark false alarm and so on."""
    _one(conn, user, incident_id)
    if not may_act(user.role, body.action.value):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"role {user.role.value} may not {body.action.value}"
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
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    detail: dict[str, Any] = {"note": body.note} if body.note else {}
    if assignee is not None:
        detail["assignee_id"] = assignee
    audit(f"incident.{body.action.value}", f"incident:{incident_id}", detail or None)
    CONSOLE_ACTIONS_TOTAL.labels(action=body.action.value).inc()
    return _one(conn, user, incident_id)
