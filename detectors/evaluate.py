"""`vigil detect eval`: the detectors against ground truth, and against a plain fixed threshold.

Two sources: the NIST home smoke-alarm fire tests (real fires; the commercial alarms' activation
times are the bar) and the simulator's scenario library (firmware_sim.scenarios, with ground
truth per scenario). Each is also run through a plain fixed-threshold detector (obscuration at
the commercial calibration, 5.1 %/m, or 58 °C) so time to alarm has a baseline from the same run.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from detectors import nist, nuisance
from detectors.alert import Alert
from detectors.codes import METRIC_CODE, SMOKE, TEMPERATURE
from detectors.engine import DetectorEngine
from detectors.policy import Policy
from detectors.registry import Device
from detectors.replay import Readings, run
from detectors.rooms import room_class

# The plain detector the requirements compare against: commercial photoelectric calibration in
# the NIST tests (about 5.1 %/m, README) or the EN 54-5 A1 fixed temperature.
FIXED_SMOKE_PCT = 5.1
FIXED_HEAT_C = 58.0
SEEDS = tuple(range(1, 11))
EARLY_TOLERANCE_S = 300.0  # an expected non-fire alert this early still counts (noisy onset)
SCENARIO_T0 = 0.0  # scenarios start at local midnight + 8 h of day 0 (UTC+8), as the simulator
# A kitchen smoke detector may not alarm below UL 217's cooking limit (4.84 %/m) without fire
# evidence, so on a kitchen fire it can trail the plain fixed threshold (5.1 %/m, which alarms on
# cooking as readily); by at most this much (design target).
KITCHEN_TOLERANCE_S = 60.0


@dataclass(frozen=True)
class NistResult:
    test: str
    location: str
    networked: float | None  # our first alarm-class alert, s after ignition
    standalone: float | None  # the same with every location its own household
    fixed: float | None  # plain fixed threshold on the same data
    photoelectric: dict[str, float]  # commercial photoelectric alarms at this location
    has_smoke_meter: bool

    @property
    def bar(self) -> float | None:
        return min(self.photoelectric.values()) if self.photoelectric else None


@dataclass(frozen=True)
class ScenarioResult:
    name: str
    klass: str
    seed: int
    expected: frozenset[str]
    detected: bool | None  # None when nothing is expected (benign)
    time_to_alert: float | None
    false_alarms: int
    device_days: float
    fixed_time_to_alarm: float | None
    fixed_false_alarms: int
    first_alerts: tuple[str, ...] = field(default=())
    kitchen_smoke: bool = False  # a smoke-sensing detector in a kitchen (the UL cooking limit)


def first_alarm(alerts: Iterable[Alert], device_id: str) -> float | None:
    times = [a.ts for a in alerts if a.device_id == device_id and a.signal == "alarm"]
    return min(times) if times else None


def fixed_threshold_alarms(readings: Readings) -> list[tuple[float, int]]:
    """(ts, slot) where a plain detector sounds: raw smoke or temperature over its threshold.

    It re-arms when the reading falls back under the threshold.
    """
    alarms = []
    sounding: set[int] = set()
    for ts, slot, metric, value in zip(
        readings.ts.tolist(),
        readings.slot.tolist(),
        readings.metric.tolist(),
        readings.value.tolist(),
        strict=True,
    ):
        if metric == SMOKE:
            over = value >= FIXED_SMOKE_PCT
        elif metric == TEMPERATURE:
            over = value >= FIXED_HEAT_C
        else:
            continue
        if over and slot not in sounding:
            sounding.add(slot)
            alarms.append((ts, slot))
        elif not over and not math.isnan(value):
            sounding.discard(slot)
    return alarms


def eval_nist(policy: Policy) -> list[NistResult]:
    results = []
    for test in nist.load_tests():
        runs = {}
        for networked in (True, False):
            devices, readings = nist.as_replay(test, networked)
            runs[networked] = (devices, run(DetectorEngine(devices, policy), readings), readings)
        devices, _, readings = runs[True]
        fixed = fixed_threshold_alarms(readings)
        for loc in test.locations:
            did = nist.device_id(test.name, loc.name)
            slot = next((i for i, d in enumerate(devices) if d.device_id == did), None)
            if slot is None:
                continue
            fixed_t = min((t for t, s in fixed if s == slot), default=None)
            results.append(
                NistResult(
                    test.name,
                    loc.name,
                    first_alarm(runs[True][1], did),
                    first_alarm(runs[False][1], did),
                    fixed_t,
                    loc.photoelectric,
                    loc.smoke is not None,
                )
            )
    return results


@dataclass(frozen=True)
class NuisanceResult:
    """One run of a nuisance case: whether and when it alarmed, at what obscuration."""

    case: str
    seed: int
    room: str
    alarmed: bool
    time: float | None  # s after the source started
    obscuration: float | None  # the detector's smoke reading at the alarm, %/m
    peak: float  # the run's highest true obscuration, %/m
    rule: str | None
    kinds: tuple[str, ...]
    fixed_obscuration: float | None = None  # where the plain fixed threshold sounded (None: not)


def eval_nuisance(
    policy: Policy, seeds: Sequence[int] = SEEDS, cases: Sequence[str] | None = None
) -> list[NuisanceResult]:
    """Every nuisance case (detectors.nuisance) through the same engine as the fires."""
    results = []
    for name in cases or sorted(nuisance.CASES):
        for seed in seeds:
            devices, readings, true_smoke = nuisance.play(name, seed)
            alerts = run(DetectorEngine(devices, policy), readings)
            alarms = [a for a in alerts if a.signal == "alarm"]
            first = alarms[0] if alarms else None
            fixed = fixed_threshold_alarms(readings)
            fixed_at = None
            if fixed:
                rows = (readings.metric == SMOKE) & (readings.ts <= fixed[0][0])
                fixed_at = float(readings.value[rows][-1]) if rows.any() else None
            obscuration = None
            if first is not None:
                rows = (readings.metric == SMOKE) & (readings.ts <= first.ts)
                obscuration = float(readings.value[rows][-1]) if rows.any() else None
            results.append(
                NuisanceResult(
                    name,
                    seed,
                    devices[0].room,
                    first is not None,
                    None if first is None else first.ts - nuisance.T0,
                    obscuration,
                    float(true_smoke.max()),
                    None if first is None else first.rule,
                    tuple(sorted({a.kind for a in alerts})),
                    fixed_at,
                )
            )
    return results


def scenario_library() -> ModuleType | None:
    """firmware_sim.scenarios when the simulator provides it (see SCENARIO_API)."""
    try:
        return importlib.import_module("firmware_sim.scenarios")
    except ImportError:
        return None


def _replay_of(scenario: Any) -> tuple[list[Device], Readings]:
    devices = [Device(d.device_id, d.type, d.household_id, d.room) for d in scenario.devices]
    slot_of = {d.device_id: i for i, d in enumerate(devices)}
    readings = Readings(
        np.asarray(scenario.ts, dtype=np.float64),
        np.array([slot_of[d] for d in scenario.device_id], dtype=np.int32),
        np.array([METRIC_CODE[m] for m in scenario.metric], dtype=np.int8),
        np.asarray(scenario.value, dtype=np.float64),
    )
    return devices, readings


def eval_scenario(policy: Policy, library: ModuleType, name: str, seed: int) -> ScenarioResult:
    scenario = library.play(name, seed, SCENARIO_T0)
    truth = scenario.truth
    devices, readings = _replay_of(scenario)
    engine = DetectorEngine(devices, policy)
    alerts = run(engine, readings)
    # The scenario lasts past its last reading when it ends in silence: tick at its end.
    alerts += engine.tick(SCENARIO_T0 + float(truth.duration_s))
    onset = truth.onset_ts
    expected = frozenset(truth.expected_kinds)
    forbidden = frozenset(truth.forbidden_signals)
    fire = truth.klass == "fire"

    def after_onset(a: Alert, early: float = 0.0) -> bool:
        return onset is None or a.ts >= onset - early

    # A fire is detected by any alarm-class alert after ignition (fire, smoke or heat); other
    # scenarios by an alert of an expected kind, which noisy readings may show a little before
    # the true onset (a battery read at 2.59 V while it is at 2.601 V).
    hits = [
        max(a.ts, onset) if onset is not None else a.ts
        for a in alerts
        if (fire and a.signal == "alarm" and after_onset(a))
        or (not fire and a.kind in expected and after_onset(a, EARLY_TOLERANCE_S))
    ]
    detected = bool(hits) if expected else None
    # False alarms as the ground truth defines them: a forbidden signal class, or a fire alarm
    # before the fire began. (A panic press that is then cancelled is still a press.)
    false_alarms = sum(
        1
        for a in alerts
        if a.signal in forbidden or (fire and a.signal == "alarm" and not after_onset(a))
    )
    fixed = [t for t, _ in fixed_threshold_alarms(readings)]
    fixed_hits = [t for t in fixed if fire and onset is not None and t >= onset]
    fixed_false = sum(1 for t in fixed if not fire or onset is None or t < onset)
    return ScenarioResult(
        name,
        truth.klass,
        seed,
        expected,
        detected,
        (min(hits) - onset) if hits and onset is not None else None,
        false_alarms,
        float(truth.device_days),
        (min(fixed_hits) - onset) if fixed_hits and onset is not None else None,
        fixed_false,
        tuple(sorted({a.kind for a in alerts})),
        any(room_class(d.room) == "kitchen" and d.type != "heat" for d in devices),
    )


def eval_scenarios(
    policy: Policy, library: ModuleType, seeds: Sequence[int] = SEEDS
) -> list[ScenarioResult]:
    return [
        eval_scenario(policy, library, name, seed)
        for name in sorted(library.SCENARIOS)
        for seed in seeds
    ]


@dataclass(frozen=True)
class ClassRow:
    """One line of the eval table: a scenario class (or the NIST tests), ours vs fixed."""

    klass: str
    runs: int
    detection_rate: float | None
    false_per_1000_device_days: float
    tta_median: float | None
    tta_p95: float | None
    fixed_detection_rate: float | None
    fixed_false_per_1000_device_days: float
    fixed_tta_median: float | None


def _pct(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def summarize(results: Sequence[ScenarioResult]) -> list[ClassRow]:
    rows = []
    for klass in sorted({r.klass for r in results}):
        group = [r for r in results if r.klass == klass]
        days = sum(r.device_days for r in group) or math.nan
        judged = [r for r in group if r.detected is not None]
        tta = [r.time_to_alert for r in group if r.time_to_alert is not None]
        fixed_tta = [r.fixed_time_to_alarm for r in group if r.fixed_time_to_alarm is not None]
        fire = klass == "fire"
        rows.append(
            ClassRow(
                klass,
                len(group),
                sum(bool(r.detected) for r in judged) / len(judged) if judged else None,
                1000.0 * sum(r.false_alarms for r in group) / days,
                _pct(tta, 50),
                _pct(tta, 95),
                len(fixed_tta) / len(group) if fire else None,
                1000.0 * sum(r.fixed_false_alarms for r in group) / days,
                _pct(fixed_tta, 50),
            )
        )
    return rows


def nist_row(results: Sequence[NistResult]) -> ClassRow:
    """The NIST tests as one table line (locations with a smoke meter and commercial alarms)."""
    judged = [r for r in results if r.has_smoke_meter and r.photoelectric]
    ours = [r.networked for r in judged if r.networked is not None]
    fixed = [r.fixed for r in judged if r.fixed is not None]
    return ClassRow(
        "nist_fire",
        len(judged),
        len(ours) / len(judged) if judged else None,
        0.0,
        _pct(ours, 50),
        _pct(ours, 95),
        len(fixed) / len(judged) if judged else None,
        0.0,
        _pct(fixed, 50),
    )


@dataclass(frozen=True)
class Requirement:
    name: str
    passed: bool
    detail: str


def nuisance_requirements(results: Sequence[NuisanceResult]) -> list[Requirement]:
    """UL 217 8th ed.: no cooking alarm below 4.84 %/m; and at most one run in ten alarming."""
    low = [
        f"{r.case}/{r.seed} at {r.obscuration} %/m"
        for r in results
        if r.alarmed and (r.obscuration is None or r.obscuration < nuisance.UL217_COOKING_LIMIT_PCT)
    ]
    alarmed = [f"{r.case}/{r.seed}" for r in results if r.alarmed]
    return [
        Requirement(
            "nuisance: no alarm below 4.84 %/m (UL 217 8th ed. cooking test)",
            bool(results) and not low,
            f"{len(results)} runs" + (f"; below the limit: {low}" if low else ""),
        ),
        Requirement(
            "nuisance: at most one run in ten alarms at all",
            bool(results) and 10 * len(alarmed) <= len(results),
            f"{len(alarmed)}/{len(results)} alarmed" + (f": {alarmed}" if alarmed else ""),
        ),
    ]


def _fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} s"


def requirements(
    nist_results: Sequence[NistResult], scenario_results: Sequence[ScenarioResult] | None
) -> list[Requirement]:
    judged = [r for r in nist_results if r.has_smoke_meter and r.photoelectric]
    late = [
        f"{r.test}{r.location} {r.networked} > {r.bar}"
        for r in judged
        if r.networked is None or r.bar is None or r.networked > r.bar
    ]
    standalone_ok = sum(
        1
        for r in judged
        if r.standalone is not None and r.bar is not None and r.standalone <= r.bar
    )
    ours = nist_row(nist_results)
    reqs = [
        Requirement(
            "NIST: alarm no later than the earliest commercial photoelectric alarm at the location",
            not late,
            f"{len(judged) - len(late)}/{len(judged)} locations (networked household); "
            f"standalone {standalone_ok}/{len(judged)}" + (f"; late: {late}" if late else ""),
        ),
        Requirement(
            "NIST: median time to alarm better than a plain fixed threshold",
            ours.tta_median is not None
            and ours.fixed_tta_median is not None
            and ours.tta_median < ours.fixed_tta_median,
            f"median {ours.tta_median} s vs fixed {ours.fixed_tta_median} s",
        ),
    ]
    if scenario_results is None:
        return reqs
    fires = [r for r in scenario_results if r.klass == "fire"]
    missed = [f"{r.name}/{r.seed}" for r in fires if not r.detected]
    nuisance = [r for r in scenario_results if r.klass in ("nuisance", "benign")]
    noisy = [f"{r.name}/{r.seed}: {r.false_alarms}" for r in nuisance if r.false_alarms]
    # Per fire scenario, not pooled: a median over all fire runs falls between the fast fires and
    # the slow ones and says nothing about either.
    elsewhere = [r for r in fires if not r.kitchen_smoke]
    medians = {}
    for name in sorted({r.name for r in elsewhere}):
        times = [
            r.time_to_alert for r in elsewhere if r.name == name and r.time_to_alert is not None
        ]
        plain = [
            r.fixed_time_to_alarm
            for r in elsewhere
            if r.name == name and r.fixed_time_to_alarm is not None
        ]
        medians[name] = (_pct(times, 50.0), _pct(plain, 50.0))
    better = bool(medians) and all(
        o is not None and (f is None or o < f) for o, f in medians.values()
    )
    trailing = {
        f"{r.name}/{r.seed}": round(r.time_to_alert - r.fixed_time_to_alarm)
        for r in fires
        if r.kitchen_smoke
        and r.time_to_alert is not None
        and r.fixed_time_to_alarm is not None
        and r.time_to_alert - r.fixed_time_to_alarm > 0.0
    }
    worst = max(trailing.values(), default=0)
    reqs += [
        Requirement(
            "scenarios: every fire detected",
            bool(fires) and not missed,
            f"{len(fires) - len(missed)}/{len(fires)}" + (f"; missed {missed}" if missed else ""),
        ),
        Requirement(
            "scenarios: no alarm-class signal from cooking, steam, dust or daily life",
            not noisy,
            f"{len(nuisance)} runs" + (f"; alarms in {noisy}" if noisy else ""),
        ),
        Requirement(
            "scenarios: fire time to alarm better than a plain fixed threshold, median per fire "
            "scenario (outside the kitchen smoke detectors UL 217's cooking limit binds)",
            better,
            f"{len(elsewhere)} runs: "
            + ", ".join(f"{n} {_fmt_s(o)} vs fixed {_fmt_s(f)}" for n, (o, f) in medians.items()),
        ),
        Requirement(
            f"scenarios: kitchen smoke fires within {KITCHEN_TOLERANCE_S:.0f} s of the plain fixed "
            "threshold (which alarms on cooking)",
            worst <= KITCHEN_TOLERANCE_S,
            f"{sum(r.kitchen_smoke for r in fires)} runs, {len(trailing)} after the fixed "
            f"threshold, by at most {worst} s",
        ),
    ]
    return reqs
