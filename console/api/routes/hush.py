"""The console's "cooking, confirmed by phone": hush a household's kitchen from an incident.

The operator has called the resident, who is cooking. The hush is bounded (10 min by default,
the detectors' own limit is the kitchen's `hush_s`) and covers only that room's smoke-only
alarms: heat above the fixed temperature, CO, dense smoke and every other room still alarm. It
is written to `room_hushes` (the detector stage reads it, see detectors/hushes.py) and to the
incident's timeline, in one transaction with the audit row.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from alerting import store
from console.api.deps import AuditDep, IncidentActor, SessionDep, grid_scope, not_found, now
from console.api.models.common import BigId, Body
from console.api.roles import may_act
from detectors.rooms import room_class

router = APIRouter(prefix="/incidents", tags=["incidents"])

MAX_MINUTES = 10.0  # the kitchen's hush_s in detectors/policy.toml


class HushRequest(Body):
    room: str = Field("kitchen", min_length=1, max_length=64, description="the room to hush")
    minutes: float = Field(MAX_MINUTES, gt=0.0, le=MAX_MINUTES)
    note: str | None = Field(None, max_length=500)


class HushPublic(BaseModel):
    id: int
    incident_id: int
    household_id: str
    room: str
    started_at: datetime
    until: datetime
    actor: str


@router.post(
    "/{incident_id}/hush",
    status_code=status.HTTP_201_CREATED,
    responses={
        409: {"description": "the incident is closed, not a fire, or has no household"},
        422: {"description": "the household has no detector in that room"},
    },
)
def hush(
    incident_id: BigId,
    body: HushRequest,
    conn: SessionDep,
    user: IncidentActor,
    audit: AuditDep,
) -> HushPublic:
    """Cooking confirmed by phone: hush the kitchen's smoke-only alarms for a bounded time."""
    if not may_act(user.role, "note"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {user.role.value} may not hush")
    found = conn.execute(
        "select household_id, cause, state, grid_id from incidents where id = %s",
        (incident_id,),
    ).fetchone()
    scope = grid_scope(user)
    if found is None or (scope is not None and found[3] != scope):
        raise not_found("incident")
    household, cause, state, _ = found
    if cause != "fire" or household is None or state in ("resolved", "false_alarm", "test"):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "only an open fire incident of a registered household can be hushed",
        )
    devices = conn.execute(
        "select room from devices where household_id = %s and retired_at is null",
        (household,),
    ).fetchall()
    wanted = room_class(body.room)
    if wanted != "kitchen" or not any(room_class(str(r)) == wanted for (r,) in devices):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"household {household} has no kitchen detector named by {body.room!r}: "
            "only a kitchen's smoke-only alarms can be hushed",
        )
    started = now()
    until = started + timedelta(minutes=body.minutes)
    row = conn.execute(
        "insert into room_hushes (household_id, room, started_at, until, actor, incident_id, "
        "note) values (%s, %s, %s, %s, %s, %s, %s) returning id",
        (household, body.room, started, until, user.username, incident_id, body.note),
    ).fetchone()
    assert row is not None
    note = (
        f"cooking confirmed by phone: {body.room} smoke-only alarms hushed for "
        f"{body.minutes:g} min (until {until:%H:%M:%S} UTC); heat, CO and other rooms still alarm"
        + (f" — {body.note}" if body.note else "")
    )
    store.timeline(
        conn,
        incident_id,
        at=started,
        actor=user.username,
        action="hush",
        from_state=str(state),
        to_state=str(state),
        note=note,
    )
    audit("incident.hush", f"incident:{incident_id}", {"room": body.room, "minutes": body.minutes})
    return HushPublic(
        id=int(row[0]),
        incident_id=incident_id,
        household_id=str(household),
        room=body.room,
        started_at=started,
        until=until,
        actor=user.username,
    )
