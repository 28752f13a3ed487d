"""Device frames: both encodings round-trip; device-type checks give a clear reason."""

from __future__ import annotations

import re

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.contract.strategies import frames
from vigil.codec import CodecError, Encoding
from vigil.device_types import device_type, device_types, metrics
from vigil.frames import MAX_FRAME_BYTES, Frame, decode_frame, encode_frame


@given(frame=frames, encoding=st.sampled_from(list(Encoding)))
def test_frames_round_trip(frame: Frame, encoding: Encoding) -> None:
    assert decode_frame(encode_frame(frame, encoding)) == frame


def test_the_documented_frames_decode() -> None:
    report = {
        "dev": "sd-1",
        "type": "smoke",
        "seq": 17,
        "ts": 1763780000.1,
        "r": {"smoke_obscuration": 0.4, "temperature": 21.5, "battery": 2.98},
    }
    press = {"dev": "pb-3", "type": "panic", "seq": 5, "ts": 1763780000.2, "e": "button", "x": 1.0}
    frame = decode_frame(msgspec.msgpack.encode(report))
    assert frame.r == report["r"]
    assert not frame.is_event
    assert frame.problem() is None
    pressed = decode_frame(msgspec.msgpack.encode(press))
    assert pressed.is_event
    assert pressed.event_value == 1.0
    assert pressed.problem() is None


def test_an_alarm_without_value_counts_as_on() -> None:
    alarm = Frame(dev="sd-1", type="smoke", seq=1, ts=1.0, e="alarm")
    assert alarm.event_value == 1.0
    assert alarm.problem() is None
    assert b"x" not in encode_frame(alarm)  # absent, not null: devices save bytes


@pytest.mark.parametrize(
    "heartbeat",
    [
        Frame(dev="sd-1", type="smoke", seq=3, ts=1.0, r={"battery": 3.0}),
        Frame(dev="sd-1", type="smoke", seq=3, ts=1.0, r={}),
    ],
)
def test_heartbeats_are_reports(heartbeat: Frame) -> None:
    assert heartbeat.problem() is None
    assert not heartbeat.is_event


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (
            Frame(dev="sd-1", type="smoke", seq=1, ts=1.0, r={"temperature": 151.0}),
            r"sd-1: temperature: 151.0 outside -40.0..150.0 °C",
        ),
        (
            Frame(dev="sd-1", type="smoke", seq=1, ts=1.0, r={"smoke_obscuration": -0.1}),
            r"smoke_obscuration: -0.1 outside 0.0..100.0",
        ),
        (
            Frame(dev="sd-1", type="smoke", seq=1, ts=1.0, r={"battery": float("nan")}),
            "battery: nan is not a number",
        ),
        (
            Frame(dev="hd-1", type="heat", seq=1, ts=1.0, r={"smoke_obscuration": 1.0}),
            "unknown metric 'smoke_obscuration' for device type 'heat'",
        ),
        (
            Frame(dev="sd-1", type="smoke", seq=1, ts=1.0, r={"humidity": 40.0}),
            "unknown metric 'humidity' for device type 'smoke'",
        ),
        (
            Frame(dev="x-1", type="toaster", seq=1, ts=1.0, r={}),
            "x-1: unknown device type 'toaster'",
        ),
        (
            Frame(dev="pb-1", type="panic", seq=1, ts=1.0, e="alarm"),
            "unknown event 'alarm' for device type 'panic'",
        ),
        (
            Frame(dev="pb-1", type="panic", seq=1, ts=1.0, e="button", x=3.0),
            r"button: 3.0 outside 1.0..2.0",
        ),
        (
            Frame(dev="sd-1", type="smoke", seq=1, ts=1.0, e="tamper", x=-1.0),
            r"tamper: -1.0 outside 0.0..1.0",
        ),
        (
            Frame(dev="sd-1", type="smoke", seq=1, ts=1.0, e="fault", x=float("inf")),
            "fault: (value )?inf is not a number",
        ),
        (
            Frame(dev="sd-1", type="smoke", seq=1, ts=float("nan"), r={}),
            "timestamp nan is not a number",
        ),
    ],
)
def test_frames_that_do_not_fit_their_device_type_say_why(frame: Frame, reason: str) -> None:
    problem = frame.problem()
    assert problem is not None
    assert re.search(reason, problem), problem


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"dev": "sd-1", "type": "smoke", "seq": 1, "ts": 1.0}, "either a report"),
        (
            {"dev": "sd-1", "type": "smoke", "seq": 1, "ts": 1.0, "r": {}, "e": "alarm"},
            "either a report",
        ),
        ({"dev": "sd-1", "type": "smoke", "seq": 1, "ts": 1.0, "r": {}, "x": 1.0}, "`x` is an"),
        ({"dev": "sd 1", "type": "smoke", "seq": 1, "ts": 1.0, "r": {}}, r"`\$.dev`"),
        ({"dev": "sd-1", "type": "smoke", "seq": -1, "ts": 1.0, "r": {}}, r"`\$.seq`"),
        ({"dev": "sd-1", "type": "smoke", "seq": 1, "ts": 1.0, "r": {"t": "hot"}}, "`float`"),
    ],
)
def test_malformed_frames_are_refused(doc: dict[str, object], reason: str) -> None:
    with pytest.raises(CodecError, match=reason):
        decode_frame(msgspec.msgpack.encode(doc))


def test_frames_over_the_size_limit_are_refused() -> None:
    big = Frame(dev="sd-1", type="smoke", seq=1, ts=1.0, r={f"m{i}": 1.0 for i in range(400)})
    with pytest.raises(CodecError, match=f"over the {MAX_FRAME_BYTES} byte limit"):
        encode_frame(big)
    payload = msgspec.msgpack.encode(big)
    with pytest.raises(CodecError, match=f"over the {MAX_FRAME_BYTES} byte limit"):
        decode_frame(payload)


@given(
    kind=st.sampled_from(sorted(device_types())),
    readings=st.dictionaries(
        st.sampled_from([*sorted(metrics()), "humidity"]),
        st.floats() | st.sampled_from([-40.0, 150.0, 0.0, 100.0, 4.5, 10000.0]),
        max_size=4,
    ),
)
def test_a_report_is_refused_exactly_when_the_device_type_refuses_a_reading(
    kind: str, readings: dict[str, float]
) -> None:
    frame = Frame(dev="d-1", type=kind, seq=1, ts=1.0, r=readings)
    reasons = [device_type(kind).check_reading(m, v) for m, v in readings.items()]
    first = next((r for r in reasons if r is not None), None)
    assert frame.problem() == (None if first is None else f"d-1: {first}")
