"""Why a kitchen's flaming fires cannot alarm as early as before issue 16.

Before the kitchen figures, the simulator's kitchen flaming fires alarmed on smoke of 2-4 %/m with
the ceiling 1-2 °C warmer. A detector only knows the past, so for each such fire we build its
*cooking twin*: the fire's own readings up to that alarm, then the smoke held for 40 s and cleared
over 3 min, as the held-out cooking episodes do (issue 16: a peak of 2-7 %/m in 40-120 s, held
20-60 s, cleared over 2-5 min, +0.5-3 °C, CO under 8 ppm). Where the twin is inside that envelope,
the earlier alarm is an alarm on cooking below UL 217's 4.84 %/m: the pre-issue policy sounds on
the twin, the kitchen policy does not. Being as early as before on those fires would break the
cooking requirement.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from detectors import evaluate, nuisance
from detectors.codes import METRIC_CODE
from detectors.engine import DetectorEngine
from detectors.policy import Policy
from detectors.registry import Device
from detectors.replay import Readings, run

SMOKE = METRIC_CODE["smoke_obscuration"]
HEAT = METRIC_CODE["temperature"]
CO = METRIC_CODE["co"]
HOLD_S, CLEAR_S = 40.0, 180.0
# The held-out cooking envelope (issue 16), widened to frying's puffs (rising in
# 20-90 s, NIST TN 1947, detectors/nuisance.py): a twin's smoke goes from 0.5 %/m to its peak
# in RISE_MIN_S..RISE_MAX_S. (Smoke that jumps faster is beyond cooking: not a twin.)
PEAK_MAX_PCT, RISE_MIN_S, RISE_MAX_S, WARM_MAX_C, CO_MAX_PPM = 7.0, 20.0, 120.0, 3.0, 8.0


def _pre_issue_policy(tmp_path: Path) -> Policy:
    text = (Path(evaluate.__file__).parent / "policy.toml").read_text("utf-8")
    start, end = text.index("\n[rooms.kitchen]"), text.index("\n[types.panic]")
    plain = tmp_path / "pre_issue_16.toml"
    plain.write_text(text[:start] + text[end:], "utf-8")
    return Policy.load(plain)


def _first_alarm(devices: list[Device], readings: Readings, policy: Policy, after: float) -> float:
    alerts = run(DetectorEngine(devices, policy), readings)
    times = [a.ts for a in alerts if a.signal == "alarm" and a.ts >= after]
    return min(times) if times else float("nan")


def _level(readings: Readings, metric: int, t: float, onset: float) -> tuple[float, float]:
    """(clean-air level before the onset, mean excess over it in the 5 s up to t)."""
    rows = readings.metric == metric
    ts, v = readings.ts[rows], readings.value[rows]
    base = float(np.median(v[ts < onset]))
    recent = (ts <= t) & (ts > t - 5.0)
    return base, float(v[recent].mean() - base)


@dataclass(frozen=True)
class Twin:
    readings: Readings
    peak: float  # %/m over clean air
    rise_s: float  # from 0.5 %/m to the peak
    warm: float  # °C
    co: float  # ppm (0 without a CO sensor)

    @property
    def inside_envelope(self) -> bool:
        return (
            self.peak <= PEAK_MAX_PCT
            and RISE_MIN_S <= self.rise_s <= RISE_MAX_S
            and self.warm <= WARM_MAX_C
            and self.co < CO_MAX_PPM
        )


def cooking_twin(readings: Readings, onset: float, cut: float) -> Twin:
    """The fire's readings up to `cut`, then held and cleared like a cooking plume."""
    keep = readings.ts <= cut
    later = ~keep & (readings.ts <= cut + HOLD_S + 2 * CLEAR_S)
    shape = np.exp(-3.0 * np.clip(readings.ts - cut - HOLD_S, 0.0, None) / CLEAR_S)
    value = readings.value.copy()
    levels = {}
    for metric, slow in ((SMOKE, 1.0), (HEAT, 2.0), (CO, 1.0)):
        rows = readings.metric == metric
        if not rows.any():
            continue
        base, excess = _level(readings, metric, cut, onset)
        levels[metric] = excess
        tail = rows & later
        value[tail] = base + max(excess, 0.0) * shape[tail] ** (1.0 / slow)
    rows = (readings.metric == SMOKE) & keep & (readings.ts >= onset)
    base = float(np.median(readings.value[(readings.metric == SMOKE) & (readings.ts < onset)]))
    above = readings.ts[rows][readings.value[rows] - base >= 0.5]
    sel = keep | later
    twin = Readings(readings.ts[sel], readings.slot[sel], readings.metric[sel], value[sel])
    return Twin(
        twin,
        levels[SMOKE],
        cut - float(above[0]) if above.size else 0.0,
        levels.get(HEAT, 0.0),
        levels.get(CO, 0.0),
    )


def _obscuration(readings: Readings, t: float) -> float:
    rows = (readings.metric == SMOKE) & (readings.ts <= t)
    return float(readings.value[rows][-1])


def test_earlier_kitchen_fire_alarms_were_alarms_on_a_cooking_twin(tmp_path: Path) -> None:
    library = evaluate.scenario_library()
    assert library is not None
    before, kitchen = _pre_issue_policy(tmp_path), Policy.load()
    twins_inside = 0
    for seed in evaluate.SEEDS:
        scenario = library.play("flaming_fire", seed, evaluate.SCENARIO_T0)
        onset = float(scenario.truth.onset_ts)
        devices, readings = evaluate._replay_of(scenario)
        if devices[0].type == "heat":
            continue
        early = _first_alarm(devices, readings, before, onset)
        now = _first_alarm(devices, readings, kitchen, onset)
        if not now > early or _obscuration(readings, early) >= nuisance.UL217_COOKING_LIMIT_PCT:
            continue  # as early as before, or the earlier alarm was at the cooking limit
        twin = cooking_twin(readings, onset, early)
        if not twin.inside_envelope:
            continue
        twins_inside += 1
        # The pre-issue policy sounds on the twin at the same moment (it cannot see the future),
        # below UL 217's cooking limit; the kitchen figures keep it cooking smoke.
        on_twin = _first_alarm(devices, twin.readings, before, onset)
        assert on_twin == pytest.approx(early), seed
        assert _obscuration(twin.readings, on_twin) < nuisance.UL217_COOKING_LIMIT_PCT, seed
        assert np.isnan(_first_alarm(devices, twin.readings, kitchen, onset)), seed
    # Measured: seeds 1, 3 and 7 (24, 16 and 12 s later than before). The other later ones (5, 9,
    # 10: 6-12 s) alarmed before at 5-7 %/m with 1-2 °C: allowed once, but a rule that sounds
    # there sounds on most cooking plumes that reach 5-7 %/m (test_kitchen.py, without the
    # kitchen figures).
    assert twins_inside >= 3
