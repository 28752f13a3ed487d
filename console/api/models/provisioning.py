"""Models of the installers' endpoints: sites, buildings, broker credentials, device
replacement, bulk import and commissioning."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from console.api.models.common import Body, Key, Text
from console.api.models.gateways import GatewayPublic, LiveSessionOutcome

SiteId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
WireId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]


class SiteBase(BaseModel):
    name: Text
    name_en: Text | None = None
    district: Text | None = None


class SiteCreate(SiteBase, Body):
    id: SiteId


class SiteUpdate(Body):
    name: Text | None = None
    name_en: Text | None = None
    district: Text | None = None


class SitePublic(SiteBase):
    id: str
    created_at: datetime
    grids: int
    gateways: int


class BuildingUpdate(Body):
    name: Text | None = None
    address: Text | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    floors: int | None = Field(default=None, ge=1, le=200)


class BuildingDetail(BaseModel):
    id: str
    grid_id: str
    site_id: str
    name: str
    address: str
    lat: float | None
    lon: float | None
    floors: int | None
    households: int
    gateways: int
    created_at: datetime


class BrokerCredentials(BaseModel):
    """Shown once: the broker keeps only a salted hash of the password."""

    username: str
    password: str
    topics: list[str] = Field(description="what the account may publish and subscribe to")


class GatewayProvisioned(GatewayPublic, LiveSessionOutcome):
    credentials: BrokerCredentials


class DeadLetterReason(BaseModel):
    reason: str
    letters: int
    last_at: datetime
    example: str | None


class GatewayDeadLetters(BaseModel):
    """What ingest refused from this gateway (for example devices registered elsewhere)."""

    gateway_id: str
    since: datetime
    total: int
    reasons: list[DeadLetterReason]


class DeviceReplace(Body):
    new_id: WireId
    device_type: Key | None = Field(
        default=None, description="the new device's type when the model changes [the old one's]"
    )


class DeviceHistoryEntry(BaseModel):
    id: str
    device_type: str
    installed_at: datetime
    retired_at: datetime | None
    replaced_by: str | None


class ImportRow(BaseModel):
    row: int = Field(ge=1, description="the file's line number, for error messages")
    cells: dict[str, Annotated[str, StringConstraints(max_length=4000)]]


class ImportRequest(Body):
    rows: list[ImportRow] = Field(max_length=100_000)
    dry_run: bool = Field(default=False, description="check only, write nothing")


class ImportProblem(BaseModel):
    row: int
    column: str | None
    message: str


class ImportResult(BaseModel):
    imported: bool
    counts: dict[str, int]
    credentials: list[BrokerCredentials] = Field(
        default_factory=list, description="one per new gateway, shown once"
    )


class ImportRejection(BaseModel):
    message: str
    errors: list[ImportProblem]


class TestRequest(Body):
    mode: Literal["press", "command"] = Field(
        default="press",
        description="press: the installer presses the test button; command: send self_test",
    )
    timeout_s: float = Field(default=60.0, ge=1.0, le=600.0)


class TestLine(BaseModel):
    """One line of the test's NDJSON stream: progress steps, then one `result`."""

    step: Literal["checks", "waiting", "seen", "result"]
    message: str
    passed: bool | None = None
    stopped_at: str | None = None
    latency_ms: float | None = None
    hops_ms: dict[str, float] | None = None
    detail: dict[str, Any] | None = None
