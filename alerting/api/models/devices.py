from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from alerting.api.models.common import Body, Key, Page, Text


class DeviceBase(BaseModel):
    device_type: Key
    gateway_id: Key
    household_id: Key | None = None
    room: Text | None = None


class DeviceCreate(DeviceBase, Body):
    id: Key


class DeviceUpdate(Body):
    household_id: Key | None = None
    room: Text | None = None
    gateway_id: Key | None = None


class DeviceHealth(BaseModel):
    offline: bool = Field(
        description="no report for two heartbeats (a device never heard from: since installed)"
    )
    low_battery: bool
    dirty: bool = Field(description="the detector reported a dirty chamber or failed self-test")
    tamper: bool
    fault: bool


class DevicePublic(DeviceBase):
    id: str
    grid_id: str | None
    address: str | None
    installed_at: datetime
    last_seen: datetime | None
    battery_v: float | None
    health: DeviceHealth


class DevicesPublic(Page):
    items: list[DevicePublic]


class GridHealth(BaseModel):
    grid_id: str | None
    devices: int
    offline: int
    low_battery: int
    dirty: int
    tamper: int
    fault: int


class BrokerHealth(BaseModel):
    """The broker's queues (ingest/broker_watch.py): `shedding` when it dropped messages lately."""

    broker: str
    dropped: int
    store_bytes: int | None
    last_drop_at: datetime | None
    shedding: bool


class HealthSummary(BaseModel):
    grids: list[GridHealth]
    brokers: list[BrokerHealth] = []
