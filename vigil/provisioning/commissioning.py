"""Commissioning a device: did its test signal come through gateway, broker, ingest and the
detectors, how fast, and if not, where did it stop.

Pure decisions over facts gathered by the console API (registry rows, the gateway's retained
status, what the broker delivered, what the database stored); handed `now`, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Stop(StrEnum):
    """Where a test signal stopped, in the order a signal travels."""

    UNKNOWN_DEVICE = "unknown_device"
    NO_GATEWAY = "no_gateway"
    GATEWAY_OFFLINE = "gateway_offline"
    NOTHING_RECEIVED = "nothing_received"
    NOT_STORED = "not_stored"
    NO_ALERT = "no_alert"


ADVICE: dict[Stop, str] = {
    Stop.UNKNOWN_DEVICE: "register it first: vigil device add",
    Stop.NO_GATEWAY: "register the gateway (vigil gateway add) or bind the device to one",
    Stop.GATEWAY_OFFLINE: "check the gateway's power, network and broker credentials",
    Stop.NOTHING_RECEIVED: "check the device is paired with this gateway and in radio range",
    Stop.NOT_STORED: "the broker had it but ingest stored nothing: is ingest running?",
    Stop.NO_ALERT: "stored, but the detectors raised no alert: are the detectors running?",
}

# Event kinds that count as a test signal, and (kind, value) pairs the detectors must turn into
# an alert: a press (button 1.0) raises a panic alert, a failed self-test (0.0) a trouble one.
# Foreign devices (zigbee2mqtt) declare their state: a test button gives `self_test` (or, on a
# detector with no test flag, its own alarm), a PIR or door contact a `motion` / `door` event.
DECLARED_ALARMS = frozenset({"smoke_alarm", "heat_alarm", "co_alarm", "gas_alarm", "water_leak"})
SIGNAL_KINDS = frozenset({"button", "self_test", "alarm", "tamper", "motion", "door"})
SIGNAL_KINDS |= DECLARED_ALARMS
SIGNAL_METRICS = frozenset({"motion", "door"})  # PIR and door changes travel as readings
_ALERTING = {("button", 1.0), ("self_test", 0.0), ("alarm", 1.0)}
_ALERTING |= {(kind, 1.0) for kind in DECLARED_ALARMS}


def alert_expected(kind: str, value: float | None) -> bool:
    return (kind, value) in _ALERTING


@dataclass(frozen=True)
class DeviceFacts:
    id: str
    device_type: str
    gateway_id: str | None
    retired: bool


@dataclass(frozen=True)
class GatewayFacts:
    id: str
    site_id: str
    revoked: bool
    retired: bool
    db_status: str  # gateways.status: unknown, online, offline


@dataclass(frozen=True)
class StatusFacts:
    """The gateway's retained status on the broker (None: it never published one)."""

    state: str
    ts: float


def precheck(
    device: DeviceFacts | None,
    gateway: GatewayFacts | None,
    status: StatusFacts | None,
    device_id: str,
) -> tuple[Stop, str] | None:
    """Why no signal can arrive at all, or None to go on and wait for one."""
    if device is None or device.retired:
        what = "retired" if device is not None else "not registered"
        return Stop.UNKNOWN_DEVICE, f"device {device_id} is {what}"
    if device.gateway_id is None or gateway is None:
        return Stop.NO_GATEWAY, f"device {device_id} has no registered gateway"
    if gateway.retired or gateway.revoked:
        state = "retired" if gateway.retired else "revoked"
        return Stop.NO_GATEWAY, f"gateway {gateway.id} is {state}"
    if status is None:
        return Stop.GATEWAY_OFFLINE, f"gateway {gateway.id} has never connected to the broker"
    if status.state != "online":
        return Stop.GATEWAY_OFFLINE, f"gateway {gateway.id} is offline (its last will was read)"
    return None


@dataclass
class Seen:
    """Per-hop times (epoch seconds) of the first test signal observed; None: not yet."""

    kind: str | None = None
    value: float | None = None
    seq: int | None = None
    device_ts: float | None = None  # the device's own timestamp
    gateway_rx: float | None = None  # when the gateway received the frame
    broker_at: float | None = None  # when the broker delivered it to the console's watcher
    stored_at: float | None = None  # ingest: when the row was seen in the database
    alert_at: float | None = None  # the detectors' alert decided_at
    alert_kind: str | None = None
    dead_letters: list[dict[str, Any]] = field(default_factory=list)

    def hops_ms(self) -> dict[str, float]:
        """Milliseconds spent on each hop that was observed at both ends."""
        chain = [
            ("device→gateway", self.device_ts, self.gateway_rx),
            ("gateway→broker", self.gateway_rx, self.broker_at),
            ("broker→stored", self.broker_at or self.gateway_rx, self.stored_at),
            ("stored→alert", self.stored_at, self.alert_at),
        ]
        return {
            name: round((end - start) * 1000, 1)
            for name, start, end in chain
            if start is not None and end is not None
        }

    def latency_ms(self) -> float | None:
        """Device timestamp to the last hop seen."""
        last = self.alert_at or self.stored_at or self.broker_at
        if self.device_ts is None or last is None:
            return None
        return round((last - self.device_ts) * 1000, 1)


@dataclass(frozen=True)
class Verdict:
    passed: bool
    stop: Stop | None
    message: str


def verdict(seen: Seen, *, timed_out: bool) -> Verdict | None:
    """Pass once the signal is stored (and alerted on when it should be); at the deadline, the
    hop where it stopped. None: keep waiting."""
    if seen.stored_at is not None:
        needs_alert = seen.kind is not None and alert_expected(seen.kind, seen.value)
        if not needs_alert or seen.alert_at is not None:
            via = f" and alert {seen.alert_kind}" if seen.alert_at is not None else ""
            return Verdict(True, None, f"{seen.kind} signal stored{via}")
        if timed_out:
            return Verdict(False, Stop.NO_ALERT, f"{seen.kind} signal stored, but no alert")
        return None
    if not timed_out:
        return None
    reasons = sorted({str(d.get("reason")) for d in seen.dead_letters})
    dead = f"; dead-lettered by ingest: {', '.join(reasons)}" if reasons else ""
    if seen.broker_at is not None:
        return Verdict(False, Stop.NOT_STORED, f"the broker delivered it, ingest stored none{dead}")
    return Verdict(False, Stop.NOTHING_RECEIVED, f"no signal from the device{dead}")
