"""The routine page's figures come from the household's own readings."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from detectors.engine import Batch, DetectorEngine
from detectors.households import generate
from detectors.registry import Device
from detectors.routine_columns import R_FIRST, ROUTINE_END
from detectors.routine_view import routine_view
from detectors.state import HOUSEHOLD_COLUMNS


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
    assert view["blind"] == []  # its PIRs see her by day
    assert view["blind_cap_s"] is None


def test_the_hours_a_pir_home_does_not_see_the_resident_are_shown_with_their_cap() -> None:
    """A PIR home unseen from 14:00 to 17:36 every day (an armchair no PIR covers): the page
    shows the hours within 2 h of where those silences begin, by day type, and the cap that
    holds there."""
    hh = generate("many_visitors", 1, days=21)
    local_h = ((hh.ts + 8 * 3600.0) % 86400.0) / 3600.0
    keep = ~((local_h > 14.0) & (local_h < 17.6)) | (hh.device == hh.door)
    devices = [Device(f"p{i}", "pir", "hh-1", f"r{i}") for i in range(hh.n_presence)]
    devices.append(Device("door", "door", "hh-1", "hall"))
    names = [d.device_id for d in devices]
    rows = [
        (float(t), names[int(d)], "door" if int(d) == hh.door else "motion", float(v))
        for t, d, v in zip(hh.ts[keep], hh.device[keep], hh.value[keep], strict=True)
    ]
    view = routine_view(devices, rows, now=float(hh.ts[-1]) + 60.0)
    assert view["blind_cap_s"] == 14100.0
    for day_type in ("weekday", "weekend"):
        # The silences begin at the last motion before 14:00 (13:xx): 2 h either side of it.
        spans = [(s["from"], s["to"]) for s in view["blind"] if s["day_type"] == day_type]
        assert len(spans) == 1
        start, end = spans[0]
        assert "11:00" <= start <= "12:00"
        assert "16:00" <= end <= "17:00"


def test_a_checkpoint_without_routine_columns_loads_and_learns(tmp_path: Path) -> None:
    """Household rows of an older checkpoint (64 columns) are widened, not read past."""
    devices = [Device("p0", "pir", "hh-1", "hall")]
    engine = DetectorEngine(devices)
    engine.process(Batch.of([1.0e9], [0], [6], [1.0]))
    path = tmp_path / "old.npz"
    engine.save(path)
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["hh"] = arrays["hh"][:, :64].copy()
    np.savez(path, **arrays)
    loaded = DetectorEngine.load(path)
    assert loaded.state.hh.shape[1] == HOUSEHOLD_COLUMNS
    later = loaded.process(Batch.of([1.0e9 + 7200.0], [0], [6], [1.0]))
    assert [a for a in later if a.kind == "inactivity"] == []
    assert loaded.state.hh_f[0, R_FIRST] == 1.0e9  # learning started with that silence


def test_a_checkpoint_of_unpadded_rows_continues_as_if_never_saved(tmp_path: Path) -> None:
    """Rows saved before they were padded to whole cache lines (ROUTINE_END columns) load and
    go on exactly as an engine that was never saved."""
    assert HOUSEHOLD_COLUMNS % 8 == 0
    assert HOUSEHOLD_COLUMNS >= ROUTINE_END
    devices = [Device("p0", "pir", "hh-1", "hall"), Device("d0", "door", "hh-1", "hall")]
    engine = DetectorEngine(devices)
    engine.process(Batch.of([1.0e9, 1.0e9 + 900.0], [0, 1], [6, 7], [1.0, 1.0]))
    path = tmp_path / "unpadded.npz"
    engine.save(path)
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["hh"] = arrays["hh"][:, :ROUTINE_END].copy()
    np.savez(path, **arrays)
    loaded = DetectorEngine.load(path)
    later = Batch.of([1.0e9 + 5000.0, 1.0e9 + 40000.0], [0, 0], [6, 6], [1.0, 1.0])
    assert loaded.process(later) == engine.process(later)
    assert loaded.tick(1.0e9 + 200000.0) == engine.tick(1.0e9 + 200000.0)
    assert np.array_equal(loaded.state.hh, engine.state.hh)
