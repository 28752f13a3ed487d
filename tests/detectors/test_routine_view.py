"""The routine page's figures come from the household's own readings."""

from __future__ import annotations

from detectors.registry import Device
from detectors.routine_view import routine_view
from firmware_sim.households import generate


def test_late_sleeper_routine_shows_a_late_wake_and_recent_activity() -> None:
    hh = generate("late_sleeper", 1, days=21)
    devices = [Device(f"p{i}", "pir", "hh-1", f"r{i}") for i in range(hh.n_presence)]
    devices.append(Device("door", "door", "hh-1", "hall"))
    names = [d.device_id for d in devices]
    rows = [
        (float(t), names[int(d)], "door" if int(d) == hh.door else "motion", float(v))
        for t, d, v in zip(hh.ts, hh.device, hh.value, strict=True)
    ]
    view = routine_view(devices, rows, now=float(hh.ts[-1]) + 60.0)
    assert not view["learning"]
    assert len(view["activity"]) == 7
    assert all(len(day) == 24 for day in view["activity"])
    # Asleep at 05:00, about at 15:00 local, every day of the week.
    assert all(day[15] > day[5] for day in view["activity"])
    weekday = next(s for s in view["sleep"] if s["day_type"] == "weekday")
    assert weekday["latest_wake"] is not None
    assert "09:00" <= weekday["latest_wake"] <= "13:00"
    recent = view["recent"]
    assert len(recent["counts"]) == 192
    assert sum(recent["counts"]) > 100
