"""Small builders shared by the detector tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.naive_detectors import NaiveDetectors, NaiveEvent
from detectors.codes import METRIC_CODE
from detectors.engine import Batch, DetectorEngine
from detectors.explain import Event
from detectors.households import Household
from detectors.policy import Policy
from detectors.registry import Device

Row = tuple[float, int, int, float, float]  # ts, slot, metric code, value, received_at


def rows_of(readings: Sequence[tuple[float, int, str, float]]) -> list[Row]:
    """(ts, slot, metric name, value) -> rows received at the running maximum of ts."""
    out: list[Row] = []
    latest = -np.inf
    for ts, slot, metric, value in readings:
        latest = max(latest, ts)
        out.append((ts, slot, METRIC_CODE[metric], value, latest))
    return out


def batch_of(rows: Sequence[Row]) -> Batch:
    if not rows:
        return Batch.of(np.zeros(0), np.zeros(0, np.int32), np.zeros(0, np.int8), np.zeros(0))
    ts, slot, metric, value, rx = zip(*rows, strict=True)
    return Batch.of(
        np.array(ts),
        np.array(slot, np.int32),
        np.array(metric, np.int8),
        np.array(value),
        np.array(rx),
    )


def key(event: Event | NaiveEvent) -> tuple[int, int, int, int, int, float]:
    return (event.row, event.slot, event.kind, event.action, event.rule, event.ts)


def assert_same_events(kernel: Sequence[Event], naive: Sequence[NaiveEvent]) -> None:
    assert [key(e) for e in kernel] == [key(e) for e in naive]
    for k, n in zip(kernel, naive, strict=True):
        assert k.score == n.score or abs(k.score - n.score) <= 1e-9 * max(1.0, abs(n.score))


def kernel_and_naive(
    devices: Sequence[Device],
    rows: Sequence[Row],
    ticks: Sequence[float] = (),
    policy: Policy | None = None,
) -> tuple[list[Event], list[NaiveEvent]]:
    """Events of the engine's kernels and of the naive reference for the same input."""
    policy = policy or Policy.load()
    engine = DetectorEngine(devices, policy)
    naive = NaiveDetectors(devices, policy)
    kernel_events = engine.score(batch_of(rows))
    naive_events = naive.process(rows)
    for now in ticks:
        kernel_events += engine.silences(now)
        naive_events += naive.tick(now)
    return kernel_events, naive_events


def write_household(
    folder: Path, hh: Household, household_id: str = "hh-1", shift_s: float = 0.0
) -> tuple[Path, Path]:
    """devices.csv and readings.csv of a generated household, as a recorded home is replayed
    (presence sensors `pir`/`motion`, the front door `door`); timestamps moved by shift_s."""
    devices = folder / "devices.csv"
    readings = folder / "readings.csv"
    ids = [f"{household_id}-p{i}" for i in range(hh.n_presence)] + [f"{household_id}-door"]
    lines = ["device_id,type,household_id,room"]
    lines += [f"{d},pir,{household_id},room{i}" for i, d in enumerate(ids[:-1])]
    lines.append(f"{ids[-1]},door,{household_id},hall")
    devices.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = ["ts,device_id,metric,value"]
    for t, d, v in zip(hh.ts, hh.device, hh.value, strict=True):
        metric = "door" if int(d) == hh.door else "motion"
        rows.append(f"{t + shift_s:.3f},{ids[int(d)]},{metric},{v:g}")
    readings.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return devices, readings
