"""`vigil detect replay` of recorded homes as others write them: a recording whose clock puts
the sleep by day (a local clock written as UTC) is read at the offset that puts it at night, and
says so, unless the quietest hours of its activity are already the night; a front door whose
uses are written as `motion` is still the front door."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from detectors.clock import (
    corrected_offset_h,
    correction_h,
    household_correction_h,
    quiet_centre_h,
    sleep_centre_h,
)
from detectors.errors import InputFileError
from detectors.households import KINDS, Household, generate
from detectors.replay import replay
from tests.detectors.helpers import write_household
from vigil.cli import app

HOUR = 3600.0
DAY = 86400.0
AS_UTC = 8 * HOUR  # a Beijing clock written as UTC reads 8 h late at utc_offset_h 8


def clock_correction_h(ts: np.ndarray, door: np.ndarray, utc_offset_h: float) -> int:
    """What the replay does per household: where the sleep centres, then the correction."""
    return household_correction_h(ts, door, utc_offset_h)[1]


def _nights(bed_h: float, up_h: float, days: int = 14, offset_h: float = 8.0) -> np.ndarray:
    """Activity every 10 min while awake, none from bed_h to up_h (local clock)."""
    ts = np.arange(0.0, days * DAY, 600.0) - offset_h * HOUR
    local = ((ts + offset_h * HOUR) % DAY) / HOUR
    late, early = local >= bed_h, local < up_h
    asleep = late | early if bed_h > up_h else late & early
    return ts[~asleep]


def test_a_night_sleeper_keeps_the_clock_and_one_written_as_utc_is_moved_back() -> None:
    ts = _nights(23.0, 7.0)
    no_door = np.zeros(ts.size, dtype=np.bool_)
    centre = sleep_centre_h(ts, no_door, 8.0)
    assert centre is not None
    assert abs(centre - 3.0) < 0.2
    assert clock_correction_h(ts, no_door, 8.0) == 0
    assert clock_correction_h(ts + AS_UTC, no_door, 8.0) == -8
    assert clock_correction_h(ts + 7 * HOUR, no_door, 8.0) == -8  # true UTC of a home at UTC+1
    # Read 10 h early, neither right nor as UTC: the centre is brought to 04:00.
    assert clock_correction_h(ts - 10 * HOUR, no_door, 8.0) == 11
    assert corrected_offset_h(8.0, 11) == -5.0
    assert corrected_offset_h(8.0, 10) == -6.0


def test_silences_after_the_front_door_are_no_sleep() -> None:
    """A worker out 09:00-18:00 with short nights at home: the long silences by day began with
    the door, so they say nothing about the clock."""
    days = np.arange(14) * DAY - 8 * HOUR
    leave = days + 9 * HOUR
    back = days + 18 * HOUR
    awake = _nights(1.0, 6.0)
    local = (awake + 8 * HOUR) % DAY
    awake = awake[(local < 9 * HOUR) | (local > 18 * HOUR)]
    ts = np.concatenate([awake, leave, back])
    door = np.concatenate([np.zeros(awake.size, bool), np.ones(2 * days.size, bool)])
    assert clock_correction_h(ts, door, 8.0) == 0
    assert clock_correction_h(ts, np.zeros(ts.size, bool), 8.0) != 0  # were they sleep: moved


def test_few_or_scattered_silences_leave_the_clock_alone() -> None:
    two_nights = _nights(23.0, 7.0, days=2) + AS_UTC
    assert clock_correction_h(two_nights, np.zeros(two_nights.size, bool), 8.0) == 0
    rng = np.random.default_rng(1)
    starts = np.sort(rng.uniform(0, 20 * DAY, 20))
    scattered = np.sort(np.concatenate([s + np.arange(0, 20 * HOUR, 600.0) for s in starts]))
    assert sleep_centre_h(scattered, np.zeros(scattered.size, bool), 8.0) is None


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "night_shift"])
def test_generated_households_on_their_own_clock_are_not_moved(kind: str) -> None:
    hh = generate(kind, 1, 30)
    assert clock_correction_h(hh.ts, hh.device == hh.door, 8.0) == 0
    assert clock_correction_h(hh.ts + AS_UTC, hh.device == hh.door, 8.0) == -8


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_night_shift_worker_who_sleeps_at_night_on_days_off_keeps_the_clock(seed: int) -> None:
    """Sleep by day on work days, at night on days off: no steady pattern, no move (moved, the
    days off would be checked as daytime silences)."""
    hh = generate("night_shift", seed, 60)
    assert clock_correction_h(hh.ts, hh.device == hh.door, 8.0) == 0


def test_the_quietest_hours_centre_where_activity_is_least_and_say_nothing_when_split() -> None:
    ts = _nights(23.0, 7.0)
    quiet = quiet_centre_h(ts, 8.0)
    assert quiet is not None
    assert abs(quiet - 3.0) < 0.3
    moved = quiet_centre_h(ts + AS_UTC, 8.0)
    assert moved is not None
    assert abs(moved - 11.0) < 0.3
    assert quiet_centre_h(np.zeros(0), 8.0) is None
    # As quiet from 00:00 to 07:00 as from 12:00 to 19:00: no evidence either way.
    local = ((ts + 8 * HOUR) % DAY) / HOUR
    split = ts[(local < 12.0) | (local >= 19.0)]
    assert quiet_centre_h(split, 8.0) is None


def _unseen_afternoons(hh: Household) -> Household:
    """The household with nothing but the front door seen from 14:00 to 17:36 (local)."""
    local = ((hh.ts + 8 * HOUR) % DAY) / HOUR
    keep = ~((local > 14.0) & (local < 17.6)) | (hh.device == hh.door)
    return dataclasses.replace(hh, ts=hh.ts[keep], device=hh.device[keep], value=hh.value[keep])


@pytest.mark.parametrize("seed", [1, 2])
def test_a_restless_sleeper_unseen_every_afternoon_keeps_her_clock(
    tmp_path: Path, seed: int
) -> None:
    """Her bedroom PIR sees her turn over, so no silence of her nights lasts 3 h; before the
    television every afternoon nothing sees her for 3.6 h. By its longest silences alone the
    home was moved by 12 h (its nights judged as days, daytime collapses not raised within
    14 h); the quietest hours of its activity are still the night, so the clock is kept."""
    hh = _unseen_afternoons(generate("restless_sleeper", seed, 40))
    door = hh.device == hh.door
    centre = sleep_centre_h(hh.ts, door, 8.0)
    assert centre is not None
    assert 14.0 < centre < 18.0  # the silences alone say she sleeps by day...
    assert correction_h(centre, 8.0) == -12  # ...and would move her
    assert household_correction_h(hh.ts, door, 8.0) == (centre, 0)
    quiet = quiet_centre_h(hh.ts, 8.0)
    assert quiet is not None
    assert abs(quiet - 3.0) < 2.0
    assert replay(*write_household(tmp_path, hh)).clock_fixes == []


def test_a_late_sleeper_written_as_utc_replays_as_on_its_own_clock(tmp_path: Path) -> None:
    """Read 8 h late, the sleep falls by day and more checks come; moved back, the replay gives
    the same checks as on the right clock, at the same clock times."""
    hh = generate("late_sleeper", 1, 40)
    right = replay(*write_household(tmp_path, hh))
    (tmp_path / "utc").mkdir()
    files = write_household(tmp_path / "utc", hh, shift_s=AS_UTC)
    as_is = replay(*files, fix_clock=False)
    fixed = replay(*files)
    assert right.clock_fixes == []
    assert [(f.household_id, f.correction_h, f.utc_offset_h) for f in fixed.clock_fixes] == [
        ("hh-1", -8, 0.0)
    ]
    checks = [[a for a in r.alerts if a.kind == "inactivity"] for r in (right, as_is, fixed)]
    assert len(checks[1]) >= len(checks[0]) + 3
    assert [a.ts - AS_UTC for a in checks[2]] == [a.ts for a in checks[0]]
    assert [a.reason for a in checks[2]] == [a.reason for a in checks[0]]  # same clock times


def test_the_replay_cli_says_when_it_moves_a_clock_and_as_is_keeps_it(tmp_path: Path) -> None:
    devices, readings = write_household(tmp_path, generate("weekday_worker", 2, 20), shift_s=AS_UTC)
    args = ["detect", "replay", "--devices", str(devices), "--readings", str(readings)]
    runner = CliRunner()
    moved = runner.invoke(app, args)
    kept = runner.invoke(app, [*args, "--clock", "as-is"])
    assert moved.exit_code == 0
    assert kept.exit_code == 0
    assert "UTC+0" in moved.stderr
    assert "hh-1" in moved.stderr
    assert "UTC+0" not in kept.stderr
    assert moved.stdout != kept.stdout
    bad = runner.invoke(app, [*args, "--clock", "guess"])
    assert bad.exit_code == 2
    assert "--clock" in bad.stderr


def test_a_front_door_reported_as_motion_is_still_the_front_door(tmp_path: Path) -> None:
    """A weekday worker's door contact written with metric `motion`: the same checks as with
    `door` (as plain activity, every day at work would be a silence at home)."""
    hh = generate("weekday_worker", 1, 30)
    devices, readings = write_household(tmp_path, hh)
    as_door = replay(devices, readings)
    text = readings.read_text(encoding="utf-8").replace(",door,", ",motion,")
    readings.write_text(text, encoding="utf-8")
    as_motion = replay(devices, readings)
    assert ",door," not in text
    assert [(a.ts, a.rule) for a in as_motion.alerts] == [(a.ts, a.rule) for a in as_door.alerts]


def test_battery_reports_are_no_sign_of_life_for_the_clock(tmp_path: Path) -> None:
    """A PIR's hourly battery report breaks no silence: the clock written as UTC is still
    found."""
    hh = generate("weekday_worker", 3, 20)
    devices, readings = write_household(tmp_path, hh, shift_s=AS_UTC)
    hourly = np.arange(hh.ts[0], hh.ts[-1], HOUR) + AS_UTC
    extra = "".join(f"{t:.3f},hh-1-p0,battery,3.0\n" for t in hourly)
    readings.write_text(readings.read_text(encoding="utf-8") + extra, encoding="utf-8")
    fixed = replay(devices, readings)
    assert [(f.household_id, f.correction_h) for f in fixed.clock_fixes] == [("hh-1", -8)]


@pytest.mark.parametrize("scale", [1_000, 1_000_000, 1_000_000_000])
def test_epoch_times_in_finer_units_are_read_as_such(tmp_path: Path, scale: int) -> None:
    """Epoch milliseconds, microseconds or nanoseconds (pandas' int64 times) give the alerts of
    epoch seconds: as seconds they would be past the year 5000. (Supervised, so that every
    silence gives an alert to compare.)"""
    hh = generate("switches_only", 2, 20)
    devices, readings = write_household(tmp_path, hh)
    by_seconds = replay(devices, readings, supervision="on")
    lines = readings.read_text(encoding="utf-8").splitlines()
    rows = [lines[0]]
    for line in lines[1:]:
        ts, rest = line.split(",", 1)
        rows.append(f"{round(float(ts) * 1000) * (scale // 1000)},{rest}")
    readings.write_text("\n".join(rows) + "\n", encoding="utf-8")
    finer = replay(devices, readings, supervision="on")
    assert by_seconds.alerts
    assert [(round(a.ts, 3), a.rule) for a in finer.alerts] == [
        (round(a.ts, 3), a.rule) for a in by_seconds.alerts
    ]


def test_times_written_as_iso_8601_are_read_in_the_homes_clock(tmp_path: Path) -> None:
    """A recording's own "2008-02-25 00:20:14" (no zone: the home's local clock, UTC+8 by
    default) or with its zone gives the same alerts as epoch seconds (supervised, so that every
    silence gives an alert to compare)."""
    hh = generate("switches_only", 1, 20)
    devices, readings = write_household(tmp_path, hh)
    by_epoch = replay(devices, readings, supervision="on")
    lines = readings.read_text(encoding="utf-8").splitlines()
    for zone, fmt in ((8, "%Y-%m-%d %H:%M:%S.%f"), (1, "%Y-%m-%dT%H:%M:%S.%f+01:00")):
        rows = [lines[0]]
        for line in lines[1:]:
            ts, rest = line.split(",", 1)
            local = datetime.fromtimestamp(float(ts), timezone(timedelta(hours=zone)))
            rows.append(f"{local.strftime(fmt)},{rest}")
        readings.write_text("\n".join(rows) + "\n", encoding="utf-8")
        by_iso = replay(devices, readings, supervision="on")
        assert [(round(a.ts, 3), a.rule) for a in by_iso.alerts] == [
            (round(a.ts, 3), a.rule) for a in by_epoch.alerts
        ]
    assert by_epoch.alerts


def _in_words(readings: Path, words: dict[tuple[str, str], str]) -> str:
    """Rewrite each reading's `metric,value` as a recording may write it; the header back."""
    lines = readings.read_text(encoding="utf-8").splitlines()
    rows = [lines[0]]
    for line in lines[1:]:
        ts, dev, metric, value = line.split(",")
        rows.append(f"{ts},{dev},{words[(metric, value)]}")
    readings.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return lines[0]


def test_a_recording_in_its_own_words_replays_as_in_ours(tmp_path: Path) -> None:
    """ "PIR", "Motion", ON/OFF and OPEN/CLOSE (as CASAS writes them) are read as pir, motion,
    1 and 0; a word that is no state is refused with its line. (Supervised, so that every
    silence gives an alert to compare.)"""
    hh = generate("many_visitors", 1, 20)
    devices, readings = write_household(tmp_path, hh)
    ours = replay(devices, readings, supervision="on")
    devices.write_text(devices.read_text(encoding="utf-8").replace(",pir,", ",PIR,"), "utf-8")
    words = {("motion", "1"): "Motion,ON", ("door", "1"): "door,OPEN", ("door", "0"): "Door,CLOSE"}
    header = _in_words(readings, words)
    theirs = replay(devices, readings, supervision="on")
    assert ours.alerts
    assert [(a.ts, a.rule) for a in theirs.alerts] == [(a.ts, a.rule) for a in ours.alerts]
    readings.write_text(f"{header}\n{hh.ts[0]},hh-1-p0,motion,maybe\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="line 2: value 'maybe' is not a number"):
        replay(devices, readings)


def test_a_row_written_hours_out_of_place_is_replayed_in_time_order(tmp_path: Path) -> None:
    """A recorded home's file holds a row 10 h later than the rows around it (one recorded home
    has four rows out of time order). In file order it passed for a clock reset of its
    household, and as arrival it pushed every household's clock 10 h ahead: checks in both
    homes. Replayed in time order, the checks are those of the clean file, and stderr says so."""
    homes = []
    for n, kind in ((1, "many_visitors"), (2, "weekend_away")):
        (tmp_path / kind).mkdir()
        homes.append(write_household(tmp_path / kind, generate(kind, 1, 30), f"hh-{n}"))
    devices = tmp_path / "devices.csv"
    readings = tmp_path / "readings.csv"
    devices.write_text(
        homes[0][0].read_text("utf-8") + homes[1][0].read_text("utf-8").split("\n", 1)[1], "utf-8"
    )
    rows = [line for d, r in homes for line in r.read_text("utf-8").splitlines()[1:]]
    rows.sort(key=lambda line: float(line.split(",", 1)[0]))
    readings.write_text("ts,device_id,metric,value\n" + "\n".join(rows) + "\n", "utf-8")
    clean = replay(devices, readings)
    i = next(k for k, line in enumerate(rows) if line.split(",")[1].startswith("hh-1-p"))
    i += len(rows) // 2 - i  # a presence row of hh-1 about halfway
    while not rows[i].split(",")[1].startswith("hh-1-p"):
        i += 1
    ts, rest = rows[i].split(",", 1)
    rows[i] = f"{float(ts) + 10 * HOUR:.3f},{rest}"  # written 10 h late, left in its place
    readings.write_text("ts,device_id,metric,value\n" + "\n".join(rows) + "\n", "utf-8")
    odd = replay(devices, readings)
    assert odd.out_of_order is not None
    assert odd.out_of_order[1] == i + 2  # the row after the odd one is the first earlier
    checks = [
        [(a.household_id, a.ts, a.rule) for a in r.alerts if a.kind == "inactivity"]
        for r in (clean, odd)
    ]
    assert checks[1] == checks[0]
    result = CliRunner().invoke(
        app, ["detect", "replay", "--devices", str(devices), "--readings", str(readings)]
    )
    assert result.exit_code == 0
    said = " ".join(result.stderr.split())  # the console wraps its lines
    assert "replayed in time order" in said
    assert "按时间顺序回放" in said.replace(" ", "")


def test_a_recording_in_zigbee2mqtt_words_replays_as_in_ours(tmp_path: Path) -> None:
    """`occupancy` is motion; `contact` is the door, true when closed (its value turned round):
    a weekday worker written so gives our alerts, reasons included."""
    hh = generate("weekday_worker", 2, 20)
    devices, readings = write_household(tmp_path, hh)
    ours = replay(devices, readings)
    words = {("motion", "1"): "occupancy,true", ("door", "1"): "contact,false"}
    header = _in_words(readings, words | {("door", "0"): "contact,true"})
    theirs = replay(devices, readings)
    assert [a for a in ours.alerts if a.kind == "inactivity"]
    assert [(a.ts, a.rule, a.reason) for a in theirs.alerts] == [
        (a.ts, a.rule, a.reason) for a in ours.alerts
    ]
    readings.write_text(f"{header}\n{hh.ts[0]},hh-1-p0,illuminance,30\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"unknown metric 'illuminance'.*also occupancy"):
        replay(devices, readings)


def test_sensors_that_report_only_when_used_are_not_supervised(tmp_path: Path) -> None:
    """A recorded home has no heartbeats: supervised, every silence past a PIR's allowance was
    an offline alert (thousands in 60 days). By default they are not supervised and the CLI
    says so; `--supervision on` raises them, and the wellness checks are the same either way."""
    hh = generate("late_sleeper", 1, 20)
    devices, readings = write_household(tmp_path, hh)
    auto, on = replay(devices, readings), replay(devices, readings, supervision="on")
    trouble = {"offline", "gateway_offline"}
    assert not [a for a in auto.alerts if a.kind in trouble]
    assert len([a for a in on.alerts if a.kind == "offline"]) > 100
    assert len(auto.unsupervised) == hh.n_presence + 1
    assert [(a.ts, a.rule) for a in auto.alerts if a.kind == "inactivity"] == [
        (a.ts, a.rule) for a in on.alerts if a.kind == "inactivity"
    ]
    args = ["detect", "replay", "--devices", str(devices), "--readings", str(readings)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0
    assert "not supervised" in " ".join(result.stderr.split())
    bad = CliRunner().invoke(app, [*args, "--supervision", "maybe"])
    assert bad.exit_code == 2
    assert "--supervision" in bad.stderr


def test_a_device_with_heartbeats_that_goes_silent_is_still_offline(tmp_path: Path) -> None:
    """A smoke detector reporting every minute for 10 h, then cut off while the panic button
    goes on with its 15-min heartbeat for 3 h more: its file shows heartbeats, so the replay
    supervises it and raises its offline alert; a PIR in the same file that only saw a few
    uses is not supervised, and one with no reading at all neither."""
    (tmp_path / "devices.csv").write_text(
        "device_id,type,household_id,room\nsd,smoke,hh,kitchen\npb,panic,hh,bedroom\n"
        "pir,pir,hh,hall\nmute,pir,hh,bedroom\n",
        encoding="utf-8",
    )
    rows = ["ts,device_id,metric,value"]
    rows += [f"{t},sd,temperature,21" for t in np.arange(0.0, 10 * HOUR, 60.0)]
    rows += [f"{t},pb,battery,3.0" for t in np.arange(0.0, 13 * HOUR, 900.0)]
    rows += [f"{t},pir,motion,1" for t in (600.0, 4 * HOUR, 9 * HOUR)]
    (tmp_path / "readings.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = replay(tmp_path / "devices.csv", tmp_path / "readings.csv")
    offline = [a for a in result.alerts if a.kind == "offline" and a.score > 0.0]
    assert [a.device_id for a in offline] == ["sd"]
    assert 10 * HOUR < offline[0].ts < 11 * HOUR
    assert sorted(result.unsupervised) == ["mute", "pir"]


def test_the_clock_runs_on_past_a_recording_cut_by_a_collapse_when_asked(tmp_path: Path) -> None:
    """A collapse cut into a recording leaves nothing after it to move the replay's clock: by
    default no check follows the last reading; with --run-on-h the clock runs on and the check
    comes where the live ticks would raise it (its time is the deadline, within 4 h)."""
    hh = generate("late_sleeper", 1, 20)
    start, end = next((a, b) for a, b in hh.home_day if a > hh.ts[0] + 14 * DAY and b - a > HOUR)
    at = (start + min(end, start + 2 * HOUR)) / 2
    keep = hh.ts < at
    cut = dataclasses.replace(hh, ts=hh.ts[keep], device=hh.device[keep], value=hh.value[keep])
    devices, readings = write_household(tmp_path, cut)
    stopped = replay(devices, readings)
    ran_on = replay(devices, readings, run_on_s=24 * HOUR)
    assert not [a for a in stopped.alerts if a.kind == "inactivity" and a.ts >= at]
    checks = [a for a in ran_on.alerts if a.kind == "inactivity" and a.ts >= at]
    assert checks
    assert checks[0].ts - at < 4 * HOUR
    assert [a.ts for a in ran_on.alerts if a.ts < at] == [a.ts for a in stopped.alerts if a.ts < at]
    args = ["detect", "replay", "--devices", str(devices), "--readings", str(readings)]
    cli = CliRunner().invoke(app, [*args, "--run-on-h", "24"])
    assert cli.exit_code == 0
    assert any('"inactivity"' in line for line in cli.stdout.splitlines())
    bad = CliRunner().invoke(app, [*args, "--run-on-h", "500"])
    assert bad.exit_code == 2
    assert "--run-on-h" in bad.stderr
    with pytest.raises(ValueError, match="run_on_s"):
        replay(devices, readings, run_on_s=-1.0)
