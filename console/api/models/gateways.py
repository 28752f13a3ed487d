from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from console.api.models.common import Body, Key


class GatewayBase(BaseModel):
    site_id: Key
    building_id: Key | None = None
    mqtt_username: Key


class GatewayCreate(GatewayBase, Body):
    id: Key


class GatewayUpdate(Body):
    building_id: Key | None = None
    revoked: bool | None = None


class GatewayPublic(GatewayBase):
    id: str
    status: Literal["unknown", "online", "offline"]  # from its status messages and last will
    status_since: datetime | None
    last_seen: datetime | None
    devices: int
    revoked_at: datetime | None
    created_at: datetime
