"""The policy file: checked on load, overridable per household, laid out for the kernels."""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from typing import Any

import pytest

from detectors.codes import KINDS
from detectors.errors import PolicyError
from detectors.params import PARAMS
from detectors.policy import Policy

RAW = tomllib.loads(resources.files("detectors").joinpath("policy.toml").read_text("utf-8"))


def _with(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(RAW)
    for section, table in changes.items():
        raw.setdefault(section, {}).update(table)
    return raw


def test_the_bundled_policy_covers_every_kind_and_parameter() -> None:
    policy = Policy.load()
    assert set(policy.kinds) == set(KINDS)
    assert set(policy.figures("smoke")) == set(PARAMS)
    assert policy.kinds["fire"].signal == "alarm"
    assert policy.kinds["dirty"].signal == "trouble"
    assert policy.figures("smoke")["offline_after_s"] == 2 * 300 + 30


def test_household_overrides_apply_to_that_household_only() -> None:
    raw = _with(
        households={
            "hh-9": {"inactivity_min_silence_s": 9000.0, "smoke": {"smoke_escalate_s": 300.0}}
        }
    )
    policy = Policy.from_dict(raw)
    assert policy.figures("pir", "hh-9")["inactivity_min_silence_s"] == 9000.0
    assert policy.figures("smoke", "hh-9")["smoke_escalate_s"] == 300.0
    default = policy.figures("smoke")["smoke_escalate_s"]
    assert default != 300.0
    assert policy.figures("heat", "hh-9")["smoke_escalate_s"] == default
    assert policy.figures("smoke", "hh-1")["smoke_escalate_s"] == default
    params, prow = policy.table(["smoke", "smoke", "smoke"], ["hh-1", "hh-9", "hh-2"])
    assert prow[0] == prow[2] != prow[1]
    assert params[prow[1], PARAMS.index("smoke_escalate_s")] == 300.0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"defaults": {"smoke_pre_pct_typo": 2.0}}, "unknown parameter 'smoke_pre_pct_typo'"),
        ({"defaults": {"smoke_tau_s": "fast"}}, "smoke_tau_s must be a number"),
        ({"defaults": {"smoke_tau_s": 0.0}}, "smoke_tau_s must be positive"),
        ({"defaults": {"smoke_trend_tau_s": 2.0}}, "smoke_tau_s (4.0) must be below"),
        ({"types": {"toaster": {"smoke_tau_s": 1.0}}}, "unknown device type [types.toaster]"),
        ({"kinds": {"fire": {"signal": "loud", "severity": 4}}}, "signal must be one of"),
        ({"kinds": {"fire": {"signal": "alarm", "severity": 9}}}, "severity must be an integer"),
        ({"households": {"hh-1": {"heat_fixed_c": -5.0}}}, "must not be negative"),
    ],
)
def test_bad_policies_are_refused_naming_the_key(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError) as info:
        Policy.from_dict(_with(**changes))
    assert message in str(info.value)
