from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from alerting.lifecycle import Action, State
from console.api.models.common import BigId, Body, LongText


class IncidentBase(BaseModel):
    household_id: str | None
    cause: str
    signal: str = Field(description="alarm, supervisory or trouble")
    severity: int


class IncidentPublic(IncidentBase):
    id: int
    state: State
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    assigned_to: int | None
    assignee_name: str | None
    escalation_tier: int
    hops: dict[str, Any]
    grid_id: str | None
    address: str | None
    living_alone: bool | None
    residents: list[str]
    actions: list[Action] = Field(description="what the signed-in user may do now")


class IncidentsPublic(BaseModel):
    total: int
    items: list[IncidentPublic]


class ActionRequest(Body):
    action: Action
    note: LongText | None = None
    assignee_id: BigId | None = Field(default=None, description="for dispatch: who goes")


class TimelineEntry(BaseModel):
    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str | None
    note: str | None


class AlertPublic(BaseModel):
    id: int
    device_id: str
    kind: str
    signal: str
    severity: int
    score: float
    reason: str
    evidence: dict[str, Any]
    ts: datetime
    received_at: datetime
    decided_at: datetime


class NotificationPublic(BaseModel):
    id: int
    channel: str
    recipient: str
    language: str
    body: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None


class ContactCard(BaseModel):
    name: str
    relation: str | None
    phone: str
    priority: int


class ResidentCard(BaseModel):
    id: int
    name: str
    age: int | None
    phone: str | None
    language: str
    medical_notes: str | None
    contacts: list[ContactCard]


class SourceEvent(BaseModel):
    """The device event behind an alert, as its source reported it (a DC-09 panel's account,
    zone and code; a hub's model): what an operator calls the installer about."""

    alert_id: int
    time: datetime
    device_id: str
    kind: str
    value: float | None
    source: str | None = None
    account: str | None = None
    zone: str | None = None
    code: str | None = None
    room: str | None = None
    name: str | None = None
    name_en: str | None = None
    text: str | None = None


class IncidentDetail(BaseModel):
    incident: IncidentPublic
    household_notes: str | None
    residents: list[ResidentCard]
    timeline: list[TimelineEntry]
    alerts: list[AlertPublic]
    notifications: list[NotificationPublic]
    source_events: list[SourceEvent] = []


class Series(BaseModel):
    device_id: str
    device_type: str
    room: str | None
    metric: str
    unit: str
    points: list[tuple[float, float]] = Field(description="(seconds from t0, value)")


class SensorCurves(BaseModel):
    t0: datetime = Field(description="the first alert's device time, else the incident's opening")
    source: str = Field(description="readings (raw) or readings_1m (one-minute rollups)")
    series: list[Series]


class Responder(BaseModel):
    id: int
    display_name: str
    role: str
    grid_id: str | None
    department: str | None
