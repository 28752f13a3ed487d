"""Words and evidence for a kernel event: the reason an operator reads and the figures behind it."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors import explain_routine
from detectors.codes import METRICS, RULES
from detectors.kernels import (
    EV_ACTION,
    EV_BASE,
    EV_CO,
    EV_KIND,
    EV_ROR,
    EV_ROW,
    EV_RULE,
    EV_SCORE,
    EV_SINCE,
    EV_SLOT,
    EV_SMOKE,
    EV_TRISE,
    EV_TS,
)


@dataclass(frozen=True)
class Event:
    """One kernel event, unpacked."""

    row: int
    slot: int
    kind: int
    action: int
    rule: int
    ts: float
    score: float
    smoke: float
    base: float
    trise: float
    ror: float
    co: float
    since: float

    @classmethod
    def unpack(cls, ev_i: npt.NDArray[np.int64], ev_f: npt.NDArray[np.float64]) -> list[Event]:
        out = []
        for ints, floats in zip(ev_i.tolist(), ev_f.tolist(), strict=True):
            out.append(
                cls(
                    ints[EV_ROW],
                    ints[EV_SLOT],
                    ints[EV_KIND],
                    ints[EV_ACTION],
                    ints[EV_RULE],
                    floats[EV_TS],
                    floats[EV_SCORE],
                    floats[EV_SMOKE],
                    floats[EV_BASE],
                    floats[EV_TRISE],
                    floats[EV_ROR],
                    floats[EV_CO],
                    floats[EV_SINCE],
                )
            )
        return out


@dataclass(frozen=True)
class Reading:
    """The reading that triggered an event."""

    ts: float
    metric: int
    value: float
    received_at: float


# Policy figures each rule is judged by, shown in the evidence.
THRESHOLDS: dict[str, tuple[str, ...]] = {
    "smoke_with_heat": ("smoke_fused_pct", "heat_rising_c", "heat_rising_c_per_min"),
    "smoke_with_co": ("smoke_fused_pct", "co_fused_ppm"),
    "smoke_high": ("smoke_high_pct", "smoke_high_count"),
    "smoke_keeps_rising": ("smoke_pre_pct", "smoke_escalate_s", "smoke_rise_pct_per_min"),
    "slow_rise_cusum": ("cusum_k_pct", "cusum_h_pct_min"),
    "smoke_verified": ("smoke_verify_pct", "smoke_verify_s"),
    "gateway_silence": ("gateway_silence_periods",),
    "cooking_smoke": ("smoke_pre_pct", "stove_heat_c", "stove_smoke_pct", "co_fused_ppm"),
    "smoke_after_heat": ("smoke_after_heat_s", "smoke_rise_pct_per_min"),
    "dense_smoke_with_heat": ("stove_smoke_pct", "heat_rising_c", "heat_rising_c_per_min"),
    "hush_button": ("hush_s",),
    "smoke_pre_alarm": ("smoke_pre_pct", "smoke_pre_count"),
    "heat_rising": ("heat_rising_c", "heat_rising_c_per_min"),
    "heat_fixed_temperature": ("heat_fixed_c", "heat_fixed_count"),
    "heat_rate_of_rise": ("heat_ror_c_per_min", "heat_ror_min_rise_c"),
    "co_level": ("co_alarm_ppm", "co_tau_s"),
    "cancel_within_grace": ("cancel_grace_s",),
    "battery_low": ("battery_low_v", "battery_count"),
    "implausible_value": ("fault_count",),
    "stuck_value": ("stuck_temperature_s", "stuck_smoke_s", "stuck_count"),
    "baseline_drift": ("dirty_pct",),
    "silence": ("offline_after_s",),
    "max_silence": ("inactivity_max_silence_s",),
    "not_up": ("routine_rest_margin_s",),
    "silent_at_home": ("routine_gap_factor", "routine_gap_margin_s", "inactivity_min_silence_s"),
    "out_not_back": ("routine_out_margin_s", "routine_night_h", "away_max_s"),
}


def _metric_value(reading: Reading | None) -> str:
    if reading is None:
        return "a reading"
    return f"{METRICS[reading.metric]} {reading.value:g}"


_Reason = Callable[[Event, Reading | None, Mapping[str, float]], str]
_REASONS: dict[str, _Reason] = {
    "smoke_with_heat": lambda e, r, f: (
        f"smoke {e.smoke:.1f} %/m over baseline with heat +{e.trise:.1f} °C "
        f"rising {e.ror:.1f} °C/min"
    ),
    "smoke_with_co": lambda e, r, f: (
        f"smoke {e.smoke:.1f} %/m over baseline with CO +{e.co:.0f} ppm"
    ),
    "smoke_high": lambda e, r, f: (
        f"dense smoke {e.smoke:.1f} %/m over baseline (alarm at {f['smoke_high_pct']:g} %/m)"
    ),
    "smoke_keeps_rising": lambda e, r, f: (
        f"smoke {e.smoke:.1f} %/m over baseline still rising "
        f"{e.score * f['smoke_rise_pct_per_min']:.1f} %/m per min, "
        f"{e.ts - e.since:.0f} s after it began"
    ),
    "slow_rise_cusum": lambda e, r, f: (
        f"smouldering: smoke held above {f['cusum_k_pct']:g} %/m, CUSUM "
        f"{e.score * f['cusum_h_pct_min']:.0f} %/m·min (limit {f['cusum_h_pct_min']:g})"
    ),
    "smoke_verified": lambda e, r, f: (
        f"smoke {e.smoke:.1f} %/m over baseline held at the alarm level "
        f"({f['smoke_verify_pct']:g} %/m) for {f['smoke_verify_s']:g} s (alarm verification)"
    ),
    "cooking_smoke": lambda e, r, f: (
        f"cooking smoke in the kitchen: {e.smoke:.1f} %/m over baseline, heat "
        f"+{e.trise:.1f} °C (a stove gives under {f['stove_heat_c']:g}), no fire evidence; "
        "becomes a fire alarm if CO, more heat, denser smoke or smoke outside the kitchen appear"
    ),
    "smoke_after_heat": lambda e, r, f: (
        f"smoke {e.smoke:.1f} %/m over baseline still rising "
        f"{e.score * f['smoke_rise_pct_per_min']:.1f} %/m per min "
        f"{f['smoke_after_heat_s']:g} s after the heat stopped rising"
    ),
    "dense_smoke_with_heat": lambda e, r, f: (
        f"smoke {e.smoke:.1f} %/m over baseline, beyond cooking ({f['stove_smoke_pct']:g} %/m), "
        f"with heat +{e.trise:.1f} °C rising {e.ror:.1f} °C/min"
    ),
    "hush_button": lambda e, r, f: (
        f"silence button pressed: this room's smoke-only alarms hushed for {f['hush_s']:.0f} s"
        if f["hush_s"] > 0
        else "silence button pressed (this room has no hush: nothing suppressed)"
    ),
    "smoke_pre_alarm": lambda e, r, f: (
        f"smoke {e.smoke:.1f} %/m over baseline without heat (pre-alarm at "
        f"{f['smoke_pre_pct']:g} %/m): cooking, steam or an early fire"
    ),
    "heat_rising": lambda e, r, f: f"heat +{e.trise:.1f} °C rising {e.ror:.1f} °C/min",
    "heat_fixed_temperature": lambda e, r, f: (
        f"{_metric_value(r)} °C at or above {f['heat_fixed_c']:g} °C (EN 54-5 A1)"
    ),
    "heat_rate_of_rise": lambda e, r, f: (
        f"temperature rising {e.ror:.1f} °C/min (limit {f['heat_ror_c_per_min']:g}), "
        f"+{e.trise:.1f} °C over baseline"
    ),
    "co_level": lambda e, r, f: (
        f"CO averaging {e.score * f['co_alarm_ppm']:.0f} ppm (alarm at {f['co_alarm_ppm']:g})"
    ),
    "panic_press": lambda e, r, f: "panic button pressed",
    "cancel_within_grace": lambda e, r, f: (
        f"press cancelled after {e.ts - e.since:.0f} s (grace {f['cancel_grace_s']:g} s): "
        "false press"
    ),
    "battery_low": lambda e, r, f: f"{_metric_value(r)} V below {f['battery_low_v']:g} V",
    "tamper": lambda e, r, f: "opened or removed from its base",
    "implausible_value": lambda e, r, f: (
        f"{_metric_value(r)} implausible, {f['fault_count']:g} in a row"
    ),
    "stuck_value": lambda e, r, f: f"{_metric_value(r)} unchanged for hours: stuck sensor",
    "self_test_failed": lambda e, r, f: "self-test failed",
    "baseline_drift": lambda e, r, f: (
        f"smoke baseline drifted to {e.base:.1f} %/m (limit {f['dirty_pct']:g} %/m): "
        "clean or replace the chamber"
    ),
    "device_declared": lambda e, r, f: f"the device declared it ({_metric_value(r)})",
    "device_restored": lambda e, r, f: f"the device declared it over ({_metric_value(r)})",
    "silence": lambda e, r, f: (
        f"nothing received for {f['offline_after_s']:.0f} s (heartbeat allowance)"
    ),
    "max_silence": lambda e, r, f: f"no activity for {(e.ts - e.since) / 3600:.1f} h",
}


def _clean(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else round(value, 4)


def explain(
    event: Event, reading: Reading | None, figures: Mapping[str, float]
) -> tuple[str, str, dict[str, Any]]:
    """(rule name, reason, evidence) for a raise event."""
    rule = RULES[event.rule]
    if rule in explain_routine.ROUTINE_RULES:
        return (
            rule,
            explain_routine.reason(rule, event, figures),
            {
                "window_start": _clean(event.since),
                "routine": explain_routine.evidence(rule, event, figures),
                "thresholds": {name: figures[name] for name in THRESHOLDS.get(rule, ())},
            },
        )
    reason = _REASONS[rule](event, reading, figures)
    evidence: dict[str, Any] = {"score": _clean(event.score), "window_start": _clean(event.since)}
    for name, value in (
        ("smoke_excess_pct", event.smoke),
        ("smoke_baseline_pct", event.base),
        ("temp_rise_c", event.trise),
        ("rate_of_rise_c_per_min", event.ror),
        ("co_excess_ppm", event.co),
    ):
        cleaned = _clean(value)
        if cleaned is not None:
            evidence[name] = cleaned
    if reading is not None:
        evidence["reading"] = {
            "ts": reading.ts,
            "metric": METRICS[reading.metric],
            "value": _clean(reading.value),
            "received_at": reading.received_at,
        }
    evidence["thresholds"] = {name: figures[name] for name in THRESHOLDS.get(rule, ())}
    return rule, reason, evidence
