from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from console.api.models.common import Body, Key, LongText, Page, Text


class HouseholdBase(BaseModel):
    building_id: Key
    unit: Text
    living_alone: bool = False
    away_until: datetime | None = None
    notes: LongText | None = None


class HouseholdCreate(HouseholdBase, Body):
    id: Key


class HouseholdUpdate(Body):
    building_id: Key | None = None
    unit: Text | None = None
    living_alone: bool | None = None
    away_until: datetime | None = None
    notes: LongText | None = None


class HouseholdPublic(HouseholdBase):
    id: str
    grid_id: str
    address: str
    building_name: str
    residents: list[str]
    created_at: datetime


class HouseholdsPublic(Page):
    items: list[HouseholdPublic]
