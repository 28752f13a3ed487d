from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from console.api.models.common import Body, Key, Page, Text


class DeviceBase(BaseModel):
    device_type: Key
    gateway_id: Key
    household_id: Key | None = None
    room: Text | None = None


class DeviceCreate(DeviceBase, Body):
    id: Key
    source: Key = Field("vigil", description="vigil, or a foreign source: zigbee2mqtt, dc09, ...")
    model: Text | None = None
    external_id: Text | None = Field(None, description="the source's id: IEEE address, IMEI ...")
    supervision_s: float | None = Field(
        None, gt=0, le=30 * 86400, description="its own heartbeat, overriding its type's"
    )


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
    poor_signal: bool = Field(
        default=False, description="an NB-IoT device whose last RSRP is -110 dBm or weaker"
    )
    rsrp_dbm: float | None = Field(default=None, description="its last RSRP, if it reports one")


class DevicePublic(DeviceBase):
    id: str
    source: str = "vigil"
    model: str | None = None
    external_id: str | None = None
    supervision_s: float | None = None
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
    poor_signal: int = 0


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
