"""The grid member's mobile app: tasks, their detail and the field actions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from pydantic import BaseModel, Field

from alerting.field import OUTCOMES
from console.api.models.common import Body, LongText
from console.api.models.incidents import ResidentCard, TimelineEntry

OutcomeCode = Literal[
    "fire_out",
    "cooking",
    "fell_helped",
    "hospital",
    "unwell_helped",
    "nobody_home",
    "false_press",
    "device_fault",
    "other",
]
assert {o.code for o in OUTCOMES} == set(get_args(OutcomeCode)), "alerting.field.OUTCOMES"


class Task(BaseModel):
    id: int
    cause: str
    signal: str
    severity: int
    state: str
    opened_at: datetime
    mine: bool = Field(description="dispatched to the signed-in user")
    assignee_name: str | None
    accepted_at: datetime | None
    arrived_at: datetime | None
    grid_id: str | None
    household_id: str | None
    building_name: str | None
    address: str | None
    unit: str | None
    lat: float | None
    lon: float | None
    living_alone: bool | None
    next_deadline: datetime | None = Field(description="when the incident escalates next")
    deadline_stage: str | None = Field(description="acknowledge, dispatch or arrive")


class Tasks(BaseModel):
    now: datetime = Field(description="the server's clock, for the phone's countdowns")
    items: list[Task]


class Photo(BaseModel):
    id: int
    sha256: str
    size_bytes: int
    content_type: str
    received_at: datetime
    url: str


class OutcomeOption(BaseModel):
    code: str
    zh: str
    en: str


class TaskDetail(BaseModel):
    now: datetime
    task: Task
    household_notes: str | None
    residents: list[ResidentCard]
    timeline: list[TimelineEntry]
    photos: list[Photo]
    can: list[Literal["accept", "arrive", "note", "photo", "resolve"]]
    outcomes: list[OutcomeOption]


class FieldAction(Body):
    """`taken_at`: when the member acted, for an action the phone queued while offline."""

    taken_at: datetime | None = None


class ArriveRequest(FieldAction):
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000)


class NoteRequest(FieldAction):
    note: LongText = Field(min_length=1)


class ResolveRequest(FieldAction):
    outcome: OutcomeCode
    note: LongText | None = None


class FieldResult(BaseModel):
    """The answer to an action; a replay of the same action id gets it again."""

    ok: bool
    state: str
    detail: str | None = None
    distance_m: float | None = None
    photo: Photo | None = None


class PushKey(BaseModel):
    public_key: str | None = Field(description="the VAPID public key; null: push is off")


class PushSubscription(Body):
    endpoint: str = Field(min_length=8, max_length=2000, pattern=r"^https?://")
    p256dh: str = Field(min_length=16, max_length=200)
    auth: str = Field(min_length=8, max_length=100)
