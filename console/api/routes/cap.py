"""CAP 1.2 documents of incidents (`/api/cap/{id}`) and the Atom feed of recent ones
(`/api/cap.atom`), for systems with a console account (the documents name home addresses:
grid members see their grid's only, like every other incident view)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Query, Request, Response
from psycopg.rows import dict_row

from alerting import cap
from console.api.deps import IncidentReader, SessionDep, grid_scope, not_found
from console.api.models.common import BigId
from vigil.settings import Settings

router = APIRouter(tags=["cap"])

_SELECT = """
select i.id, coalesce(i.district, '') as district, i.cause, i.signal, i.severity, i.state,
       i.opened_at, i.updated_at, coalesce(b.address, '未登记地址') as address,
       coalesce(h.unit, '') as unit, b.lat, b.lon
from incidents i
left join households h on h.id = i.household_id
left join buildings b on b.id = h.building_id
where (%(scope)s::text is null or i.grid_id = %(scope)s)
"""


def _rows(conn: SessionDep, sql: str, params: dict[str, object]) -> list[cap.CapIncident]:
    with conn.cursor(row_factory=dict_row) as cur:
        return [cap.CapIncident(**r) for r in cur.execute(sql, params).fetchall()]


def _console(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return settings.console_public_url


@router.get("/cap/{incident_id}", response_class=Response)
def cap_document(
    incident_id: BigId, request: Request, conn: SessionDep, user: IncidentReader
) -> Response:
    found = _rows(
        conn, _SELECT + " and i.id = %(id)s", {"scope": grid_scope(user), "id": incident_id}
    )
    if not found:
        raise not_found("incident")
    body = cap.to_xml(cap.document(found[0], console_url=_console(request)))
    return Response(body, media_type="application/cap+xml")


@router.get("/cap.atom", response_class=Response)
def cap_feed(
    request: Request,
    conn: SessionDep,
    user: IncidentReader,
    limit: int = Query(default=50, ge=1, le=500),
) -> Response:
    incidents = _rows(
        conn,
        _SELECT + " order by i.updated_at desc, i.id desc limit %(limit)s",
        {"scope": grid_scope(user), "limit": limit},
    )
    body = cap.feed(
        incidents,
        console_url=_console(request),
        now=datetime.now(UTC),
        self_url=str(request.url.remove_query_params("limit")),
    )
    return Response(body, media_type="application/atom+xml")
