"""The field module's pure parts: the distance a phone reports to the building, and which
outcomes close an incident as a false alarm."""

from __future__ import annotations

import pytest

from alerting.field import OUTCOME_BY_CODE, distance_m
from alerting.lifecycle import Action


def test_distance_matches_known_figures() -> None:
    # One thousandth of a degree of latitude is ~111.2 m anywhere; of longitude at 39.9° N,
    # cos(39.9°) of that (~85.3 m).
    assert distance_m(39.9, 116.4, 39.901, 116.4) == pytest.approx(111.2, abs=0.2)
    assert distance_m(39.9, 116.4, 39.9, 116.401) == pytest.approx(85.3, abs=0.3)
    assert distance_m(39.9, 116.4, 39.9, 116.4) == 0.0
    # Beijing to Shanghai (city centres), ~1068 km.
    assert distance_m(39.9042, 116.4074, 31.2304, 121.4737) == pytest.approx(1_067_000, rel=0.01)


def test_a_false_press_or_a_device_fault_is_a_false_alarm() -> None:
    assert OUTCOME_BY_CODE["false_press"].action is Action.FALSE_ALARM
    assert OUTCOME_BY_CODE["device_fault"].action is Action.FALSE_ALARM
    assert OUTCOME_BY_CODE["fire_out"].action is Action.RESOLVE
    assert OUTCOME_BY_CODE["hospital"].action is Action.RESOLVE
