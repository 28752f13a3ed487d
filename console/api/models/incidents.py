from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

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
    expected_state: State | None = Field(
        default=None,
        description="the state the operator saw; if the incident has moved on since, the action "
        "is refused with 409 and who moved it, instead of overwriting their work",
    )


class TimelineEntry(BaseModel):
    at: datetime
    actor: str
    actor_name: str | None = Field(default=None, description="the user's display name")
    action: str
    from_state: str | None
    to_state: str | None
    note: str | None
    code: str | None = Field(default=None, description="catalogue code of a system sentence")
    params: dict[str, Any] | None = None
    text: str | None = Field(
        default=None, description="the system sentence in the reader's language, or the note"
    )


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
    rule: str | None = None
    room: str | None = None
    device_type: str | None = None
    text: str = Field(default="", description="the reason in the reader's language")


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
    recipient_name: dict[str, str] | None = Field(
        default=None, description="a console tier's title, {zh, en}, for a console notice"
    )


class ContactCard(BaseModel):
    name: str
    relation: str | None
    phone: str
    priority: int
    has_key: bool = False


class ResidentCard(BaseModel):
    id: int
    name: str
    age: int | None
    phone: str | None
    language: str
    medical_notes: str | None
    mobility: str | None = None
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


class Presence(BaseModel):
    user_id: int
    display_name: str
    activity: str = Field(description="viewing or handling")
    seen_at: datetime


class PresenceRequest(Body):
    activity: Literal["viewing", "handling", "left"]


class DeviceCard(BaseModel):
    id: str
    device_type: str
    room: str | None
    household_id: str | None
    unit: str | None = None
    last_seen: datetime | None = None
    battery_v: float | None = None


class Activity(BaseModel):
    at: datetime
    device_id: str
    device_type: str
    room: str | None
    metric: str
    value: float


class RuleFired(BaseModel):
    device_id: str
    kind: str
    rule: str | None
    thresholds: dict[str, float]
    text: str


class HistoryItem(BaseModel):
    ts: datetime
    device_id: str
    kind: str
    rule: str | None
    text: str
    incident_id: int | None


class Evidence(BaseModel):
    """What this kind of alarm needs on screen: see docs/console.md, "Evidence"."""

    layout: str = Field(description="panic, fire, trouble, inactivity or other")
    devices: list[DeviceCard] = Field(description="the devices that raised the alerts")
    last_activity: Activity | None = Field(
        default=None, description="the household's latest motion, door or button reading"
    )
    key_holders: list[ContactCard] = []
    building_devices: list[DeviceCard] = Field(
        default=[], description="for a fire: every detector of the household and the building"
    )
    rules: list[RuleFired] = []
    history: list[HistoryItem] = Field(
        default=[], description="for a device trouble: the device's alerts, newest first"
    )
    hooks: dict[str, Any] = Field(
        default={}, description="reserved for cooking/hush (issue 16) and routine (issue 15)"
    )


class IncidentDetail(BaseModel):
    incident: IncidentPublic
    household_notes: str | None
    residents: list[ResidentCard]
    timeline: list[TimelineEntry]
    alerts: list[AlertPublic]
    notifications: list[NotificationPublic]
    source_events: list[SourceEvent] = []
    evidence: Evidence | None = None
    presence: list[Presence] = []
    building: str | None = None
    unit: str | None = None


class HandoverItem(BaseModel):
    incident: IncidentPublic
    last: TimelineEntry | None
    presence: list[Presence]


class Handover(BaseModel):
    at: datetime
    open: list[HandoverItem]


class Series(BaseModel):
    device_id: str
    device_type: str
    room: str | None
    metric: str
    unit: str
    points: list[tuple[float, float]] = Field(description="(seconds from t0, value)")
    household_id: str | None = None
    unit_no: str | None = Field(default=None, description="the household's flat")


class Threshold(BaseModel):
    metric: str
    value: float
    device_id: str | None = Field(default=None, description="the device whose rule it is")
    rule: str | None = None


class SensorCurves(BaseModel):
    t0: datetime = Field(description="the first alert's device time, else the incident's opening")
    source: str = Field(description="readings (raw) or readings_1m (one-minute rollups)")
    series: list[Series]
    scope: str = Field(default="household", description="household, building or device")
    thresholds: list[Threshold] = []


class Responder(BaseModel):
    id: int
    display_name: str
    role: str
    grid_id: str | None
    department: str | None
