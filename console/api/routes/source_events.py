"""Events as foreign sources reported them (a DC-09 panel's account, zone and code), newest
first: what an installer or operator checks, including codes Vigil has no kind for, which are
stored and shown here, never raised."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from console.api.deps import RegistryReader, SessionDep, grid_scope
from console.api.sqlutil import fetch_all

router = APIRouter(prefix="/source-events", tags=["devices"])


class SourceEventRow(BaseModel):
    time: datetime
    device_id: str
    household_id: str | None
    kind: str
    value: float | None
    source: str | None
    account: str | None
    zone: str | None
    code: str | None
    room: str | None
    name: str | None
    name_en: str | None
    text: str | None
    known: bool


_QUERY = """
select e.time, e.device_id, d.household_id, e.kind, e.value, e.detail->>'source' as source,
       e.detail->>'account' as account, e.detail->>'zone' as zone, e.detail->>'code' as code,
       e.detail->>'room' as room, e.detail->>'name' as name, e.detail->>'name_en' as name_en,
       e.detail->>'text' as text, coalesce((e.detail->>'known')::boolean, true) as known
from device_events e
join devices d on d.id = e.device_id
join gateways g on g.id = d.gateway_id
left join households h on h.id = d.household_id
left join buildings b on b.id = coalesce(h.building_id, g.building_id)
where e.detail ? 'source'
  and e.time > now() - make_interval(hours => %(hours)s)
  and (%(scope)s::text is null or b.grid_id = %(scope)s)
  and (%(device)s::text is null or e.device_id = %(device)s)
  and (%(source)s::text is null or e.detail->>'source' = %(source)s)
  and (not %(unknown)s or e.kind = 'panel_event')
order by e.time desc
limit %(limit)s
"""


@router.get("")
def list_source_events(  # noqa: PLR0917 - FastAPI reads the filters from the signature
    conn: SessionDep,
    user: RegistryReader,
    device_id: Annotated[str | None, Query(max_length=64)] = None,
    source: Annotated[str | None, Query(max_length=32)] = None,
    unknown: bool = False,
    hours: Annotated[int, Query(ge=1, le=24 * 31)] = 24,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[SourceEventRow]:
    """Newest first; `unknown=true`: only codes with no Vigil kind (panel_event)."""
    params = {"scope": grid_scope(user), "device": device_id, "source": source,
              "unknown": unknown, "hours": hours, "limit": limit}  # fmt: skip
    return fetch_all(conn, SourceEventRow, _QUERY, params)
