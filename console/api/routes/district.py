"""The district map (issue 22): sites with their streets, grids, buildings with footprints,
households and their open incidents, for the console's map on a base map or on its own."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import APIRouter
from psycopg.rows import dict_row
from pydantic import BaseModel, Field

from console.api.deps import RegistryReader, SessionDep, grid_scope
from console.api.roles import Perm, allows

router = APIRouter(prefix="/district", tags=["grids"])

_RANK = {"alarm": 1, "supervisory": 2, "trouble": 3}


class OpenIncident(BaseModel):
    id: int
    cause: str
    signal: str
    state: str


class DistrictHousehold(BaseModel):
    id: str
    unit: str
    living_alone: bool
    status: str
    incidents: list[OpenIncident]


class DistrictBuilding(BaseModel):
    id: str
    grid_id: str
    name: str
    address: str
    lat: float | None
    lon: float | None
    floors: int | None
    footprint: dict[str, Any] | None
    status: str = Field(description="alarm, supervisory, trouble or ok: the worst open incident")
    unacknowledged: bool = Field(description="an open alarm nobody has acknowledged: it pulses")
    households: list[DistrictHousehold]


class DistrictGrid(BaseModel):
    id: str
    site_id: str
    name: str
    name_en: str | None
    geometry: dict[str, Any] | None
    status: str


class DistrictSite(BaseModel):
    id: str
    name: str
    name_en: str | None
    streets: dict[str, Any] | None


class DistrictMapData(BaseModel):
    sites: list[DistrictSite]
    grids: list[DistrictGrid]
    buildings: list[DistrictBuilding]


def _worst(statuses: list[str]) -> str:
    ranked = [s for s in statuses if s in _RANK]
    return min(ranked, key=_RANK.__getitem__) if ranked else "ok"


@router.get("/map")
def district_map(conn: SessionDep, user: RegistryReader) -> DistrictMapData:
    """Everything the map draws; open incidents only for those who may read incidents."""
    scope = grid_scope(user)
    with conn.cursor(row_factory=dict_row) as cur:
        grids = cur.execute(
            "select id, site_id, name, name_en, geometry from grids where retired_at is null "
            "and (%(scope)s::text is null or id = %(scope)s) order by id",
            {"scope": scope},
        ).fetchall()
        sites = cur.execute(
            "select id, name, name_en, streets from sites where retired_at is null "
            "and id = any(%s) order by id",
            (list({g["site_id"] for g in grids}),),
        ).fetchall()
        buildings = cur.execute(
            "select id, grid_id, name, address, lat, lon, floors, footprint from buildings "
            "where retired_at is null and (%(scope)s::text is null or grid_id = %(scope)s) "
            "order by id",
            {"scope": scope},
        ).fetchall()
        households = cur.execute(
            "select h.id, h.building_id, h.unit, h.living_alone from households h "
            "join buildings b on b.id = h.building_id where h.retired_at is null "
            "and (%(scope)s::text is null or b.grid_id = %(scope)s) order by h.building_id, h.id",
            {"scope": scope},
        ).fetchall()
        incidents = (
            cur.execute(
                "select id, household_id, cause, signal, state from incidents "
                "where closed_at is null and household_id is not null order by id"
            ).fetchall()
            if allows(user.role, Perm.INCIDENTS_READ)
            else []
        )
    by_household: dict[str, list[OpenIncident]] = defaultdict(list)
    for i in incidents:
        by_household[i.pop("household_id")].append(OpenIncident.model_validate(i))
    homes: dict[str, list[DistrictHousehold]] = defaultdict(list)
    for h in households:
        open_ = by_household.get(h["id"], [])
        homes[h.pop("building_id")].append(
            DistrictHousehold(**h, status=_worst([i.signal for i in open_]), incidents=open_)
        )
    out_buildings = []
    grid_status: dict[str, list[str]] = defaultdict(list)
    for b in buildings:
        its = homes.get(b["id"], [])
        status = _worst([h.status for h in its])
        grid_status[b["grid_id"]].append(status)
        unacked = any(i.signal == "alarm" and i.state == "new" for h in its for i in h.incidents)
        out_buildings.append(
            DistrictBuilding(**b, status=status, unacknowledged=unacked, households=its)
        )
    return DistrictMapData(
        sites=[DistrictSite.model_validate(s) for s in sites],
        grids=[DistrictGrid(**g, status=_worst(grid_status.get(g["id"], []))) for g in grids],
        buildings=out_buildings,
    )
