"""The scenario library: what happens in one household, as the devices report it, with its
ground truth. Pure and deterministic for (name, seed, t0); the only I/O is reading the bundled
NIST data. Calibration and ground truth of every scenario: docs/simulator.md.
"""

from __future__ import annotations

import csv
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from firmware_sim import nist
from firmware_sim.device import (
    LOW_BATTERY_V,
    Ambient,
    measure,
    periodic_metrics,
    report_period,
    report_times,
)
from firmware_sim.routine import Activity, Resident, activity, local_midnight
from vigil.device_types import device_type

Klass = Literal["fire", "nuisance", "trouble", "panic", "inactivity", "benign"]
Trace = tuple[np.ndarray, np.ndarray]  # (times, true values)


@dataclass(frozen=True)
class SimDevice:
    device_id: str
    type: str
    household_id: str
    room: str


@dataclass(frozen=True)
class GroundTruth:
    name: str
    klass: Klass
    household_id: str
    onset_ts: float | None  # when the condition begins; None for benign scenarios
    expected_kinds: frozenset[str]  # alert kinds that SHOULD be raised
    forbidden_signals: frozenset[str]  # signal classes that must NOT be raised
    duration_s: float
    device_days: float


@dataclass(frozen=True)
class ScenarioRun:
    devices: tuple[SimDevice, ...]
    ts: np.ndarray
    device_id: np.ndarray
    metric: np.ndarray
    value: np.ndarray
    truth: GroundTruth


@dataclass(frozen=True)
class _Played:
    onset: float | None
    end: float
    expected: frozenset[str] | None = None  # when the kinds depend on the devices drawn


class _Household:
    """Collects one household's device rows while a scenario plays."""

    def __init__(self, name: str, seed: int, t0: float, pre_roll_s: float | None = None) -> None:
        self.seed = seed
        self.pre_roll_s = pre_roll_s
        self.rng = np.random.default_rng([zlib.crc32(name.encode()), seed])
        self.t0 = t0
        self.household_id = f"hh-{name.replace('_', '-')}-s{seed}"
        self.devices: list[SimDevice] = []
        self._ambient: list[Ambient] = []
        self._blocks: list[tuple[np.ndarray, int, str, np.ndarray]] = []

    def add(self, type_name: str, room: str) -> int:
        device_type(type_name)  # unknown types fail here, not at the gateway
        n = sum(d.type == type_name for d in self.devices) + 1
        self.devices.append(
            SimDevice(f"{self.household_id}-{type_name}{n}", type_name, self.household_id, room)
        )
        installed = self.t0 - float(self.rng.uniform(0.0, 365 * 86400.0))
        self._ambient.append(Ambient.draw(self.rng, 1, installed))
        return len(self.devices) - 1

    def ambient(self, dev: int, metric: str, t: np.ndarray) -> np.ndarray:
        return self._ambient[dev].true(metric, np.zeros(t.shape, dtype=np.int64), t)

    def reports(
        self,
        dev: int,
        start: float,
        end: float,
        *,
        traces: dict[str, Trace] | None = None,
        gaps: tuple[tuple[float, float], ...] = (),
        frozen: dict[str, tuple[float, float]] | None = None,
        dirt: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> np.ndarray:
        """Periodic (and fast) reports of `dev` in [start, end): ambient values unless a trace
        is given, none inside `gaps`; `frozen` metric -> (from, value) models a stuck sensor,
        `dirt` (report times -> %/m) the spikes of a dusty smoke chamber."""
        traces = traces or {}
        dtype = device_type(self.devices[dev].type)
        phase = float(self.rng.uniform(0.0, report_period(dtype)))
        ts = report_times(dtype.name, start, end, phase, traces)
        for a, b in gaps:
            ts = ts[(ts < a) | (ts >= b)]
        for metric in periodic_metrics(dtype):
            if metric in traces:
                true = np.interp(ts, *traces[metric])
            else:
                true = self.ambient(dev, metric, ts)
            if dirt is not None and metric == "smoke_obscuration":
                true = true + dirt(ts)
            values = measure(metric, true, self.rng.standard_normal(ts.size))
            if frozen and metric in frozen:
                since, stuck = frozen[metric]
                values[ts >= since] = stuck
            self._blocks.append((ts, dev, metric, values))
        return ts

    def signal(self, dev: int, metric: str, ts: np.ndarray, values: np.ndarray) -> None:
        """Events (button, tamper, self_test) and on-change readings (motion, door)."""
        ts = np.asarray(ts, dtype=np.float64)
        self._blocks.append((ts, dev, metric, np.broadcast_to(values, ts.shape).astype(float)))

    def routine(self, pir: int, door: int, act: Activity) -> None:
        self.signal(pir, "motion", act.motion, np.ones(act.motion.size))
        self.signal(door, "door", act.door_ts, act.door_value)

    def run(self, spec: ScenarioSpec, played: _Played) -> ScenarioRun:
        metric_rank = {m: i for i, m in enumerate(_METRIC_ORDER)}
        ts = np.concatenate([b[0] for b in self._blocks])
        dev = np.concatenate([np.full(b[0].size, b[1]) for b in self._blocks])
        rank = np.concatenate([np.full(b[0].size, metric_rank[b[2]]) for b in self._blocks])
        value = np.concatenate([b[3] for b in self._blocks])
        order = np.lexsort((rank, dev, ts))
        ids = np.array([d.device_id for d in self.devices], dtype=object)
        names = np.array(_METRIC_ORDER, dtype=object)
        duration = played.end - self.t0
        truth = GroundTruth(
            name=spec.name,
            klass=spec.klass,
            household_id=self.household_id,
            onset_ts=played.onset,
            expected_kinds=spec.expected_kinds if played.expected is None else played.expected,
            forbidden_signals=spec.forbidden_signals,
            duration_s=duration,
            device_days=len(self.devices) * duration / 86400.0,
        )
        return ScenarioRun(
            devices=tuple(self.devices),
            ts=ts[order],
            device_id=ids[dev[order]],
            metric=names[rank[order]],
            value=value[order],
            truth=truth,
        )


_METRIC_ORDER = (
    "smoke_obscuration",
    "temperature",
    "co",
    "battery",
    "button",
    "tamper",
    "self_test",
    "motion",
    "door",
)


ROOM = {
    "smoke": "kitchen",
    "multi": "kitchen",
    "heat": "kitchen",
    "panic": "bedroom",
    "pir": "living_room",
    "door": "entrance",
}


def _pre_roll(h: _Household, low: float = 300.0, high: float = 600.0) -> float:
    """Minutes of ordinary reporting before anything happens, so detectors see a baseline; or
    the pre-roll the caller asked for (the draw is made all the same, so the rest of the
    scenario is the one the seed gives)."""
    drawn = float(h.rng.uniform(low, high))
    return h.t0 + (drawn if h.pre_roll_s is None else h.pre_roll_s)


def _shift(start: float, t: np.ndarray, v: np.ndarray) -> Trace:
    """A disturbance (0 before `start`) on its own time axis, to be added to the ambient."""
    return np.concatenate(([start - 1e6], start + t)), np.concatenate(([0.0], v))


def _with_ambient(h: _Household, dev: int, metric: str, t: np.ndarray, add: Trace) -> Trace:
    grid = np.union1d(t, add[0][(add[0] >= t[0]) & (add[0] <= t[-1])])
    return grid, h.ambient(dev, metric, grid) + np.interp(grid, *add)


def _grid(start: float, end: float, step: float = 1.0) -> np.ndarray:
    return np.arange(start, end + step, step)


# ---------------------------------------------------------------- fires (NIST-calibrated)

FLAMING_MAX_T5_S = 150.0  # NIST locations the smoke reached 5 %/m within this time
HEAT_FIRE_MIN_RISE = 60.0  # °C: locations hot enough for a heat-only fire
POST_FIRE_HOLD_S = 300.0


def _fire_locations(pred: Callable[[nist.Location], bool]) -> list[nist.Location]:
    return [
        loc
        for test in nist.TESTS
        for name in nist.locations(test)
        if pred(loc := nist.location(test, name))
    ]


def _crosses_cleanly(loc: nist.Location) -> bool:
    """Smoke reaches 5 %/m within FLAMING_MAX_T5_S and passes 4 to 6.5 %/m (the alarm level
    under the scenario's amplitude scaling) quickly, so its time to alarm is well defined.
    Excluded: locations with an early smoke puff that hovers near 5 %/m (SDC05 D, SDC10 D...)."""
    t4, t5, t65 = (loc.time_to_obscuration(x) for x in (4.0, 5.0, 6.5))
    if t4 is None or t5 is None or t65 is None or t5 > FLAMING_MAX_T5_S:
        return False
    return t65 - t4 <= 0.3 * t5


def flaming_locations() -> list[nist.Location]:
    """NIST ceiling locations the flaming fire scenario draws its curves from."""
    return _fire_locations(_crosses_cleanly)


def heat_fire_locations() -> list[nist.Location]:
    """NIST ceiling locations the fast heat-only fire draws its temperatures from."""
    return _fire_locations(lambda loc: float(loc.temperature_rise.max()) >= HEAT_FIRE_MIN_RISE)


def _fire_traces(
    h: _Household, dev: int, loc: nist.Location, onset: float, *, stretch: float, od_scale: float
) -> tuple[dict[str, Trace], float]:
    t_fire = (loc.time - loc.time[0]) * stretch
    end = onset + float(t_fire[-1]) + POST_FIRE_HOLD_S
    grid = _grid(h.t0, end)
    od = loc.optical_density * od_scale
    traces = {
        "smoke_obscuration": _with_ambient(
            h, dev, "smoke_obscuration", grid, _shift(onset, t_fire, nist.obscuration_from_od(od))
        ),
        "temperature": _with_ambient(
            h, dev, "temperature", grid, _shift(onset, t_fire, loc.temperature_rise)
        ),
    }
    # CO from smoke: 200-800 ppm per 1/m optical density spans the ratio of the NIST gas
    # sampler and smoke meter at the same location (SDC02 B, SDC05 A, SDC07 B).
    co_per_od = float(h.rng.uniform(200.0, 800.0))
    traces["co"] = _with_ambient(h, dev, "co", grid, _shift(onset, t_fire, co_per_od * od))
    return traces, end


def _flaming_fire(h: _Household) -> _Played:
    choices = flaming_locations()
    loc = choices[h.seed % len(choices)]  # every location in turn, so tests can name it
    dev = h.add(str(h.rng.choice(["smoke", "multi"])), "kitchen")
    onset = _pre_roll(h)
    stretch = float(h.rng.uniform(0.8, 1.25))
    traces, end = _fire_traces(
        h, dev, loc, onset, stretch=stretch, od_scale=float(h.rng.uniform(0.8, 1.2))
    )
    h.reports(dev, h.t0, end, traces=traces)
    return _Played(onset, end)


def _fast_heat_fire(h: _Household) -> _Played:
    choices = heat_fire_locations()
    loc = choices[h.seed % len(choices)]
    dev = h.add("heat", "kitchen")
    onset = _pre_roll(h)
    stretch = float(h.rng.uniform(0.6, 1.0))
    t_fire = (loc.time - loc.time[0]) * stretch
    end = onset + float(t_fire[-1]) + POST_FIRE_HOLD_S
    rise = loc.temperature_rise * float(h.rng.uniform(0.9, 1.2))
    grid = _grid(h.t0, end)
    temp = _with_ambient(h, dev, "temperature", grid, _shift(onset, t_fire, rise))
    h.reports(dev, h.t0, end, traces={"temperature": temp})
    return _Played(onset, end)


def _smouldering_fire(h: _Household) -> _Played:
    # Synthetic: the bundled NIST tests are all flaming. Shape from NIST TN 1455's smouldering
    # tests as described there: smoke grows for tens of minutes with little heat, CO early.
    kind = str(h.rng.choice(["smoke", "multi"]))
    dev = h.add(kind, "bedroom")
    onset = _pre_roll(h, 600.0, 900.0)
    t5 = float(h.rng.uniform(1800.0, 5400.0))  # 5 %/m reached 30-90 min after it starts
    growth = float(h.rng.uniform(900.0, 1800.0))
    scale = 5.0 / np.expm1(t5 / growth)
    final = float(h.rng.uniform(15.0, 25.0))
    t_end = growth * float(np.log1p(final / scale))
    t = np.arange(0.0, t_end + 1.0, 5.0)
    smoke = scale * np.expm1(t / growth)
    end = onset + t_end + 600.0
    grid = _grid(h.t0, end, 5.0)
    co_per_obs = float(h.rng.uniform(8.0, 20.0))  # ppm per %/m: CO leads in a smoulder
    traces = {
        "smoke_obscuration": _with_ambient(
            h, dev, "smoke_obscuration", grid, _shift(onset, t, smoke)
        ),
        "temperature": _with_ambient(h, dev, "temperature", grid, _shift(onset, t, 0.3 * smoke)),
        "co": _with_ambient(h, dev, "co", grid, _shift(onset, t, co_per_obs * smoke)),
    }
    h.reports(dev, h.t0, end, traces=traces)
    # Smoke alone is a smoke alarm; a multi-sensor's CO confirms it as a fire.
    return _Played(onset, end, frozenset({"fire" if kind == "multi" else "smoke"}))


def _pot_on_stove(h: _Household) -> _Played:
    dev = h.add(str(h.rng.choice(["smoke", "multi"])), "kitchen")
    cooking = _pre_roll(h)
    onset = cooking + float(h.rng.uniform(600.0, 1200.0))  # the pot boils dry
    t5 = float(h.rng.uniform(360.0, 900.0))
    power = float(h.rng.uniform(1.5, 2.0))
    final = float(h.rng.uniform(15.0, 25.0))
    t_end = t5 * (final / 5.0) ** (1.0 / power)
    t = np.arange(0.0, onset - cooking + t_end + 1.0, 2.0)
    burning = np.clip(t - (onset - cooking), 0.0, None)
    smoke = 0.8 * np.minimum(t / 300.0, 1.0) + 5.0 * (burning / t5) ** power
    end = onset + t_end + 300.0
    grid = _grid(h.t0, end, 2.0)
    traces = {
        "smoke_obscuration": _with_ambient(
            h, dev, "smoke_obscuration", grid, _shift(cooking, t, smoke)
        ),
        "temperature": _with_ambient(
            h, dev, "temperature", grid, _shift(cooking, t, 1.0 + 0.3 * smoke)
        ),
        "co": _with_ambient(h, dev, "co", grid, _shift(cooking, t, 2.0 * smoke)),
    }
    h.reports(dev, h.t0, end, traces=traces)
    return _Played(onset, end)


# ---------------------------------------------------------------- nuisances

NUISANCE_MAX_ABOVE_5_S = 40.0  # cooking may brush the alarm level, never for a verification window


def _puffs(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """Cooking smoke: one to three puffs (frying, flipping, opening the lid) that clear."""
    smoke = np.zeros(t.size)
    for _ in range(int(rng.integers(1, 4))):
        at = float(rng.uniform(0.0, 300.0))
        rise = float(rng.uniform(30.0, 90.0))
        x = np.clip(t - at, 0.0, None) / rise
        smoke += float(rng.uniform(0.8, 3.5)) * x * np.exp(1.0 - x)
    while float(np.sum(smoke > 5.0)) * float(t[1] - t[0]) > NUISANCE_MAX_ABOVE_5_S:
        smoke *= 0.95
    return smoke


def _cooking_smoke(h: _Household) -> _Played:
    dev = h.add(str(h.rng.choice(["smoke", "multi"])), "kitchen")
    onset = _pre_roll(h)
    t = np.arange(0.0, 1800.0, 1.0)
    smoke = _puffs(h.rng, t)
    heat = float(h.rng.uniform(0.5, 2.0)) * (1.0 - np.exp(-t / 300.0)) * np.exp(-t / 1500.0)
    end = onset + 1800.0
    grid = _grid(h.t0, end)
    traces = {
        "smoke_obscuration": _with_ambient(
            h, dev, "smoke_obscuration", grid, _shift(onset, t, smoke)
        ),
        "temperature": _with_ambient(h, dev, "temperature", grid, _shift(onset, t, heat)),
        "co": _with_ambient(h, dev, "co", grid, _shift(onset, t, 1.5 * smoke)),
    }
    h.reports(dev, h.t0, end, traces=traces)
    return _Played(onset, end)


def _shower_steam(h: _Household) -> _Played:
    dev = h.add("smoke", "hallway")
    onset = _pre_roll(h)
    shower = float(h.rng.uniform(600.0, 1200.0))
    plateau = float(h.rng.uniform(1.0, 3.5))
    clear = float(h.rng.uniform(300.0, 600.0))
    t = np.arange(0.0, shower + 6 * clear, 2.0)
    level = 1.0 - np.exp(-np.minimum(t, shower) / 180.0)
    after = np.clip(t - shower, 0.0, None)
    steam = plateau * level * np.exp(-after / clear)
    end = onset + float(t[-1])
    grid = _grid(h.t0, end, 2.0)
    warm = float(h.rng.uniform(0.5, 2.0)) / plateau
    traces = {
        "smoke_obscuration": _with_ambient(
            h, dev, "smoke_obscuration", grid, _shift(onset, t, steam)
        ),
        "temperature": _with_ambient(h, dev, "temperature", grid, _shift(onset, t, warm * steam)),
    }
    h.reports(dev, h.t0, end, traces=traces)
    return _Played(onset, end)


# ---------------------------------------------------------------- trouble

DUST_DAYS = 14.0


def _dust_drift(h: _Household) -> _Played:
    dev = h.add("smoke", "kitchen")
    onset = h.t0 + 86400.0
    end = onset + (DUST_DAYS - 1.0) * 86400.0
    # It ends past a 3 %/m maintenance limit and short of the 4 %/m fast-report level.
    final = float(h.rng.uniform(3.2, 3.8))
    creep = final - float(h.ambient(dev, "smoke_obscuration", np.array([end]))[0])
    t = np.arange(0.0, end - onset + 600.0, 600.0)
    dust = creep * (t / t[-1]) ** float(h.rng.uniform(1.0, 1.5))
    grid = np.arange(h.t0, end + 600.0, 600.0)
    smoke = _with_ambient(h, dev, "smoke_obscuration", grid, _shift(onset, t, dust))

    def dirt(ts: np.ndarray) -> np.ndarray:
        # A dusty chamber is noisy too: single-sample spikes, more of them as dust settles.
        settled = np.clip(ts - onset, 0.0, None) / (end - onset)
        spikes = h.rng.random(ts.size) < 0.002 + 0.01 * settled
        return np.where(spikes, h.rng.uniform(0.2, 0.8, ts.size), 0.0)

    h.reports(dev, h.t0, end, traces={"smoke_obscuration": smoke}, dirt=dirt)
    return _Played(onset, end)


def _stuck_sensor(h: _Household) -> _Played:
    metric = str(h.rng.choice(["smoke_obscuration", "temperature"]))
    kinds = ["smoke", "multi"] + (["heat"] if metric == "temperature" else [])
    dev = h.add(str(h.rng.choice(kinds)), "kitchen")
    start = h.t0 + 1800.0
    end = start + 8 * 3600.0
    before = h.ambient(dev, metric, np.array([start]))
    stuck = float(measure(metric, before, h.rng.standard_normal(1))[0])
    ts = h.reports(dev, h.t0, end, frozen={metric: (start, stuck)})
    return _Played(float(ts[ts >= start][0]), end)


def _dropout_sensor(h: _Household) -> _Played:
    dev = h.add(str(h.rng.choice(["smoke", "multi", "heat"])), "kitchen")
    gaps: list[tuple[float, float]] = []
    at = h.t0 + 1800.0
    for _ in range(int(h.rng.integers(3, 6))):
        length = float(h.rng.uniform(16 * 60.0, 30 * 60.0))  # beyond 3 heartbeats (300 s)
        gaps.append((at, at + length))
        at += length + float(h.rng.uniform(1200.0, 2400.0))
    end = at
    h.reports(dev, h.t0, end, gaps=tuple(gaps))
    return _Played(gaps[0][0], end)


def _tamper(h: _Household) -> _Played:
    kind = str(h.rng.choice(["smoke", "pir", "door"]))
    dev = h.add(kind, ROOM[kind])
    onset = _pre_roll(h)
    end = onset + 3600.0
    h.reports(dev, h.t0, end)
    h.signal(dev, "tamper", np.array([onset]), np.array([1.0]))
    if h.rng.random() < 0.6:  # put back on its base; otherwise left off
        h.signal(dev, "tamper", np.array([onset + h.rng.uniform(120.0, 1200.0)]), np.array([0.0]))
    return _Played(onset, end)


def _battery_drain(h: _Household) -> _Played:
    kind = str(h.rng.choice(["smoke", "panic"]))
    dev = h.add(kind, ROOM[kind])
    end = h.t0 + 2 * 86400.0
    start = h.t0 + float(h.rng.uniform(3600.0, 6 * 3600.0))
    v0 = float(h.rng.uniform(2.75, 2.9))
    # The cell holds, then sags faster and faster: quadratic from `start` to 2.2 V at the end.
    t = np.arange(h.t0, end + 60.0, 60.0)
    k = (v0 - 2.2) / (end - start) ** 2
    volts = v0 - k * np.clip(t - start, 0.0, None) ** 2
    onset = start + float(np.sqrt((v0 - LOW_BATTERY_V[kind]) / k))
    h.reports(dev, h.t0, end, traces={"battery": (t, volts)})
    return _Played(onset, end)


def _silent_device(h: _Household) -> _Played:
    kind = str(h.rng.choice(["smoke", "heat", "panic", "pir", "door"]))
    dev = h.add(kind, ROOM[kind])
    quiet = h.t0 + 3600.0
    end = quiet + float(h.rng.uniform(2 * 3600.0, 6 * 3600.0))
    ts = h.reports(dev, h.t0, end, gaps=((quiet, end),))
    last = float(ts[ts < quiet][-1])
    if kind in ("pir", "door"):
        act = activity(h.rng, Resident.draw(h.rng), h.t0, quiet).until(last)
        values = act.motion if kind == "pir" else act.door_ts
        if values.size:
            last = max(last, float(values[-1]))
        if kind == "pir":
            h.signal(dev, "motion", act.motion, np.ones(act.motion.size))
        else:
            h.signal(dev, "door", act.door_ts, act.door_value)
    return _Played(last, end)


def _gateway_uplink_loss(h: _Household) -> _Played:
    smoke = h.add("smoke", "kitchen")
    panic = h.add("panic", "bedroom")
    onset = h.t0 + 1800.0
    back = onset + float(h.rng.uniform(180.0, 720.0))
    end = back + 1800.0
    for dev in (smoke, panic):
        h.reports(dev, h.t0, end, gaps=((onset, back),))
    return _Played(onset, end)


# ---------------------------------------------------------------- panic


def _panic_press(h: _Household) -> _Played:
    dev = h.add("panic", "bedroom")
    onset = _pre_roll(h, 900.0, 1800.0)
    end = onset + 1800.0
    h.reports(dev, h.t0, end)
    presses = [onset]
    if h.rng.random() < 0.4:  # pressed again, as frightened people do
        presses += list(onset + np.cumsum(h.rng.uniform(10.0, 60.0, int(h.rng.integers(1, 4)))))
    h.signal(dev, "button", np.array(presses), np.ones(len(presses)))
    return _Played(onset, end)


def _false_press_cancel(h: _Household) -> _Played:
    dev = h.add("panic", "bedroom")
    onset = _pre_roll(h, 900.0, 1800.0)
    end = onset + 1800.0
    h.reports(dev, h.t0, end)
    cancel = onset + float(h.rng.uniform(2.0, 20.0))
    h.signal(dev, "button", np.array([onset, cancel]), np.array([1.0, 2.0]))
    return _Played(onset, end)


# ---------------------------------------------------------------- the elderly resident


def _resident_home(h: _Household) -> tuple[int, int]:
    pir = h.add("pir", "living_room")
    door = h.add("door", "entrance")
    h.add("panic", "bedroom")
    h.add("smoke", "kitchen")
    return pir, door


def _daily_routine(h: _Household) -> _Played:
    pir, door = _resident_home(h)
    end = h.t0 + 2 * 86400.0
    for dev in range(len(h.devices)):
        h.reports(dev, h.t0, end)
    h.routine(pir, door, activity(h.rng, Resident.draw(h.rng), h.t0, end))
    return _Played(None, end)


INACTIVITY_AFTER_S = 16 * 3600.0


def _inactivity_stop(h: _Household) -> _Played:
    pir, door = _resident_home(h)
    resident = Resident.draw(h.rng)
    earliest = h.t0 + 20 * 3600.0
    stop = local_midnight(earliest) + 3600.0 * float(h.rng.uniform(9.0, 16.0))
    if stop < earliest:
        stop += 86400.0
    act = activity(h.rng, resident, h.t0, stop)
    onset = float(max(act.motion[-1], act.door_ts[-1] if act.door_ts.size else h.t0))
    end = stop + INACTIVITY_AFTER_S
    for dev in range(len(h.devices)):
        h.reports(dev, h.t0, end)
    h.routine(pir, door, act)
    return _Played(onset, end)


# ---------------------------------------------------------------- the library


Build = Callable[[_Household], _Played]


@dataclass(frozen=True)
class ScenarioSpec:
    name: str
    klass: Klass
    description: str
    build: Build = field(repr=False)
    expected_kinds: frozenset[str] = frozenset()
    forbidden_signals: frozenset[str] = frozenset()


NO_ALARM = frozenset({"alarm"})
_LIBRARY: tuple[tuple[str, Klass, tuple[str, ...], frozenset[str], Build, str], ...] = (
    # name, klass, expected alert kinds, forbidden signals, builder, description
    ("flaming_fire", "fire", ("fire",), frozenset(), _flaming_fire,
     "flaming fire: smoke, heat and CO of a NIST test location"),
    ("smouldering_fire", "fire", ("smoke", "fire"), frozenset(), _smouldering_fire,
     "smouldering fire: slow smoke growth, CO, little heat"),
    ("fast_heat_fire", "fire", ("heat",), frozenset(), _fast_heat_fire,
     "fast fire seen by a heat detector, NIST temperatures"),
    ("pot_on_stove", "fire", ("pre_alarm", "smoke"), frozenset(), _pot_on_stove,
     "pot left on the stove: smoke that keeps rising"),
    ("cooking_smoke", "nuisance", (), NO_ALARM, _cooking_smoke,
     "ordinary cooking smoke that clears within minutes"),
    ("shower_steam", "nuisance", (), NO_ALARM, _shower_steam,
     "shower steam drifting to a hallway smoke detector"),
    ("dust_drift", "trouble", ("dirty",), NO_ALARM, _dust_drift,
     "dust settling: the smoke baseline creeps over days"),
    ("stuck_sensor", "trouble", ("sensor_fault",), NO_ALARM, _stuck_sensor,
     "the smoke or temperature reading freezes at one value"),
    ("dropout_sensor", "trouble", ("offline",), NO_ALARM, _dropout_sensor,
     "a detector that drops out for long stretches, again and again"),
    ("tamper", "trouble", ("tamper",), NO_ALARM, _tamper,
     "a device taken off its base (sometimes put back)"),
    ("battery_drain", "trouble", ("battery_low",), NO_ALARM, _battery_drain,
     "a battery sagging below the low-battery level"),
    ("silent_device", "trouble", ("offline",), NO_ALARM, _silent_device,
     "a device that stops reporting for hours"),
    ("gateway_uplink_loss", "trouble", ("gateway_offline",), NO_ALARM, _gateway_uplink_loss,
     "the household's gateway loses its uplink for minutes"),
    ("panic_press", "panic", ("panic",), frozenset(), _panic_press,
     "the resident presses the bedside button"),
    ("false_press_cancel", "panic", ("false_press",), frozenset(), _false_press_cancel,
     "an accidental press, cancelled by a long press seconds later"),
    ("daily_routine", "benign", (), frozenset({"alarm", "supervisory"}), _daily_routine,
     "two ordinary days of an elderly resident living alone"),
    ("inactivity_stop", "inactivity", ("inactivity",), NO_ALARM, _inactivity_stop,
     "a resident's activity stops (a fall, an illness)"),
)  # fmt: skip
# Scenarios whose onset follows a pre-roll of ordinary reporting (pot_on_stove: the cooking).
PRE_ROLLED = frozenset({
    "flaming_fire", "fast_heat_fire", "smouldering_fire", "pot_on_stove", "cooking_smoke",
    "shower_steam", "tamper", "panic_press", "false_press_cancel",
})  # fmt: skip
SCENARIOS: dict[str, ScenarioSpec] = {
    name: ScenarioSpec(name, klass, text, build, frozenset(expected), forbidden)
    for name, klass, expected, forbidden, build, text in _LIBRARY
}


def play(name: str, seed: int, t0: float = 0.0, pre_roll_s: float | None = None) -> ScenarioRun:
    """The scenario `name` as its devices report it from `t0`, deterministic for (name, seed).

    `pre_roll_s` replaces the drawn minutes of ordinary reporting before anything happens, for
    the scenarios in PRE_ROLLED (a demo wants its first alarm within a minute)."""
    spec = SCENARIOS.get(name)
    if spec is None:
        raise ValueError(f"unknown scenario {name!r} (known: {', '.join(SCENARIOS)})")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if pre_roll_s is not None and (name not in PRE_ROLLED or pre_roll_s < 0):
        raise ValueError(
            f"a pre-roll of {pre_roll_s} s for {name!r}: only scenarios "
            f"{', '.join(sorted(PRE_ROLLED))} take one, and it must be >= 0"
        )
    h = _Household(name, seed, float(t0), pre_roll_s)
    return h.run(spec, spec.build(h))


def to_replay_csv(run: ScenarioRun, devices_path: Path, readings_path: Path) -> None:
    """The two CSV files `vigil detect replay` reads."""
    with devices_path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(("device_id", "type", "household_id", "room"))
        w.writerows((d.device_id, d.type, d.household_id, d.room) for d in run.devices)
    with readings_path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(("ts", "device_id", "metric", "value"))
        w.writerows(
            zip(
                run.ts.tolist(),
                run.device_id.tolist(),
                run.metric.tolist(),
                run.value.tolist(),
                strict=True,
            )
        )
