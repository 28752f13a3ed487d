from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from console.api.models.common import BigId, Body, Language, Page, Phone, Text


class ContactBase(BaseModel):
    resident_id: BigId
    name: Text
    relation: Text | None = None
    phone: Phone
    language: Language = "zh"
    priority: int = Field(default=1, ge=1, le=9, description="1 is called first")
    has_key: bool = Field(default=False, description="holds a key to the home")


class ContactCreate(ContactBase, Body):
    pass


class ContactUpdate(Body):
    name: Text | None = None
    relation: Text | None = None
    phone: Phone | None = None
    language: Language | None = None
    priority: int | None = Field(default=None, ge=1, le=9)
    has_key: bool | None = None


class ContactPublic(ContactBase):
    id: int
    resident_name: str
    household_id: str
    created_at: datetime


class ContactsPublic(Page):
    items: list[ContactPublic]
