from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from console.api.models.common import Body, Key
from vigil.broker_sessions import LiveSession


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


class LiveSessionOutcome(BaseModel):
    """What became of the gateway's connected MQTT session after a revocation, retirement or
    new credentials (docs/security.md)."""

    live_session: LiveSession | None = Field(
        default=None,
        description="ended / not_connected: it is not connected any more; unconfirmed: EMQX "
        "did not answer, it may stay connected until it reconnects (its login is refused); "
        "not_checked: no EMQX API configured; null: nothing to end, or the broker (Mosquitto) "
        "ends it itself",
    )


class GatewayRevoked(GatewayPublic, LiveSessionOutcome):
    pass
