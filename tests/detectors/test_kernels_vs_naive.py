"""The numba kernels against the plain-Python reference, on awkward inputs."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.codes import DEVICE_TYPES, INACTIVITY, METRICS
from detectors.explain import Event
from detectors.households import generate
from detectors.registry import Device
from tests.detectors.helpers import Row, assert_same_events, kernel_and_naive, rows_of

SMOKE_DEV = [Device("sd-1", "multi", "hh-1", "kitchen")]

# Timestamp steps: duplicates, normal reports, late rows, long gaps, clock jumps both ways.
STEPS = st.one_of(
    st.just(0.0),
    st.floats(0.5, 120.0),
    st.floats(-30.0, -0.5),
    st.floats(600.0, 20_000.0),
    st.sampled_from([-86_400.0, 86_400.0 * 3]),
)
VALUES = st.one_of(
    st.floats(-5.0, 120.0),
    st.sampled_from([0.0, 1.0, 2.0, 2.5, 3.0, 22.0, 70.0, math.nan, math.inf, -50.0, 200.0]),
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Device], list[Row], list[float]]:
    n_dev = draw(st.integers(1, 4))
    devices = [
        Device(
            f"d{i}",
            draw(st.sampled_from(DEVICE_TYPES)),
            f"hh-{draw(st.integers(0, 1))}",
            draw(st.sampled_from(["", "kitchen", "bedroom", "hall"])),
        )
        for i in range(n_dev)
    ]
    t = draw(st.floats(0.0, 2e9))
    readings = []
    for _ in range(draw(st.integers(1, 80))):
        t += draw(STEPS)
        slot = draw(st.integers(0, n_dev - 1))
        metric = draw(st.sampled_from(METRICS))
        readings.append((t, slot, metric, draw(VALUES)))
    rows = rows_of(readings)
    last = max(r[4] for r in rows)
    ticks = sorted(draw(st.lists(st.floats(0.0, 200_000.0), max_size=3)))
    return devices, rows, [last + dt for dt in ticks]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_kernels_match_reference_on_random_awkward_streams(
    scenario: tuple[list[Device], list[Row], list[float]],
) -> None:
    devices, rows, ticks = scenario
    kernel, naive = kernel_and_naive(devices, rows, ticks)
    assert_same_events(kernel, naive)


@settings(max_examples=100, deadline=None)
@given(
    base=st.floats(0.0, 3.0),
    slope=st.floats(0.0, 2.0),
    heat=st.floats(0.0, 1.0),
    noise=st.lists(st.floats(-0.5, 0.5), min_size=60, max_size=60),
    dt=st.sampled_from([1.0, 2.0, 5.0, 60.0]),
)
def test_kernels_match_reference_on_fire_like_ramps(
    base: float, slope: float, heat: float, noise: list[float], dt: float
) -> None:
    readings = []
    for i, eps in enumerate(noise):
        t = i * dt
        readings.append((t, 0, "smoke_obscuration", max(0.0, base + slope * i + eps)))
        readings.append((t, 0, "temperature", 21.0 + heat * i + eps))
    kernel, naive = kernel_and_naive(SMOKE_DEV, rows_of(readings))
    assert_same_events(kernel, naive)


def _both(
    readings: list[tuple[float, int, str, float]], ticks: tuple[float, ...] = ()
) -> list[Event]:
    kernel, naive = kernel_and_naive(SMOKE_DEV, rows_of(readings), ticks)
    assert_same_events(kernel, naive)
    return kernel


def test_a_single_sample_raises_nothing() -> None:
    assert _both([(100.0, 0, "smoke_obscuration", 0.3)]) == []


def test_nan_readings_become_a_sensor_fault_and_a_good_one_restores() -> None:
    nan = math.nan
    events = _both(
        [(float(t), 0, "temperature", nan) for t in range(3)] + [(3.0, 0, "temperature", 21.0)]
    )
    assert [(e.kind, e.action) for e in events] == [(9, 1), (9, 0)]


@pytest.mark.parametrize("value", [0.0, 21.5])
def test_constant_values_for_hours_make_a_stuck_temperature(value: float) -> None:
    events = _both([(60.0 * i, 0, "temperature", value) for i in range(400)])
    assert [(e.kind, e.rule) for e in events][:1] == [(9, 15)]


def test_duplicates_and_late_rows_do_not_move_the_filters() -> None:
    clean = [(2.0 * i, 0, "smoke_obscuration", 0.2) for i in range(10)]
    noisy = []
    for ts, slot, metric, value in clean:
        noisy += [(ts, slot, metric, value), (ts, slot, metric, 50.0), (ts - 1, slot, metric, 80.0)]
    assert _both(noisy) == _both(clean) == []


def test_a_clock_reset_restarts_the_filters_without_an_alarm() -> None:
    readings = [(1e9 + 2.0 * i, 0, "smoke_obscuration", 0.2) for i in range(10)]
    readings += [(5.0 + 2.0 * i, 0, "smoke_obscuration", 0.2) for i in range(10)]
    assert _both(readings) == []


def test_gaps_raise_offline_from_a_tick_or_from_the_next_reading() -> None:
    readings = [(0.0, 0, "battery", 3.0), (5000.0, 0, "battery", 3.0)]
    from_reading = _both(readings)
    from_tick = _both(readings[:1], ticks=(5000.0,))
    # The device is its hub's only one: its hub goes quiet after 2.5 reports of 60 s.
    raised = [(e.kind, e.ts) for e in from_reading if e.action == 1]
    assert raised == [(6, 630.0), (13, 150.0)]
    assert [(e.kind, e.ts) for e in from_tick] == [(6, 630.0), (13, 150.0)]


@pytest.mark.parametrize("kind", ["many_visitors", "weekend_away", "switches_only", "night_shift"])
def test_kernels_match_reference_on_weeks_of_a_generated_household(kind: str) -> None:
    """The learned routine over weeks of doors, visitors, trips and naps (with its checks)."""
    hh = generate(kind, 7, days=30)
    devices = [Device(f"p{i}", "pir", "hh-1", f"room{i}") for i in range(hh.n_presence)]
    devices.append(Device("door", "door", "hh-1", "hall"))
    readings = [
        (float(t), int(d), "door" if int(d) == hh.door else "motion", float(v))
        for t, d, v in zip(hh.ts, hh.device, hh.value, strict=True)
    ]
    rows = rows_of(readings)
    kernel, naive = kernel_and_naive(devices, rows, [rows[-1][4] + 86_400.0])
    assert any(e.kind == INACTIVITY for e in naive)  # the checks were exercised
    assert_same_events(kernel, naive)


def test_kernels_match_reference_where_the_pirs_are_blind_every_afternoon() -> None:
    """A PIR home unseen from 14:00 to 17:36 every day (an armchair no PIR covers): the daytime
    cap that holds there once the PIRs were blind about that hour twice."""
    hh = generate("many_visitors", 7, days=30)
    local_h = ((hh.ts + 8 * 3600.0) % 86_400.0) / 3600.0
    keep = ~((local_h > 14.0) & (local_h < 17.6)) | (hh.device == hh.door)
    devices = [Device(f"p{i}", "pir", "hh-1", f"room{i}") for i in range(hh.n_presence)]
    devices.append(Device("door", "door", "hh-1", "hall"))
    readings = [
        (float(t), int(d), "door" if int(d) == hh.door else "motion", float(v))
        for t, d, v in zip(hh.ts[keep], hh.device[keep], hh.value[keep], strict=True)
    ]
    rows = rows_of(readings)
    kernel, naive = kernel_and_naive(devices, rows, [rows[-1][4] + 86_400.0])
    assert any(e.kind == INACTIVITY for e in naive)
    assert_same_events(kernel, naive)
