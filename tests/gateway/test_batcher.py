"""Telemetry batching by size and by deadline, handed the time."""

from __future__ import annotations

from gateway.batcher import TelemetryBatcher
from vigil.frames import Frame


def report(seq: int, **readings: float) -> Frame:
    return Frame(dev="sd-1", type="smoke", seq=seq, ts=1000.0 + seq, r=readings)


def test_a_frame_becomes_one_row_per_reading() -> None:
    b = TelemetryBatcher(max_readings=10, max_delay_s=0.05)
    b.add(report(7, temperature=21.5, battery=3.0), rx=1007.5, now=0.0)
    c = b.take()
    assert c.dev == ["sd-1", "sd-1"]
    assert c.seq == [7, 7]
    assert c.ts == [1007.0, 1007.0]
    assert c.rx == [1007.5, 1007.5]
    assert c.metric == ["temperature", "battery"]
    assert c.value == [21.5, 3.0]
    assert len(b) == 0
    assert b.deadline is None


def test_due_when_the_first_reading_has_waited_long_enough() -> None:
    b = TelemetryBatcher(max_readings=100, max_delay_s=0.05)
    assert not b.due(0.0)
    b.add(report(1, battery=3.0), rx=1.0, now=10.0)
    b.add(report(2, battery=3.0), rx=1.0, now=10.04)
    assert b.deadline == 10.05
    assert not b.due(10.049)
    assert b.due(10.05)


def test_due_at_once_when_full() -> None:
    b = TelemetryBatcher(max_readings=4, max_delay_s=60)
    b.add(report(1, temperature=20.0, battery=3.0), rx=1.0, now=0.0)
    assert not b.due(0.0)
    b.add(report(2, temperature=20.0, battery=3.0), rx=1.0, now=0.0)
    assert b.due(0.0)
    assert len(b.take()) == 4


def test_an_empty_heartbeat_adds_nothing_and_starts_no_deadline() -> None:
    b = TelemetryBatcher()
    b.add(report(1), rx=1.0, now=0.0)
    assert len(b) == 0
    assert b.deadline is None
    assert not b.due(1e9)
