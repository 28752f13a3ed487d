"""Checks against the registry and the clock: what is stored, and what is dead-lettered and why.

Whole columns are checked at once: one reason code per reading, then one dead letter per reason
present in the message, carrying a few examples and the count. Good readings of a message with
some bad ones are kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cache

import msgspec
import numpy as np

from ingest import msgpack_columns as mc
from ingest import reading_checks as rc
from ingest.columns import EMPTY, Int64s, Readings
from ingest.deadletter import DeadLetter, Reason
from ingest.registry import (
    EVENT_KINDS,
    METRIC_ALLOWED,
    METRIC_MAX,
    METRIC_MIN,
    NO_GATEWAY,
    NO_TYPE,
    RegistrySnapshot,
    codes,
)
from ingest.wire import MessageKey, RawTelemetry, RejectedError, Uplink, topic_of
from vigil.codec import MAX_MESSAGE_BYTES, Event
from vigil.device_types import DEVICE_TYPES, METRIC_CODE, METRICS
from vigil.topics import TopicError, TopicKind

EXAMPLES = 5
# A message cannot be sent after it arrives: a `sent` ahead of ingest's clock by more than this
# is the gateway's clock running ahead (devices take their time from their gateway), and the
# message's times are moved back by that much, in whole CLOCK_STEP_S, before any check.
# Further ahead than CLOCK_AHEAD_MAX_S the clock is broken, not drifting: the window refuses it.
CLOCK_SLACK_S = 30.0
CLOCK_STEP_S = 60.0
CLOCK_AHEAD_MAX_S = 3600.0


@dataclass(frozen=True)
class Window:
    """How far device and gateway clocks may be from ingest's, ahead and behind."""

    max_future_s: float
    max_age_s: float

    def reason(self, t: float, now: float) -> Reason | None:
        if not math.isfinite(t) or t > now + self.max_future_s:
            return Reason.FUTURE_TIMESTAMP
        if t < now - self.max_age_s:
            return Reason.STALE_TIMESTAMP
        return None


@dataclass(frozen=True, slots=True)
class EventRow:
    slot: int
    device: str
    seq: int
    ts: float
    rx: float
    kind: str
    value: float
    detail: bytes  # JSON, checked to be storable as jsonb


# Made several times per message, never changed: not `frozen`, whose __init__ costs ~6x more.
@dataclass(slots=True)
class Checked:
    """A message after the checks: what to store, what to dead-letter, and its identity.

    `key` is None when the message was refused whole before its identity could be trusted;
    such a message is not remembered for deduplication.
    """

    topic: str
    payload: bytes  # kept until commit, for a dead letter if the database refuses the message
    key: MessageKey | None
    gateway_index: int
    readings: Readings
    events: list[EventRow]
    dead: list[DeadLetter]


def refuse(topic: str, payload: bytes, reason: Reason, detail: str) -> Checked:
    dead = DeadLetter.of(topic, reason, detail, payload)
    return Checked(topic, payload, None, NO_GATEWAY, EMPTY, [], [dead])


def check(
    uplink: Uplink, payload: bytes, registry: RegistrySnapshot, window: Window, now: float
) -> Checked:
    """Split a parsed message into what is stored and what is dead-lettered."""
    uplink, sent = on_ingest_clock(uplink, now)
    try:
        gateway_index = _check_message(uplink, sent, registry, window, now)
    except RejectedError as exc:
        count = len(uplink.telemetry) if uplink.telemetry is not None else len(uplink.events)
        letter = DeadLetter.of(uplink.topic, exc.reason, exc.detail, payload, count)
        return Checked(uplink.topic, payload, None, NO_GATEWAY, EMPTY, [], [letter])
    ctx = _Context(uplink, payload, gateway_index, registry, window, now)
    readings, dead = _check_readings(ctx) if uplink.telemetry is not None else (EMPTY, [])
    events, dead_events = _check_events(ctx)
    return Checked(
        uplink.topic, payload, uplink.key, gateway_index, readings, events, dead + dead_events
    )


# Made several times per message, never changed: not `frozen`, whose __init__ costs ~6x more.
@dataclass(slots=True)
class _Context:
    """One message under check, with what it is checked against."""

    uplink: Uplink
    payload: bytes
    gateway_index: int
    registry: RegistrySnapshot
    window: Window
    now: float

    def dead_letter(self, reason: Reason, detail: str, count: int) -> DeadLetter:
        return DeadLetter.of(self.uplink.topic, reason, detail, self.payload, count)


@cache
def _metric_names() -> mc.NameTable:
    return mc.NameTable.of(list(METRICS))  # by code: METRIC_CODE[METRICS[i]] == i


def check_plain(
    topic: str, payload: bytes, registry: RegistrySnapshot, window: Window, now: float
) -> Checked | None:
    """`check(parse(...))` of the common message, a telemetry batch with nothing to refuse and
    its gateway's clock in step, read by one kernel (`ingest.msgpack_columns`); None for any
    other, which `parse` and `check` then take (and dead-letter, saying why)."""
    try:
        parsed = topic_of(topic)
    except TopicError:
        return None
    gateway = registry.gateways.get(parsed.gateway_id)
    if (
        parsed.kind is not TopicKind.TELEMETRY
        or gateway is None
        or gateway.site != parsed.site
        or len(payload) > MAX_MESSAGE_BYTES
    ):
        return None
    limits = mc.Limits(
        gateway.index,
        registry.device_gateway,
        registry.device_type,
        METRIC_ALLOWED,
        METRIC_MIN,
        METRIC_MAX,
        now - window.max_age_s,
        now + window.max_future_s,
    )
    got = mc.read(payload, registry.name_table(), _metric_names(), limits)
    if got is None or payload[got.gateway[0] : got.gateway[1]] != parsed.gateway_id.encode():
        return None
    ahead = got.sent - now
    if CLOCK_SLACK_S < ahead <= CLOCK_AHEAD_MAX_S or window.reason(got.sent, now) is not None:
        return None  # moved onto ingest's clock first, or refused whole: check's to do
    readings = Readings(got.slot, got.metric, got.seq, got.ts, got.rx, got.value)
    key = MessageKey(parsed.gateway_id, got.gseq, got.sent)
    return Checked(topic, payload, key, gateway.index, readings, [], [])


def on_ingest_clock(uplink: Uplink, now: float) -> tuple[Uplink, float]:
    """The message with its device and gateway times moved onto ingest's clock when its
    gateway's clock runs ahead, and its send time on that clock.

    The step is whole minutes, so a redelivery seconds later gets the same times (the
    identity the repeat checks compare); the key keeps the `sent` the gateway wrote.
    """
    ahead = uplink.key.sent - now
    if not CLOCK_SLACK_S < ahead <= CLOCK_AHEAD_MAX_S:  # NaN too: the window refuses it
        return uplink, uplink.key.sent
    shift = max(1, round(ahead / CLOCK_STEP_S)) * CLOCK_STEP_S
    telemetry = uplink.telemetry
    if telemetry is not None:
        telemetry = replace(telemetry, ts=telemetry.ts - shift, rx=telemetry.rx - shift)
    events = [msgspec.structs.replace(e, ts=e.ts - shift, rx=e.rx - shift) for e in uplink.events]
    return replace(uplink, telemetry=telemetry, events=events), uplink.key.sent - shift


def _check_message(
    uplink: Uplink, sent: float, registry: RegistrySnapshot, window: Window, now: float
) -> int:
    gateway = registry.gateways.get(uplink.key.gateway)
    if gateway is None:
        raise RejectedError(
            Reason.UNKNOWN_GATEWAY, f"gateway {uplink.key.gateway!r} is not provisioned"
        )
    if gateway.site != uplink.site:
        raise RejectedError(
            Reason.GATEWAY_MISMATCH,
            f"gateway {uplink.key.gateway!r} belongs to site {gateway.site!r}, not {uplink.site!r}",
        )
    late = window.reason(sent, now)
    if late is not None:
        raise RejectedError(late, f"message sent at {uplink.key.sent}, ingest clock {now:.3f}")
    return gateway.index


# Dead-letter reasons by the kernel's codes (ingest.reading_checks), in order of precedence.
_READING_REASONS = {
    rc.UNKNOWN_DEVICE: Reason.UNKNOWN_DEVICE,
    rc.WRONG_GATEWAY: Reason.WRONG_GATEWAY,
    rc.UNKNOWN_METRIC: Reason.UNKNOWN_METRIC,
    rc.OUT_OF_RANGE: Reason.OUT_OF_RANGE,
    rc.FUTURE: Reason.FUTURE_TIMESTAMP,
    rc.STALE: Reason.STALE_TIMESTAMP,
}


def _check_readings(ctx: _Context) -> tuple[Readings, list[DeadLetter]]:
    raw = ctx.uplink.telemetry
    if raw is None:
        raise TypeError("an event message has no readings")
    registry, n = ctx.registry, len(raw)
    slot = codes(raw.device_ids, registry.device_slot, n)
    metric = codes(raw.metric_names, METRIC_CODE, n)
    reason, bad = rc.reading_reasons(
        slot,
        metric,
        raw.value,
        raw.ts,
        raw.rx,
        gateway=ctx.gateway_index,
        device_gateway=registry.device_gateway,
        device_type=registry.device_type,
        allowed=METRIC_ALLOWED,
        limits=(METRIC_MIN, METRIC_MAX),
        window=(ctx.now - ctx.window.max_age_s, ctx.now + ctx.window.max_future_s),
    )
    if bad == 0:
        return Readings(slot, metric, raw.seq, raw.ts, raw.rx, raw.value), []
    good = reason == rc.GOOD
    readings = Readings(
        slot[good], metric[good], raw.seq[good], raw.ts[good], raw.rx[good], raw.value[good]
    )
    dead = []
    for code in np.unique(reason[~good]).tolist():
        rows = np.flatnonzero(reason == code)
        why = _READING_REASONS[code]
        dead.append(ctx.dead_letter(why, _describe(raw, rows, why, registry), len(rows)))
    return readings, dead


def _describe(raw: RawTelemetry, rows: Int64s, why: Reason, registry: RegistrySnapshot) -> str:
    shown = []
    for i in rows[:EXAMPLES].tolist():
        device, metric = raw.device_ids[i], raw.metric_names[i]
        text = (
            f"{device} seq {raw.seq[i]} {metric}={raw.value[i]!r} ts={raw.ts[i]!r} rx={raw.rx[i]!r}"
        )
        if why is Reason.UNKNOWN_METRIC:
            type_code = int(registry.device_type[registry.device_slot[device]])
            text += f" (device type {DEVICE_TYPES[type_code] if type_code != NO_TYPE else '?'})"
        shown.append(text)
    more = f" and {len(rows) - EXAMPLES} more" if len(rows) > EXAMPLES else ""
    return f"{len(rows)} readings: " + "; ".join(shown) + more


def _check_events(ctx: _Context) -> tuple[list[EventRow], list[DeadLetter]]:
    """Events are few and rare, so they are checked one by one."""
    rows: list[EventRow] = []
    refused: dict[Reason, list[str]] = {}
    for event in ctx.uplink.events:
        reason, why = _event_owner(event, ctx) or _event_content(event, ctx) or (None, "")
        if reason is None:
            rows.append(
                EventRow(
                    ctx.registry.device_slot[event.dev],
                    event.dev,
                    event.seq,
                    event.ts,
                    event.rx,
                    event.kind,
                    event.value,
                    msgspec.json.encode(event.detail),
                )
            )
        else:
            line = f"{event.dev} seq {event.seq} {event.kind}: {why}"
            refused.setdefault(reason, []).append(line)
    dead = [
        ctx.dead_letter(reason, f"{len(lines)} events: " + "; ".join(lines[:EXAMPLES]), len(lines))
        for reason, lines in refused.items()
    ]
    return rows, dead


def _event_owner(event: Event, ctx: _Context) -> tuple[Reason, str] | None:
    """Why the event's device may not report through this gateway, if it may not."""
    slot = ctx.registry.device_slot.get(event.dev, -1)
    gateway = ctx.registry.device_gateway[slot] if slot >= 0 else NO_GATEWAY
    if gateway == NO_GATEWAY:
        return Reason.UNKNOWN_DEVICE, "not provisioned"
    if gateway != ctx.gateway_index:
        return Reason.WRONG_GATEWAY, "provisioned behind another gateway"
    type_code = int(ctx.registry.device_type[slot])
    if type_code == NO_TYPE or event.kind not in EVENT_KINDS[type_code]:
        return Reason.UNKNOWN_METRIC, "not an event of this device type"
    return None


def _event_content(event: Event, ctx: _Context) -> tuple[Reason, str] | None:
    """Why the event's value, times or detail cannot be stored, if they cannot."""
    code = METRIC_CODE.get(event.kind)
    if code is not None and not METRIC_MIN[code] <= event.value <= METRIC_MAX[code]:
        return (
            Reason.OUT_OF_RANGE,
            f"{event.value!r} outside {METRIC_MIN[code]}..{METRIC_MAX[code]}",
        )
    for t in (event.ts, event.rx):
        late = ctx.window.reason(t, ctx.now)
        if late is not None:
            return late, f"timestamp {t!r}, ingest clock {ctx.now:.3f}"
    try:
        detail = msgspec.json.encode(event.detail)
    except (TypeError, ValueError, UnicodeEncodeError) as exc:
        return Reason.MALFORMED, f"detail cannot be stored as JSON: {exc}"
    if b"\\u0000" in detail:
        return Reason.MALFORMED, "detail holds a NUL character, which jsonb refuses"
    return None
