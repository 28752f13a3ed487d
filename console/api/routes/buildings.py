"""Buildings looked up by id (they are created under their grid: POST /api/grids/{id}/buildings)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from console.api.deps import (
    AuditDep,
    RegistryReader,
    RegistryWriter,
    SessionDep,
    grid_scope,
    not_found,
    now,
)
from console.api.models.common import Key
from console.api.models.provisioning import BuildingDetail, BuildingUpdate
from console.api.sqlutil import fetch_all, fetch_one, update_row

router = APIRouter(prefix="/buildings", tags=["buildings"])

_SELECT = """
select b.id, b.grid_id, g.site_id, b.name, b.address, b.lat, b.lon, b.floors, b.created_at,
       (select count(*) from households h where h.building_id = b.id and h.retired_at is null)
         as households,
       (select count(*) from gateways w where w.building_id = b.id and w.retired_at is null)
         as gateways
from buildings b join grids g on g.id = b.grid_id
where b.retired_at is null
  and (%(scope)s::text is null or b.grid_id = %(scope)s)
  and (%(grid)s::text is null or b.grid_id = %(grid)s)
  and (%(id)s::text is null or b.id = %(id)s)
"""


@router.get("")
def list_buildings(
    conn: SessionDep,
    user: RegistryReader,
    grid_id: Annotated[str | None, Query(max_length=64)] = None,
) -> list[BuildingDetail]:
    params = {"scope": grid_scope(user), "grid": grid_id, "id": None}
    return fetch_all(conn, BuildingDetail, f"{_SELECT} order by b.id", params)


@router.get("/{building_id}")
def get_building(building_id: Key, conn: SessionDep, user: RegistryReader) -> BuildingDetail:
    params = {"scope": grid_scope(user), "grid": None, "id": building_id}
    found = fetch_one(conn, BuildingDetail, _SELECT, params)
    if found is None:
        raise not_found("building")
    return found


@router.patch("/{building_id}")
def update_building(
    building_id: Key,
    body: BuildingUpdate,
    conn: SessionDep,
    user: RegistryWriter,
    audit: AuditDep,
) -> BuildingDetail:
    get_building(building_id, conn, user)
    fields = body.model_dump(exclude_unset=True)
    for required in ("name", "address"):
        if required in fields and fields[required] is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{required} cannot be null")
    update_row(conn, table="buildings", key="id", key_value=building_id, fields=fields)
    audit("building.update", f"building:{building_id}", {"fields": sorted(fields)})
    return get_building(building_id, conn, user)


@router.delete("/{building_id}", status_code=status.HTTP_204_NO_CONTENT)
def retire_building(
    building_id: Key, conn: SessionDep, user: RegistryWriter, audit: AuditDep
) -> None:
    """Retire (keep the history, stop listing); refused while households or gateways remain."""
    building = get_building(building_id, conn, user)
    if building.households or building.gateways:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{building.households} households and {building.gateways} gateways remain: "
            "retire or move them first",
        )
    update_row(
        conn, table="buildings", key="id", key_value=building_id, fields={"retired_at": now()}
    )
    audit("building.retire", f"building:{building_id}")
