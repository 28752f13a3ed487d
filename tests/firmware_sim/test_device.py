"""Firmware rules: sensor resolution and range, when frames are sent, counter-based noise."""

from __future__ import annotations

import numpy as np
import pytest

from firmware_sim.device import (
    Ambient,
    measure,
    periodic_metrics,
    report_period,
    report_times,
)
from firmware_sim.fleet import hashed_normals
from vigil.device_types import device_type


def test_measure_rounds_to_resolution_and_saturates() -> None:
    true = np.array([21.04, 21.06, 200.0, -60.0])
    values = measure("temperature", true, np.zeros(4))
    assert values.tolist() == [21.0, 21.1, 150.0, -40.0]
    assert measure("smoke_obscuration", np.array([-1.0, 0.123]), np.zeros(2)).tolist() == [
        0.0,
        0.12,
    ]


def test_measure_adds_noise_of_the_sensor() -> None:
    z = np.random.default_rng(0).standard_normal(20_000)
    values = measure("temperature", np.full(z.size, 20.0), z)
    assert 0.06 < values.std() < 0.12


def test_periodic_reports_carry_readings_not_events() -> None:
    assert periodic_metrics(device_type("multi")) == (
        "smoke_obscuration",
        "temperature",
        "co",
        "battery",
    )
    assert periodic_metrics(device_type("pir")) == ("battery",)
    assert report_period(device_type("smoke")) == 60.0
    assert report_period(device_type("panic")) == 900.0  # heartbeat, not the hourly report


def test_quiet_device_reports_on_its_period() -> None:
    flat = (np.array([0.0, 3600.0]), np.array([0.3, 0.3]))
    ts = report_times("smoke", 0.0, 3600.0, 12.5, {"smoke_obscuration": flat})
    assert ts.tolist() == [12.5 + 60.0 * k for k in range(60)]


def test_changing_smoke_switches_to_fast_reports_and_back() -> None:
    t = np.array([0.0, 600.0, 660.0, 3600.0])
    smoke = np.array([0.2, 0.2, 3.0, 3.0])  # a 2.8 %/m rise over one minute, then flat
    ts = report_times("smoke", 0.0, 3600.0, 0.0, {"smoke_obscuration": (t, smoke)})
    during = ts[(ts >= 610.0) & (ts <= 700.0)]
    assert np.all(np.diff(during) == 2.0)
    after = ts[ts > 900.0]
    assert np.all(np.diff(after) == 60.0), "back to the period once the change has held a minute"


def test_near_alarm_level_keeps_fast_reporting() -> None:
    t = np.array([0.0, 3600.0])
    ts = report_times("smoke", 0.0, 600.0, 0.0, {"smoke_obscuration": (t, np.array([4.5, 4.5]))})
    assert np.all(np.diff(ts) == 2.0)


def test_phase_outside_period_is_refused() -> None:
    with pytest.raises(ValueError, match="phase"):
        report_times("smoke", 0.0, 60.0, 60.0, {})


def test_ambient_battery_drains_and_dust_settles() -> None:
    amb = Ambient.draw(np.random.default_rng(1), 3, epoch=0.0)
    idx = np.arange(3)
    year = np.full(3, 365 * 86400.0)
    assert np.all(amb.true("battery", idx, year) < amb.true("battery", idx, np.zeros(3)))
    assert np.all(
        amb.true("smoke_obscuration", idx, year) >= amb.true("smoke_obscuration", idx, np.zeros(3))
    )
    with pytest.raises(ValueError, match="no ambient model"):
        amb.true("motion", idx, year)


def test_hashed_normals_are_standard_normal_and_keyed() -> None:
    dev = np.repeat(np.arange(200), 200)
    counter = np.tile(np.arange(200), 200)
    z = hashed_normals(7, dev, counter, 0)
    assert abs(z.mean()) < 0.03
    assert abs(z.std() - 1.0) < 0.03
    again = hashed_normals(7, dev[::-1], counter[::-1], 0)[::-1]
    assert np.array_equal(z, again), "each draw depends on its key, not on its neighbours"
    assert not np.array_equal(z, hashed_normals(8, dev, counter, 0))
    assert not np.array_equal(z, hashed_normals(7, dev, counter, 1))
