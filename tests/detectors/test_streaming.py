"""Streaming equivalence: batch sizes, threads, buffer refills and restarts change nothing."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.alert import Alert
from detectors.engine import Batch, DetectorEngine
from detectors.events import MAX_EVENTS_PER_READING
from detectors.registry import Device
from tests.detectors.helpers import batch_of, rows_of

EPOCH = 1_763_740_800.0
DEVICES = [
    Device("sd-1", "smoke", "hh-1", "kitchen", building_id="b-1"),
    Device("sd-2", "multi", "hh-1", "hall", building_id="b-1"),
    Device("sd-3", "smoke", "hh-2", "kitchen", building_id="b-1"),
    Device("pb-1", "panic", "hh-1", "bedroom"),
    Device("pir-1", "pir", "hh-1", "living"),
    Device("dc-1", "door", "hh-2", "entrance"),
]


def _stream() -> Batch:
    """Two days: routine motion, a kitchen fire spreading, a panic call, a silent device."""
    rng = np.random.default_rng(5)
    readings: list[tuple[float, int, str, float]] = []
    for minute in range(0, 2 * 1440, 2):
        t = EPOCH + minute * 60.0
        hour = (minute / 60) % 24
        for slot in (0, 1, 2):
            fire = slot < 2 and 1500 <= minute < 1560
            rise = (minute - 1500) * (1.0 if slot == 0 else 0.4) if fire else 0.0
            if slot == 2 and minute > 1800:
                continue  # goes silent
            readings.append((t, slot, "smoke_obscuration", abs(rng.normal(0.3, 0.1)) + rise))
            heat = 3 * rise if slot == 0 else 0.0  # the kitchen heats up, the hall does not
            readings.append((t + 0.1, slot, "temperature", 21 + rng.normal(0, 0.1) + heat))
        if 7 <= hour < 22 and rng.random() < 0.5:
            readings.append((t + 1, 4, "motion", 1.0))
        if minute % 240 == 0:
            readings += [(t + 2, 3, "battery", 2.9), (t + 2, 5, "door", float(rng.integers(2)))]
    readings += [(EPOCH + 1000 * 60.0, 3, "button", 1.0), (EPOCH + 1000 * 60 + 5, 3, "button", 2.0)]
    readings.sort(key=lambda r: r[0])
    return batch_of(rows_of(readings))


STREAM = _stream()


def _comparable(alerts: list[Alert]) -> list[dict[str, Any]]:
    """Everything but received_at (it is when a tick noticed a silence, which batching moves)."""
    out = []
    for alert in alerts:
        d = alert.to_json()
        d.pop("received_at")
        d["evidence"] = {k: v for k, v in d["evidence"].items() if k != "reading"}
        out.append(d)
    return sorted(out, key=lambda d: (d["ts"], d["device_id"], d["kind"]))


def _run(engine: DetectorEngine, cuts: list[int], batch: Batch = STREAM) -> list[Alert]:
    alerts: list[Alert] = []
    bounds = [0, *sorted(set(cuts)), len(batch)]
    for lo, hi in itertools.pairwise(bounds):
        if hi > lo:
            alerts += engine.process(Batch.of(*(c[lo:hi] for c in batch.columns())))
    return alerts + engine.tick(float(batch.received_at[-1]) + 3600)


REFERENCE = _comparable(_run(DetectorEngine(DEVICES), []))


def test_the_reference_stream_raises_the_alerts_it_is_built_for() -> None:
    got = {(a["device_id"], a["kind"]) for a in REFERENCE}
    assert {
        ("sd-1", "fire"),
        ("sd-2", "fire"),
        ("pb-1", "panic"),
        ("pb-1", "false_press"),
        ("sd-3", "offline"),
    } <= got


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, len(STREAM) - 1), max_size=40))
def test_any_batching_gives_the_same_alerts(cuts: list[int]) -> None:
    assert _comparable(_run(DetectorEngine(DEVICES), cuts)) == REFERENCE


def test_ticks_between_batches_change_only_when_a_silence_is_noticed() -> None:
    engine = DetectorEngine(DEVICES)
    alerts: list[Alert] = []
    for lo in range(0, len(STREAM), 500):
        chunk = Batch.of(*(c[lo : lo + 500] for c in STREAM.columns()))
        alerts += engine.process(chunk)
        alerts += engine.tick(float(chunk.received_at[-1]))
    alerts += engine.tick(float(STREAM.received_at[-1]) + 3600)
    assert _comparable(alerts) == REFERENCE


def test_a_tiny_event_buffer_is_refilled_without_losing_events() -> None:
    engine = DetectorEngine(DEVICES, event_capacity=MAX_EVENTS_PER_READING + 1)
    assert _comparable(_run(engine, [])) == REFERENCE


@pytest.mark.parametrize("threads", [2, 3])
def test_household_partitions_on_threads_give_the_same_alerts(threads: int) -> None:
    engine = DetectorEngine(DEVICES, threads=threads, event_capacity=32)
    assert _comparable(_run(engine, [len(STREAM) // 3])) == REFERENCE


def test_a_restart_from_saved_state_continues_exactly(tmp_path: Path) -> None:
    half = len(STREAM) // 2
    first = DetectorEngine(DEVICES)
    alerts = first.process(Batch.of(*(c[:half] for c in STREAM.columns())))
    first.save(tmp_path / "state.npz")
    second = DetectorEngine.load(tmp_path / "state.npz")
    alerts += second.process(Batch.of(*(c[half:] for c in STREAM.columns())))
    alerts += second.tick(float(STREAM.received_at[-1]) + 3600)
    assert _comparable(alerts) == REFERENCE
