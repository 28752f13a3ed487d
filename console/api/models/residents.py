from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from console.api.models.common import Body, Key, Language, LongText, Page, Phone, Text

Mobility = Literal["independent", "walking_aid", "wheelchair", "bedridden"]


class ResidentBase(BaseModel):
    household_id: Key
    name: Text
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    phone: Phone | None = None
    language: Language = "zh"
    medical_notes: LongText | None = Field(
        default=None, description="never in SMS; hidden from installers"
    )
    mobility: Mobility | None = Field(
        default=None, description="how the resident moves, shown with a panic press"
    )


class ResidentCreate(ResidentBase, Body):
    pass


class ResidentUpdate(Body):
    name: Text | None = None
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    phone: Phone | None = None
    language: Language | None = None
    medical_notes: LongText | None = None
    mobility: Mobility | None = None


class ResidentPublic(ResidentBase):
    id: int
    age: int | None
    living_alone: bool
    address: str
    grid_id: str
    created_at: datetime


class ResidentsPublic(Page):
    items: list[ResidentPublic]
