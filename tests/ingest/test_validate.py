"""What is stored and what is dead-lettered, decided without I/O."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ingest.deadletter import PAYLOAD_CAP, DeadLetter, Reason
from ingest.reading_checks import reading_reasons
from ingest.registry import METRIC_ALLOWED, METRIC_MAX, METRIC_MIN, Registry
from ingest.validate import Checked, Window, check
from ingest.wire import RejectedError, parse
from tests.ingest import naive
from vigil.codec import Encoding, Event, EventBatch, TelemetryBatch, encode
from vigil.device_types import METRIC_CODE

NOW = 1_763_780_000.0
WINDOW = Window(max_future_s=300, max_age_s=86400)
TOPIC = "vigil/v1/site-a/gw-1/up/telemetry"


@pytest.fixture
def registry() -> Registry:
    r = Registry()
    r.apply(
        1,
        [("gw-1", "site-a"), ("gw-2", "site-a"), ("gw-9", "site-b")],
        [
            ("sd-1", "smoke", "gw-1"),
            ("pb-1", "panic", "gw-1"),
            ("sd-2", "smoke", "gw-2"),
            ("xx-1", "no-such-type", "gw-1"),
        ],
    )
    return r


def telemetry(rows, gw="gw-1", sent=NOW) -> bytes:
    """rows: (device, seq, metric, value, ts)."""
    dev, seq, metric, value, ts = (list(c) for c in zip(*rows, strict=True))
    batch = TelemetryBatch(
        gw=gw,
        gseq=7,
        sent=sent,
        dev=dev,
        seq=seq,
        ts=ts,
        rx=[t + 0.01 for t in ts],
        metric=metric,
        value=value,
    )
    return encode(batch, Encoding.MSGPACK)


def run(registry: Registry, payload: bytes, topic: str = TOPIC) -> Checked:
    return check(parse(topic, payload), payload, registry.snapshot, WINDOW, NOW)


def test_good_readings_are_kept_as_columns_with_slots_and_codes(registry):
    payload = telemetry(
        [("sd-1", 5, "temperature", 21.5, NOW - 1), ("sd-1", 5, "smoke_obscuration", 0.2, NOW - 1)]
    )
    checked = run(registry, payload)
    assert checked.dead == []
    assert checked.key is not None
    assert (checked.key.gateway, checked.key.gseq) == ("gw-1", 7)
    r = checked.readings
    assert r.device.tolist() == [registry.snapshot.device_slot["sd-1"]] * 2
    assert r.metric.tolist() == [METRIC_CODE["temperature"], METRIC_CODE["smoke_obscuration"]]
    assert r.value.tolist() == [21.5, 0.2]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (("nobody", 1, "temperature", 20.0, NOW), Reason.UNKNOWN_DEVICE),
        (("sd-2", 1, "temperature", 20.0, NOW), Reason.WRONG_GATEWAY),
        (("sd-1", 1, "co", 20.0, NOW), Reason.UNKNOWN_METRIC),  # smoke detectors have no CO
        (("sd-1", 1, "humidity", 20.0, NOW), Reason.UNKNOWN_METRIC),
        (("xx-1", 1, "temperature", 20.0, NOW), Reason.UNKNOWN_METRIC),  # type not declared
        (("sd-1", 1, "temperature", 151.0, NOW), Reason.OUT_OF_RANGE),
        (("sd-1", 1, "smoke_obscuration", -0.1, NOW), Reason.OUT_OF_RANGE),
        (("sd-1", 1, "temperature", 20.0, NOW + 301), Reason.FUTURE_TIMESTAMP),
        (("sd-1", 1, "temperature", 20.0, NOW - 86401), Reason.STALE_TIMESTAMP),
    ],
)
def test_each_bad_reading_is_dead_lettered_with_its_reason_and_the_rest_kept(registry, row, reason):
    good = ("sd-1", 9, "battery", 3.0, NOW)
    payload = telemetry([good, row, (*good[:1], 10, *good[2:])])
    checked = run(registry, payload)
    assert len(checked.readings) == 2
    assert [(d.reason, d.count) for d in checked.dead] == [(reason, 1)]
    assert checked.dead[0].payload == payload
    assert row[0] in checked.dead[0].detail


def test_readings_failing_several_checks_count_under_the_first(registry):
    payload = telemetry([("sd-2", 1, "humidity", 999.0, NOW + 1e6)] * 7)
    (dead,) = run(registry, payload).dead
    assert (dead.reason, dead.count) == (Reason.WRONG_GATEWAY, 7)
    assert "and 2 more" in dead.detail


@pytest.mark.parametrize(
    ("topic", "gw", "sent", "reason"),
    [
        ("vigil/v1/site-a/gw-7/up/telemetry", "gw-7", NOW, Reason.UNKNOWN_GATEWAY),
        ("vigil/v1/site-b/gw-1/up/telemetry", "gw-1", NOW, Reason.GATEWAY_MISMATCH),
        (TOPIC, "gw-1", NOW + 3601, Reason.FUTURE_TIMESTAMP),
        (TOPIC, "gw-1", NOW - 1e6, Reason.STALE_TIMESTAMP),
    ],
)
def test_a_message_refused_whole_keeps_no_identity(registry, topic, gw, sent, reason):
    payload = telemetry([("sd-1", 1, "temperature", 20.0, NOW)] * 3, gw=gw, sent=sent)
    checked = run(registry, payload, topic)
    assert checked.key is None
    assert len(checked.readings) == 0
    assert [(d.reason, d.count) for d in checked.dead] == [(reason, 3)]


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (TOPIC, b"", Reason.MALFORMED),
        (TOPIC, b"\x00garbage", Reason.MALFORMED),
        (TOPIC, b'{"v": 1, "gw": "gw-1"}', Reason.MALFORMED),
        ("vigil/v1/site-a/gw-1/status", b"{}", Reason.BAD_TOPIC),
        ("elsewhere/x", b"{}", Reason.BAD_TOPIC),
        ("vigil/v1/site-a/gw-2/up/telemetry", None, Reason.GATEWAY_MISMATCH),
    ],
)
def test_undecodable_messages_are_rejected_with_a_reason(topic, payload, reason):
    if payload is None:
        payload = telemetry([("sd-1", 1, "temperature", 20.0, NOW)])  # says gw-1, topic gw-2
    with pytest.raises(RejectedError) as info:
        parse(topic, payload)
    assert info.value.reason is reason


def test_events_are_checked_one_by_one(registry):
    def event(
        dev: str,
        kind: str,
        value: float = 1.0,
        ts: float = NOW,
        detail: dict[str, Any] | None = None,
    ) -> Event:
        return Event(dev=dev, seq=3, ts=ts, rx=ts, kind=kind, value=value, detail=detail or {})

    batch = EventBatch(
        gw="gw-1",
        gseq=8,
        sent=NOW,
        events=[
            event("pb-1", "button"),
            event("pb-1", "button", value=2.0, detail={"hold_s": 3}),
            event("pb-1", "button", value=3.0),  # button values are 1 (press) or 2 (cancel)
            event("pb-1", "alarm"),  # panic buttons raise no fire alarm
            event("sd-1", "alarm", value=1.0, detail={"text": "a\x00b"}),
            event("nobody", "alarm"),
            event("sd-1", "tamper", ts=NOW + 900),
        ],
    )
    payload = encode(batch)
    checked = check(
        parse("vigil/v1/site-a/gw-1/up/event", payload), payload, registry.snapshot, WINDOW, NOW
    )
    assert [(e.kind, e.value, e.detail) for e in checked.events] == [
        ("button", 1.0, b"{}"),
        ("button", 2.0, b'{"hold_s":3}'),
    ]
    assert sorted((d.reason, d.count) for d in checked.dead) == sorted(
        [
            (Reason.OUT_OF_RANGE, 1),
            (Reason.UNKNOWN_METRIC, 1),
            (Reason.MALFORMED, 1),
            (Reason.UNKNOWN_DEVICE, 1),
            (Reason.FUTURE_TIMESTAMP, 1),
        ]
    )


def test_dead_letters_are_capped_and_storable():
    letter = DeadLetter.of(
        "t\x00\udc80", Reason.MALFORMED, "x" * 5000 + "\x00", b"p" * (PAYLOAD_CAP + 10)
    )
    assert len(letter.payload) == PAYLOAD_CAP
    assert "truncated from 65546 bytes" in letter.detail
    assert "\x00" not in letter.topic + letter.detail
    letter.topic.encode()  # no lone surrogate left


def test_slots_survive_a_refresh_and_retired_devices_stop_being_accepted(registry):
    before = registry.snapshot.device_slot["sd-2"]
    registry.apply(2, [("gw-1", "site-a")], [("new-1", "heat", "gw-1"), ("sd-1", "smoke", "gw-1")])
    snap = registry.snapshot
    assert snap.device_slot["sd-2"] == before
    assert snap.device_gateway[before] == -1
    assert snap.device_slot["new-1"] == len(snap.device_ids) - 1
    payload = telemetry([("sd-2", 1, "temperature", 20.0, NOW)])
    assert [d.reason for d in run(registry, payload).dead] == [Reason.UNKNOWN_DEVICE]


def test_the_kernel_matches_the_reference_on_random_input():
    rng = np.random.default_rng(7)
    n = 3000
    device_gateway = np.array([0, 1, -1, 0, 0], np.int32)
    device_type = np.array([0, 1, 2, -1, 3], np.int32)
    args = (
        rng.integers(-1, 5, n).astype(np.int32),
        rng.integers(-1, len(METRIC_MIN), n).astype(np.int32),
        rng.choice([np.nan, -1e9, -40.0, 0.0, 0.5, 2.0, 99.0, 150.0, 1e9], n),
        rng.choice([np.nan, 0.0, 50.0, 100.0, 150.0, 1e12], n),
        rng.choice([0.0, 100.0, 140.0, 200.0], n),
    )
    kwargs: dict[str, Any] = {
        "gateway": 0,
        "device_gateway": device_gateway,
        "device_type": device_type,
        "allowed": METRIC_ALLOWED,
        "limits": (METRIC_MIN, METRIC_MAX),
        "window": (10.0, 150.0),
    }
    codes, bad = reading_reasons(*args, **kwargs)
    expected = naive.reading_reasons(*args, **kwargs)
    assert codes.tolist() == expected
    assert bad == sum(c != 0 for c in expected)


def test_the_kernel_refuses_mismatched_inputs():
    ok = (np.zeros(2, np.int32), np.zeros(2, np.int32), np.zeros(2), np.zeros(2), np.zeros(2))
    kwargs: dict[str, Any] = {
        "gateway": 0,
        "device_gateway": np.zeros(1, np.int32),
        "device_type": np.zeros(1, np.int32),
        "allowed": METRIC_ALLOWED,
        "limits": (METRIC_MIN, METRIC_MAX),
        "window": (0.0, 1.0),
    }
    with pytest.raises(TypeError, match="value"):
        reading_reasons(*ok[:2], np.zeros(2, np.float32), *ok[3:], **kwargs)
    with pytest.raises(ValueError, match="outside the registry"):
        reading_reasons(np.array([0, 1], np.int32), *ok[1:], **kwargs)
    with pytest.raises(ValueError, match="one per metric"):
        reading_reasons(*ok, **{**kwargs, "limits": (METRIC_MIN[:2], METRIC_MAX)})


@pytest.mark.parametrize("ahead", [31.0, 600.0, 600.0 + 29.0, 3600.0])
def test_a_gateway_clock_ahead_is_moved_back_in_whole_minutes(registry, ahead):
    """Devices take their time from their gateway: its clock ahead shifts every time alike."""
    frames = [("sd-1", 1, "temperature", 20.0, NOW + ahead - 0.5)]
    payload = telemetry(frames, sent=NOW + ahead)
    checked = run(registry, payload)
    assert checked.dead == []
    shift = max(1, round(ahead / 60)) * 60
    assert checked.readings.ts.tolist() == [NOW + ahead - 0.5 - shift]
    assert abs(checked.readings.ts[0] - NOW) <= 30.5
    assert checked.key is not None
    assert checked.key.sent == NOW + ahead  # the identity is the bytes the gateway sent


def test_a_redelivery_seconds_later_gets_the_same_times(registry):
    payload = telemetry([("sd-1", 1, "temperature", 20.0, NOW + 599.9)], sent=NOW + 600.0)
    first = check(parse(TOPIC, payload), payload, registry.snapshot, WINDOW, NOW)
    again = check(parse(TOPIC, payload), payload, registry.snapshot, WINDOW, NOW + 20)
    assert first.readings.ts.tolist() == again.readings.ts.tolist()
    assert first.readings.ts[0] == pytest.approx(NOW - 0.1)
