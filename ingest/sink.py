"""The hand-off from ingest to the detectors: every accepted message, before the database commit.

Ingest calls `submit()` on its decoding thread right after a message is decoded and checked,
so detectors see a reading within milliseconds of its arrival and never wait for PostgreSQL.
Delivery is at least once and in arrival order per site (hence per device, docs/ingest.md):
a redelivered message (broker redelivery after a reconnect or a restart, `redelivered` True,
or a gateway replay) may repeat readings already submitted. A detector keeps, per device, the
newest timestamp it has seen and skips readings not newer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ingest.columns import Readings
from ingest.gateway_status import GatewayStatus
from ingest.registry import RegistrySnapshot
from ingest.validate import EventRow


# Made several times per message, never changed: not `frozen`, whose __init__ costs ~6x more.
@dataclass(slots=True)
class ReadingBatch:
    """One message's accepted readings and events.

    `readings.device` holds registry slots: `registry.device_ids[slot]` is the id and
    `registry.device_type[slot]` the type code (`ingest.registry.DEVICE_TYPES`); slots are
    stable for the life of the process, so detector state can live in arrays indexed by them.
    `readings.metric` holds codes into `ingest.registry.METRICS`.
    """

    gateway: str
    gseq: int
    received: float  # ingest's wall clock when the message arrived, for latency
    redelivered: bool
    registry: RegistrySnapshot
    readings: Readings
    events: tuple[EventRow, ...]


class BatchSink(Protocol):
    """Where decoded batches go. `submit` must return quickly: queue, do not compute."""

    def submit(self, batch: ReadingBatch) -> None: ...


@runtime_checkable
class FollowsGatewayStatus(Protocol):
    """A sink that also wants the gateways' status (the detector stage: gateway offline)."""

    def on_gateway_status(self, status: GatewayStatus) -> None: ...
