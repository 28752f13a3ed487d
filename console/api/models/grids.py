from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from console.api.models.common import Body, Key, Text


class GridBase(BaseModel):
    name: Text
    name_en: Text | None = None
    geometry: dict[str, Any] | None = Field(default=None, description="GeoJSON polygon")


class GridCreate(GridBase, Body):
    id: Key
    site_id: Key


class GridUpdate(Body):
    name: Text | None = None
    name_en: Text | None = None
    geometry: dict[str, Any] | None = None


class GridPublic(GridBase):
    id: str
    site_id: str
    created_at: datetime
    households: int
    open_incidents: int


class BuildingBase(BaseModel):
    name: Text
    address: Text
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    floors: int | None = Field(default=None, ge=1, le=200)


class BuildingCreate(BuildingBase, Body):
    id: Key


class BuildingPublic(BuildingBase):
    id: str
    grid_id: str


class MapHousehold(BaseModel):
    id: str
    unit: str
    living_alone: bool
    status: str = Field(description="alarm, supervisory, trouble or ok: the worst open incident")


class MapBuilding(BuildingPublic):
    status: str
    households: list[MapHousehold]


class MapGrid(BaseModel):
    id: str
    name: str
    name_en: str | None
    geometry: dict[str, Any] | None
    status: str
    buildings: list[MapBuilding]


class DistrictMap(BaseModel):
    grids: list[MapGrid]
