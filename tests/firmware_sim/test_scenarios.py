"""The scenario library: deterministic, valid for the device types, and every scenario's data
agrees with the ground truth it claims."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from firmware_sim.device import LOW_BATTERY_V, SENSOR, report_period
from firmware_sim.routine import DAY_S
from firmware_sim.scenarios import SCENARIOS, ScenarioRun, play, to_replay_csv
from vigil.device_types import device_type, metrics

SEEDS = (0, 1, 2, 7, 123)
T0 = 1_763_780_000.0  # a fixed start, so local-time behaviour is reproducible
GAPPED = {"silent_device", "dropout_sensor", "gateway_uplink_loss"}
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def _rows(run: ScenarioRun, metric: str, dev: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    sel = run.metric == metric
    if dev is not None:
        sel &= run.device_id == dev
    return run.ts[sel], run.value[sel]


def _onset(run: ScenarioRun) -> float:
    assert run.truth.onset_ts is not None
    return run.truth.onset_ts


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_same_seed_same_rows_other_seed_other_rows(name: str) -> None:
    a, b, c = play(name, 5, T0), play(name, 5, T0), play(name, 6, T0)
    assert np.array_equal(a.ts, b.ts)
    assert np.array_equal(a.value, b.value)
    assert list(a.metric) == list(b.metric)
    assert a.truth == b.truth
    assert a.ts.size != c.ts.size or not np.array_equal(a.value, c.value)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_rows_are_valid_for_their_device_types(name: str, seed: int) -> None:
    run = play(name, seed, T0)
    spec = SCENARIOS[name]
    types = {d.device_id: d.type for d in run.devices}
    assert np.all(np.diff(run.ts) >= 0), "rows sorted by time"
    assert set(run.device_id.tolist()) <= set(types)
    for d in run.devices:
        assert ID.match(d.device_id), d.device_id
        assert d.household_id == run.truth.household_id
    for dev, metric, value in zip(run.device_id, run.metric, run.value, strict=True):
        assert device_type(types[dev]).check_reading(metric, value) is None, (dev, metric, value)
    t = run.truth
    assert (t.name, t.klass) == (name, spec.klass)
    assert t.expected_kinds <= spec.expected_kinds
    assert bool(t.expected_kinds) == bool(spec.expected_kinds)
    assert t.forbidden_signals == spec.forbidden_signals
    assert (t.onset_ts is None) == (spec.klass == "benign")
    assert run.ts[0] >= T0
    assert run.ts[-1] <= T0 + t.duration_s
    if t.onset_ts is not None:
        assert T0 < t.onset_ts < T0 + t.duration_s
    assert t.device_days == pytest.approx(len(run.devices) * t.duration_s / DAY_S)
    assert metrics().keys() >= set(run.metric.tolist())
    for metric, (_, resolution) in SENSOR.items():
        steps = run.value[run.metric == metric] / resolution
        assert np.allclose(steps, np.round(steps), atol=1e-6), f"{metric} off its resolution"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(set(SCENARIOS) - GAPPED))
def test_devices_report_at_least_every_period(name: str, seed: int) -> None:
    run = play(name, seed, T0)
    for d in run.devices:
        ts = np.unique(run.ts[run.device_id == d.device_id])
        gaps = np.diff(np.concatenate(([T0], ts)))
        period = report_period(device_type(d.type))
        assert gaps.max() <= period * 1.01 + 1e-6, (d.device_id, gaps.max(), period)


def test_detectors_report_fast_while_smoke_rises() -> None:
    run = play("flaming_fire", 3, T0)
    ts, smoke = _rows(run, "smoke_obscuration")
    onset = _onset(run)
    rising = ts[(ts > onset) & (smoke > 2.0) & (smoke < 50.0)]
    assert rising.size >= 5
    assert np.median(np.diff(rising)) <= 5.0
    quiet = np.diff(ts[ts < onset - 60.0])
    assert quiet.size >= 3
    assert np.all(quiet > 50.0), "60 s reports while nothing happens"


def test_to_replay_csv_round_trips(tmp_path: Path) -> None:
    run = play("inactivity_stop", 4, T0)
    to_replay_csv(run, tmp_path / "devices.csv", tmp_path / "readings.csv")
    with (tmp_path / "devices.csv").open() as f:
        devices = list(csv.DictReader(f))
    with (tmp_path / "readings.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["device_id"] for r in devices] == [d.device_id for d in run.devices]
    assert {r["type"] for r in devices} == {"pir", "door", "panic", "smoke"}
    assert len(rows) == run.ts.size
    assert [float(r["ts"]) for r in rows] == run.ts.tolist()
    assert [float(r["value"]) for r in rows] == run.value.tolist()
    assert [r["metric"] for r in rows] == run.metric.tolist()


def test_unknown_scenario_and_negative_seed_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        play("volcano", 1)
    with pytest.raises(ValueError, match="seed"):
        play("tamper", -1)


# ---------------------------------------------------------------- ground truth, per scenario


def _fires(run: ScenarioRun) -> None:
    onset = _onset(run)
    ts, smoke = _rows(run, "smoke_obscuration")
    if ts.size:  # heat detectors have no smoke chamber
        assert smoke[ts < onset].max() < 2.0
        assert smoke[ts > onset].max() > 5.0
    temp_ts, temp = _rows(run, "temperature")
    assert temp[temp_ts > onset].max() >= temp[temp_ts < onset].max()


def _flaming(run: ScenarioRun) -> None:
    _fires(run)
    _ts, smoke = _rows(run, "smoke_obscuration")
    assert smoke.max() > 20.0


def _smouldering(run: ScenarioRun) -> None:
    _fires(run)
    (dev,) = run.devices
    assert run.truth.expected_kinds == {"fire" if dev.type == "multi" else "smoke"}
    onset = _onset(run)
    ts, smoke = _rows(run, "smoke_obscuration")
    t5 = ts[(ts > onset) & (smoke > 5.0)][0] - onset
    assert 25 * 60 <= t5 <= 95 * 60
    temp_ts, temp = _rows(run, "temperature")
    before = np.median(temp[temp_ts < onset])
    assert np.interp(onset + t5, temp_ts, temp) - before < 10.0, "a smoulder makes little heat"


def _fast_heat(run: ScenarioRun) -> None:
    onset = _onset(run)
    ts, temp = _rows(run, "temperature")
    assert temp[ts < onset].max() < 35.0
    assert temp[ts > onset].max() > 65.0  # past EN 54-5 class A1's static response (54-65 °C)
    fast = ts > onset
    rate = np.diff(temp[fast]) / np.diff(ts[fast]) * 60.0
    assert rate.max() > 8.3  # UL 521 rate of rise, °C/min


def _pot_on_stove(run: ScenarioRun) -> None:
    _fires(run)
    onset = _onset(run)
    ts, smoke = _rows(run, "smoke_obscuration")
    assert smoke[ts < onset].max() < 3.0
    assert smoke[-10:].min() > 10.0, "the smoke keeps rising: it has not cleared at the end"


def _time_above(ts: np.ndarray, values: np.ndarray, level: float) -> float:
    above = values[:-1] > level
    return float(np.sum(np.diff(ts)[above]))


def _cooking(run: ScenarioRun) -> None:
    onset = _onset(run)
    ts, smoke = _rows(run, "smoke_obscuration")
    base = np.median(smoke[ts < onset])
    assert smoke.max() - base > 1.0, "visible cooking smoke"
    assert _time_above(ts, smoke, 5.0) <= 60.0, "never above 5 %/m for a verification window"
    assert smoke[ts > ts[-1] - 600.0].max() < base + 0.5, "it clears within minutes"


def _shower(run: ScenarioRun) -> None:
    onset = _onset(run)
    ts, smoke = _rows(run, "smoke_obscuration")
    assert smoke.max() < 5.0
    assert smoke[ts > onset].max() > smoke[ts < onset].max()
    assert "co" not in set(run.metric.tolist())
    temp_ts, temp = _rows(run, "temperature")
    assert temp.max() - np.median(temp[temp_ts < onset]) < 4.0
    assert smoke[-5:].max() < np.median(smoke[ts < onset]) + 0.5


def _dust(run: ScenarioRun) -> None:
    onset = _onset(run)
    ts, smoke = _rows(run, "smoke_obscuration")
    first = np.median(smoke[ts < onset])
    last = np.median(smoke[ts > ts[-1] - DAY_S / 4])
    assert last - first >= 1.0
    assert last > 3.0, "past a 3 %/m maintenance limit"
    assert smoke.max() < 5.0
    assert run.truth.duration_s >= 10 * DAY_S


def _stuck(run: ScenarioRun) -> None:
    onset = _onset(run)
    stuck = []
    for metric in ("smoke_obscuration", "temperature"):
        ts, v = _rows(run, metric)
        if ts.size:
            assert np.unique(v[ts < onset]).size > 1
            if np.unique(v[ts >= onset]).size == 1:
                stuck.append(metric)
    assert len(stuck) == 1, "exactly one channel freezes"
    assert T0 + run.truth.duration_s - onset >= 6 * 3600.0


def _dropout(run: ScenarioRun) -> None:
    onset = _onset(run)
    ts = np.unique(run.ts)
    gaps = np.diff(ts)
    long = gaps > 3 * 300.0  # three smoke-detector heartbeats
    assert long.sum() >= 3
    first = int(np.flatnonzero(long)[0])
    assert ts[first] < onset <= ts[first + 1]


def _tamper(run: ScenarioRun) -> None:
    ts, v = _rows(run, "tamper")
    assert ts[0] == _onset(run)
    assert v[0] == 1.0
    assert set(v[1:].tolist()) <= {0.0}


def _battery(run: ScenarioRun) -> None:
    onset = _onset(run)
    (dev,) = run.devices
    low = LOW_BATTERY_V[dev.type]
    ts, v = _rows(run, "battery")
    assert v[ts < onset - 3600.0].min() > low
    assert np.interp(onset, ts, v) == pytest.approx(low, abs=0.05)
    assert v[-3:].max() < low - 0.1


def _silent(run: ScenarioRun) -> None:
    onset = _onset(run)
    (dev,) = run.devices
    heartbeat = device_type(dev.type).heartbeat_interval_s
    assert run.ts.max() == onset, "the last frame is the onset"
    assert run.truth.duration_s - (onset - T0) > 3 * heartbeat


def _uplink(run: ScenarioRun) -> None:
    onset = _onset(run)
    assert not np.any((run.ts >= onset) & (run.ts < onset + 180.0))
    for d in run.devices:
        ts = run.ts[run.device_id == d.device_id]
        assert ts.min() < onset < ts.max(), "the devices come back"


def _panic(run: ScenarioRun) -> None:
    ts, v = _rows(run, "button")
    assert ts[0] == _onset(run)
    assert set(v.tolist()) == {1.0}


def _false_press(run: ScenarioRun) -> None:
    ts, v = _rows(run, "button")
    assert v.tolist() == [1.0, 2.0]
    assert ts[0] == _onset(run)
    assert 0.0 < ts[1] - ts[0] <= 30.0


def _routine(run: ScenarioRun) -> None:
    ts, _ = _rows(run, "motion")
    per_day = np.histogram(ts, bins=np.arange(T0, T0 + run.truth.duration_s + 1, DAY_S))[0]
    assert np.all((per_day > 30) & (per_day < 500))
    _, door = _rows(run, "door")
    assert door.size % 2 == 0
    assert door[::2].tolist() == [1.0] * (door.size // 2), "the door opens, then closes"


def _inactivity(run: ScenarioRun) -> None:
    onset = _onset(run)
    motion, _ = _rows(run, "motion")
    door, _ = _rows(run, "door")
    assert max(motion.max(), door.max() if door.size else 0.0) == onset
    assert np.sum(motion > onset - DAY_S / 2) > 5, "active until it stopped"
    assert T0 + run.truth.duration_s - onset >= 12 * 3600.0


CHECKS: dict[str, Callable[[ScenarioRun], None]] = {
    "flaming_fire": _flaming,
    "smouldering_fire": _smouldering,
    "fast_heat_fire": _fast_heat,
    "pot_on_stove": _pot_on_stove,
    "cooking_smoke": _cooking,
    "shower_steam": _shower,
    "dust_drift": _dust,
    "stuck_sensor": _stuck,
    "dropout_sensor": _dropout,
    "tamper": _tamper,
    "battery_drain": _battery,
    "silent_device": _silent,
    "gateway_uplink_loss": _uplink,
    "panic_press": _panic,
    "false_press_cancel": _false_press,
    "daily_routine": _routine,
    "inactivity_stop": _inactivity,
}


def test_every_scenario_has_a_ground_truth_check() -> None:
    assert set(CHECKS) == set(SCENARIOS)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_data_agrees_with_ground_truth(name: str, seed: int) -> None:
    CHECKS[name](play(name, seed, T0))
