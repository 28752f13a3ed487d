"""The receiver's sink on the shared foreign-source bridge (gateway/bridge.py): its events go
out at once with a future resolved on the broker's PUBACK, its readings batched as telemetry."""

from __future__ import annotations

from concurrent.futures import Future

from gateway.bridge import Bridge, Reading
from gateway.platforms.state import ReadingRow
from vigil.codec import Event


class BridgeSink:
    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge

    def emit(self, events: list[Event]) -> Future[int]:
        return self.bridge.emit(events)

    def read(self, readings: list[ReadingRow]) -> None:
        self.bridge.read(Reading(r.dev, r.metric, r.value, r.ts, r.seq, r.rx) for r in readings)
