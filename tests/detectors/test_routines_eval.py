"""The wellness checks on generated households (a shortened `vigil detect eval --routines`)."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.evaluate_routines import Report, _first_seen, _latest_wake, evaluate
from detectors.households import KINDS, generate


def test_generated_households_cover_the_published_population() -> None:
    """Six kinds, 60 days; the switches-only home sees 30-60 events a day, PIR homes hundreds."""
    assert len(KINDS) >= 6
    sparse = generate("switches_only", 1)
    dense = generate("late_sleeper", 1)
    assert 30 <= sparse.ts.size / 60 <= 70
    assert dense.ts.size / 60 >= 200
    late = [((w + 8 * 3600) % 86400) / 3600 for w in dense.wakes]
    assert min(late) >= 9.0
    assert max(late) <= 12.5


def _nights_with_a_rest(kind: str) -> float:
    """Share of a household's nights with a silence of 3 h (a rest) while asleep."""
    hh = generate(kind, 1)
    rested = []
    for a, b in hh.sleeps:
        ts = hh.ts[(hh.ts > a) & (hh.ts < b) & (hh.device != hh.door)]
        rested.append(np.diff(np.concatenate([[a], ts, [b]])).max() >= 3 * 3600)
    return float(np.mean(rested))


def test_a_restless_sleepers_bedroom_pir_sees_her_turn_over() -> None:
    """Published recordings with a PIR over the bed fire through the night; the generated
    restless sleeper's nights mostly have no silence of 3 h, a still sleeper's nearly all."""
    assert _nights_with_a_rest("restless_sleeper") <= 0.25
    assert _nights_with_a_rest("late_sleeper") >= 0.75


def test_generated_front_doors_open_for_visitors_and_while_at_home() -> None:
    """Not every front-door event is a departure or a return (a recorded home: 15 of 100):
    visitors come in and leave by it, residents open it for the post."""
    for kind, per_day in (("late_sleeper", 0.2), ("switches_only", 0.2), ("many_visitors", 2.0)):
        hh = generate(kind, 1)
        opened = hh.ts[(hh.device == hh.door) & (hh.value == 1)]
        absences = {t for lo, hi, _ in hh.absences for t in (lo, hi)}
        assert sum(t not in absences for t in opened) / hh.days >= per_day


@pytest.fixture(scope="module")
def report() -> Report:
    return evaluate(seeds=(1,), days=60, per_kind=1)


def test_wellness_checks_better_than_before_and_daytime_collapses_within_4h(
    report: Report,
) -> None:
    """Measured before the routine model: 17.2 false checks per household per 30 days."""
    assert report.false_per_30d <= 3.0
    day = report.delays("day")
    assert day
    assert max(day) <= 4 * 3600


def test_not_up_counts_from_the_first_activity_a_sensor_saw(report: Report) -> None:
    """A switches-only home's first event may come long after waking, and no detector sees the
    wake: the reference is the first event after it, which is never earlier."""
    hh = generate("switches_only", 1)
    lags = []
    for w in hh.wakes[1:-1]:
        seen = _first_seen(hh, w)
        assert seen in hh.ts
        assert not ((hh.ts >= w) & (hh.ts < seen)).any()
        lags.append(seen - w)
        assert _latest_wake(hh, w) >= _latest_wake(hh, w, seen=False)
    assert max(lags) > 600.0  # some mornings the first switch comes over 10 min after waking
    night = report.after_reference("night")
    assert night
    assert report.not_up_after_wake() >= max(night)


@pytest.mark.xfail(reason="issue 15 targets not all met yet (see the eval report)", strict=True)
def test_issue_targets(report: Report) -> None:
    assert all(met for _, _, met in report.targets().values())
