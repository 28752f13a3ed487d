"""Grids (网格), their buildings, and the district map with live status."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import APIRouter, HTTPException, status
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from console.api.deps import (
    AuditDep,
    GridWriter,
    RegistryReader,
    RegistryWriter,
    SessionDep,
    grid_scope,
    not_found,
    now,
)
from console.api.models.common import Key
from console.api.models.grids import (
    BuildingCreate,
    BuildingPublic,
    DistrictMap,
    GridCreate,
    GridPublic,
    GridUpdate,
    MapBuilding,
    MapGrid,
    MapHousehold,
)
from console.api.sqlutil import fetch_all, fetch_one, update_row

router = APIRouter(prefix="/grids", tags=["grids"])

_SELECT = """
select g.id, g.site_id, g.name, g.name_en, g.geometry, g.created_at,
       (select count(*) from households h join buildings b on b.id = h.building_id
         where b.grid_id = g.id and h.retired_at is null) as households,
       (select count(*) from incidents i join households h on h.id = i.household_id
         join buildings b on b.id = h.building_id
         where b.grid_id = g.id and i.closed_at is null) as open_incidents
from grids g
where g.retired_at is null and (%(scope)s::text is null or g.id = %(scope)s)
"""

# The worst open incident decides a household's colour on the map.
HOUSEHOLD_STATUS = """
select h.id, min(case i.signal when 'alarm' then 1 when 'supervisory' then 2
                                when 'trouble' then 3 end) as rank
from households h join incidents i on i.household_id = h.id and i.closed_at is null
group by h.id
"""
_STATUS_BY_RANK = {1: "alarm", 2: "supervisory", 3: "trouble"}
_RANK_BY_STATUS = {"alarm": 1, "supervisory": 2, "trouble": 3, "ok": 4}


def _worst(statuses: list[str]) -> str:
    return min(statuses, key=_RANK_BY_STATUS.__getitem__, default="ok")


@router.get("")
def list_grids(conn: SessionDep, user: RegistryReader) -> list[GridPublic]:
    return fetch_all(conn, GridPublic, f"{_SELECT} order by g.id", {"scope": grid_scope(user)})


@router.get("/map")
def district_map(conn: SessionDep, user: RegistryReader) -> DistrictMap:
    """Grids, buildings and households with the status of their worst open incident."""
    scope = grid_scope(user)
    status_of = {
        hid: _STATUS_BY_RANK[rank] for hid, rank in conn.execute(HOUSEHOLD_STATUS).fetchall()
    }
    with conn.cursor(row_factory=dict_row) as cur:
        grids = cur.execute(
            "select id, name, name_en, geometry from grids where retired_at is null "
            "and (%(scope)s::text is null or id = %(scope)s) order by id",
            {"scope": scope},
        ).fetchall()
        buildings = cur.execute(
            "select id, grid_id, name, address, lat, lon, floors from buildings "
            "where retired_at is null and (%(scope)s::text is null or grid_id = %(scope)s) "
            "order by id",
            {"scope": scope},
        ).fetchall()
        households = cur.execute(
            "select h.id, h.building_id, h.unit, h.living_alone from households h "
            "join buildings b on b.id = h.building_id where h.retired_at is null "
            "and (%(scope)s::text is null or b.grid_id = %(scope)s) order by h.id",
            {"scope": scope},
        ).fetchall()
    homes: dict[str, list[MapHousehold]] = defaultdict(list)
    for h in households:
        homes[h["building_id"]].append(
            MapHousehold(
                id=h["id"],
                unit=h["unit"],
                living_alone=h["living_alone"],
                status=status_of.get(h["id"], "ok"),
            )
        )
    by_grid: dict[str, list[MapBuilding]] = defaultdict(list)
    for b in buildings:
        inside = homes.get(b["id"], [])
        by_grid[b["grid_id"]].append(
            MapBuilding(**b, households=inside, status=_worst([h.status for h in inside]))
        )
    return DistrictMap(
        grids=[
            MapGrid(
                **g,
                buildings=by_grid.get(g["id"], []),
                status=_worst([b.status for b in by_grid.get(g["id"], [])]),
            )
            for g in grids
        ]
    )


@router.get("/{grid_id}")
def get_grid(grid_id: Key, conn: SessionDep, user: RegistryReader) -> GridPublic:
    found = fetch_one(
        conn, GridPublic, f"{_SELECT} and g.id = %(id)s", {"scope": grid_scope(user), "id": grid_id}
    )
    if found is None:
        raise not_found("grid")
    return found


@router.post("", status_code=status.HTTP_201_CREATED)
def create_grid(
    body: GridCreate, conn: SessionDep, user: GridWriter, audit: AuditDep
) -> GridPublic:
    if conn.execute("select 1 from sites where id = %s", (body.site_id,)).fetchone() is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown site_id")
    if conn.execute("select 1 from grids where id = %s", (body.id,)).fetchone():
        raise HTTPException(status.HTTP_409_CONFLICT, "a grid with this id exists")
    conn.execute(
        "insert into grids (id, site_id, name, name_en, geometry) values (%s, %s, %s, %s, %s)",
        (body.id, body.site_id, body.name, body.name_en, _json(body.geometry)),
    )
    audit("grid.create", f"grid:{body.id}")
    return get_grid(body.id, conn, user)


@router.patch("/{grid_id}")
def update_grid(
    grid_id: Key, body: GridUpdate, conn: SessionDep, user: GridWriter, audit: AuditDep
) -> GridPublic:
    fields = body.model_dump(exclude_unset=True)
    if "geometry" in fields:
        fields["geometry"] = _json(fields["geometry"])
    if not update_row(conn, table="grids", key="id", key_value=grid_id, fields=fields):
        raise not_found("grid")
    audit("grid.update", f"grid:{grid_id}", {"fields": sorted(fields)})
    return get_grid(grid_id, conn, user)


def _json(value: dict[str, Any] | None) -> Jsonb | None:
    return Jsonb(value) if value is not None else None


@router.get("/{grid_id}/buildings")
def list_buildings(grid_id: Key, conn: SessionDep, user: RegistryReader) -> list[BuildingPublic]:
    get_grid(grid_id, conn, user)
    return fetch_all(
        conn,
        BuildingPublic,
        "select id, grid_id, name, address, lat, lon, floors from buildings "
        "where grid_id = %s and retired_at is null order by id",
        (grid_id,),
    )


@router.post("/{grid_id}/buildings", status_code=status.HTTP_201_CREATED)
def create_building(
    grid_id: Key, body: BuildingCreate, conn: SessionDep, user: RegistryWriter, audit: AuditDep
) -> BuildingPublic:
    get_grid(grid_id, conn, user)
    if conn.execute("select 1 from buildings where id = %s", (body.id,)).fetchone():
        raise HTTPException(status.HTTP_409_CONFLICT, "a building with this id exists")
    conn.execute(
        "insert into buildings (id, grid_id, name, address, lat, lon, floors) "
        "values (%s, %s, %s, %s, %s, %s, %s)",
        (body.id, grid_id, body.name, body.address, body.lat, body.lon, body.floors),
    )
    audit("building.create", f"building:{body.id}", {"grid": grid_id})
    return BuildingPublic(grid_id=grid_id, **body.model_dump())


@router.delete("/{grid_id}", status_code=status.HTTP_204_NO_CONTENT)
def retire_grid(grid_id: Key, conn: SessionDep, user: GridWriter, audit: AuditDep) -> None:
    """Retire (keep the history, stop listing); refused while buildings or members remain."""
    get_grid(grid_id, conn, user)
    row = conn.execute(
        "select (select count(*) from buildings where grid_id = %(g)s and retired_at is null), "
        "(select count(*) from users where grid_id = %(g)s and disabled_at is null)",
        {"g": grid_id},
    ).fetchone()
    buildings, members = row if row is not None else (0, 0)
    if buildings or members:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{buildings} buildings and {members} grid members remain: move or retire them first",
        )
    update_row(conn, table="grids", key="id", key_value=grid_id, fields={"retired_at": now()})
    audit("grid.retire", f"grid:{grid_id}")
