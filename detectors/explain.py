"""Words and evidence for a kernel event: the reason an operator reads and the figures behind it."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from detectors import explain_routine
from detectors.codes import METRICS, RULES
from detectors.events import (
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
from vigil.messages import MESSAGES, render

if TYPE_CHECKING:  # annotations only: numpy.typing is slow to import at start-up
    import numpy.typing as npt


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


_Params = Callable[[Event, Reading | None, Mapping[str, float]], dict[str, Any]]


def _value(reading: Reading | None) -> dict[str, Any]:
    if reading is None:
        return {"metric": "reading", "value": "?"}
    return {"metric": METRICS[reading.metric], "value": _clean(reading.value)}


# The parameters of each rule's reason (`vigil.messages`: "reason.<rule>").
_PARAMS: dict[str, _Params] = {
    "smoke_with_heat": lambda e, r, f: {"smoke": e.smoke, "trise": e.trise, "ror": e.ror},
    "smoke_with_co": lambda e, r, f: {"smoke": e.smoke, "co": e.co},
    "smoke_high": lambda e, r, f: {"smoke": e.smoke, "limit": f["smoke_high_pct"]},
    "smoke_keeps_rising": lambda e, r, f: {
        "smoke": e.smoke,
        "rise": e.score * f["smoke_rise_pct_per_min"],
        "since": e.ts - e.since,
    },
    "slow_rise_cusum": lambda e, r, f: {
        "k": f["cusum_k_pct"],
        "cusum": e.score * f["cusum_h_pct_min"],
        "limit": f["cusum_h_pct_min"],
    },
    "smoke_verified": lambda e, r, f: {
        "smoke": e.smoke,
        "limit": f["smoke_verify_pct"],
        "hold": f["smoke_verify_s"],
    },
    "smoke_pre_alarm": lambda e, r, f: {"smoke": e.smoke, "limit": f["smoke_pre_pct"]},
    "heat_rising": lambda e, r, f: {"trise": e.trise, "ror": e.ror},
    "heat_fixed_temperature": lambda e, r, f: {
        "value": _value(r)["value"],
        "limit": f["heat_fixed_c"],
    },
    "heat_rate_of_rise": lambda e, r, f: {
        "ror": e.ror,
        "limit": f["heat_ror_c_per_min"],
        "trise": e.trise,
    },
    "co_level": lambda e, r, f: {"ppm": e.score * f["co_alarm_ppm"], "limit": f["co_alarm_ppm"]},
    "panic_press": lambda e, r, f: {},
    "cancel_within_grace": lambda e, r, f: {"after": e.ts - e.since, "grace": f["cancel_grace_s"]},
    "battery_low": lambda e, r, f: {"value": _value(r)["value"], "limit": f["battery_low_v"]},
    "tamper": lambda e, r, f: {},
    "implausible_value": lambda e, r, f: {**_value(r), "count": f["fault_count"]},
    "stuck_value": lambda e, r, f: _value(r),
    "self_test_failed": lambda e, r, f: {},
    "baseline_drift": lambda e, r, f: {"base": e.base, "limit": f["dirty_pct"]},
    "silence": lambda e, r, f: {"after": f["offline_after_s"]},
    "cooking_smoke": lambda e, r, f: {
        "smoke": e.smoke,
        "trise": e.trise,
        "stove": f["stove_heat_c"],
    },
    "smoke_after_heat": lambda e, r, f: {
        "smoke": e.smoke,
        "rise": e.score * f["smoke_rise_pct_per_min"],
        "after": f["smoke_after_heat_s"],
    },
    "dense_smoke_with_heat": lambda e, r, f: {
        "smoke": e.smoke,
        "limit": f["stove_smoke_pct"],
        "trise": e.trise,
        "ror": e.ror,
    },
    "hush_button": lambda e, r, f: {"hush": f["hush_s"]},
    "device_declared": lambda e, r, f: _value(r),
    "device_restored": lambda e, r, f: _value(r),
}


def reason_message(
    rule: str, event: Event, reading: Reading | None, figures: Mapping[str, float]
) -> dict[str, Any]:
    """The reason as a catalogue code with its parameters, rendered in the reader's language."""
    if rule in explain_routine.ROUTINE_RULES:
        zh, en = explain_routine.reason_pair(rule, event, figures)
        return {"code": "reason.routine", "params": {"text": {"zh": zh, "en": en}}}
    maker = _PARAMS.get(rule)
    params = {} if maker is None else maker(event, reading, figures)
    clean = {k: _clean(v) if isinstance(v, float) else v for k, v in params.items()}
    if rule == "hush_button" and not params["hush"] > 0:
        return {"code": "reason.hush_button_none", "params": {}}
    code = f"reason.{rule}" if f"reason.{rule}" in MESSAGES else f"rule.{rule}"
    return {"code": code, "params": clean}


def _clean(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else round(value, 4)


def explain(
    event: Event, reading: Reading | None, figures: Mapping[str, float]
) -> tuple[str, str, dict[str, Any]]:
    """(rule name, reason, evidence) for a raise event: the reason in English for logs and files,
    and as a catalogue message (`evidence["reason"]`) for people, in their language."""
    rule = RULES[event.rule]
    message = reason_message(rule, event, reading, figures)
    reason = render(message["code"], message["params"], "en")
    if rule in explain_routine.ROUTINE_RULES:
        return (
            rule,
            reason,
            {
                "window_start": _clean(event.since),
                "reason": message,
                "routine": explain_routine.evidence(rule, event, figures),
                "thresholds": {name: figures[name] for name in THRESHOLDS.get(rule, ())},
            },
        )
    evidence: dict[str, Any] = {
        "score": _clean(event.score),
        "window_start": _clean(event.since),
        "reason": message,
    }
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
