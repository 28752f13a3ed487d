"""A household's learned routine, for the console's routine page and wellness-check incidents.

The figures are learned again from the household's own motion and door readings of the last
28 days by the detectors' code (detectors.routine_view), so the page shows what detection
learned without reaching into the running detection stage.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from console.api.deps import IncidentReader, SessionDep, now
from console.api.models.common import Key
from console.api.routes.households import get_household
from detectors.registry import Device
from detectors.routine_view import routine_view

router = APIRouter(prefix="/households", tags=["households"])
MAX_ROWS = 500_000


@router.get("/{household_id}/routine")
def household_routine(
    household_id: Key,
    conn: SessionDep,
    user: IncidentReader,
    days: Annotated[int, Query(ge=1, le=28)] = 28,
) -> dict[str, Any]:
    """Learned activity (7 x 24, Monday first, local hours), sleep window, usual absences, and
    the last 48 h of activity with the wellness checks raised in it."""
    get_household(household_id, conn, user)  # 404 outside the user's grid
    devices = [
        Device(device_id, device_type, household_id, room or "")
        for device_id, device_type, room in conn.execute(
            "select id, device_type, room from devices where household_id = %s "
            "and retired_at is null and device_type in ('pir', 'door') order by id",
            (household_id,),
        ).fetchall()
    ]
    at = now()
    rows = (
        conn.execute(
            "select extract(epoch from r.time)::float8, r.device_id, r.metric, r.value "
            "from readings r join devices d on d.id = r.device_id "
            "where d.household_id = %s and r.metric in ('motion', 'door') and r.time >= %s "
            f"order by r.time limit {MAX_ROWS}".encode(),
            (household_id, at - timedelta(days=days)),
        ).fetchall()
        if devices
        else []
    )
    view = routine_view(devices, [tuple(r) for r in rows], at.timestamp())
    return {"household_id": household_id, "days": days, **view}
