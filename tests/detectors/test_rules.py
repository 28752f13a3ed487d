"""What each rule raises on the situations it is for, and what it stays quiet about."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from detectors.alert import Alert
from detectors.engine import DetectorEngine
from detectors.registry import Device
from detectors.routine import blind_about, rest_end
from detectors.routine_columns import R_E, R_FIRST, R_G, R_NL, R_WAKE, SLOTS
from detectors.state import HI_PROW
from tests.detectors.helpers import batch_of, rows_of
from vigil.messages import render

EPOCH = 1_763_780_000.0  # 2025-11-22 02:53 UTC


def play(
    devices: Sequence[Device],
    readings: Sequence[tuple[float, int, str, float]],
    tick_at: float | None = None,
) -> list[Alert]:
    engine = DetectorEngine(devices)
    alerts = engine.process(batch_of(rows_of(readings)))
    if tick_at is not None:
        alerts += engine.tick(tick_at)
    return alerts


def kinds(alerts: Sequence[Alert]) -> list[str]:
    return [a.kind for a in alerts]


# The general rules, in a room without a stove (kitchens: tests/detectors/test_kitchen.py).
LIVING = [Device("sd-1", "smoke", "hh-1", "living_room")]


def smoke_and_heat(
    smoke: npt.ArrayLike, heat: npt.ArrayLike, dt: float = 2.0, slot: int = 0
) -> list[tuple[float, int, str, float]]:
    out = []
    for i, (s, h) in enumerate(zip(np.asarray(smoke), np.asarray(heat), strict=True)):
        out += [
            (EPOCH + i * dt, slot, "smoke_obscuration", s),
            (EPOCH + i * dt, slot, "temperature", h),
        ]
    return out


def test_smoke_with_rising_heat_is_a_fire_alarm_with_its_evidence() -> None:
    t = np.arange(120)
    smoke = np.where(t < 30, 0.2, 0.2 + 0.3 * (t - 30))
    heat = np.where(t < 30, 21.0, 21.0 + 0.25 * (t - 30))
    alerts = play(LIVING, smoke_and_heat(smoke, heat))
    fire = next(a for a in alerts if a.kind == "fire")
    assert (fire.signal, fire.severity, fire.rule) == ("alarm", 4, "smoke_with_heat")
    assert fire.ts < EPOCH + 2 * 45  # within 15 s of the rise
    assert fire.evidence["smoke_excess_pct"] >= 1.5
    assert fire.evidence["temp_rise_c"] >= 1.0
    assert fire.evidence["reading"]["received_at"] == fire.received_at
    assert fire.evidence["thresholds"]["smoke_fused_pct"] == 1.5


def test_cooking_smoke_without_heat_that_clears_is_only_a_pre_alarm() -> None:
    t = np.arange(300)  # 10 min, a plume of 2 min peaking at 6 %/m
    smoke = 0.2 + 6.0 * np.exp(-(((t - 90) / 30.0) ** 2))
    heat = 21.0 + 0.3 * np.exp(-(((t - 90) / 60.0) ** 2))
    alerts = play(LIVING, smoke_and_heat(smoke, heat))
    assert kinds(alerts) == ["pre_alarm"]
    assert alerts[0].signal == "supervisory"


def test_smoke_that_keeps_rising_without_heat_becomes_an_alarm() -> None:
    t = np.arange(600)  # a pot left on the stove: 0.9 %/m per minute for 20 minutes
    smoke = 0.2 + 0.03 * t
    alerts = play(LIVING, smoke_and_heat(smoke, np.full(t.size, 21.0)))
    assert kinds(alerts)[:2] == ["pre_alarm", "smoke"]
    assert alerts[1].rule == "smoke_keeps_rising"
    assert alerts[1].signal == "alarm"


def test_smoke_held_for_long_is_caught_by_the_slow_rise_cusum() -> None:
    t = np.arange(0, 3600, 10.0)  # smouldering: up to 3.4 %/m in 15 min, then held
    smoke = 0.2 + np.minimum(t / 900.0, 1.0) * 3.2
    alerts = play(LIVING, smoke_and_heat(smoke, np.full(t.size, 21.0), dt=10.0))
    smoke_alarm = next(a for a in alerts if a.kind == "smoke")
    assert smoke_alarm.rule == "slow_rise_cusum"
    assert smoke_alarm.ts < EPOCH + 3600


def test_dust_drifting_over_weeks_is_a_dirty_chamber_not_a_fire() -> None:
    t = np.arange(0, 20 * 86400, 60.0)  # a report a minute for 20 days
    rng = np.random.default_rng(1)
    smoke = 0.2 + 4.0 * t / t[-1] + rng.normal(0, 0.03, t.size)
    room = 21.0 + 2.0 * np.sin(2 * np.pi * t / 86400) + rng.normal(0, 0.1, t.size)
    alerts = play(LIVING, smoke_and_heat(smoke, room, dt=60.0))
    assert kinds(alerts) == ["dirty"]
    assert alerts[0].signal == "trouble"


def test_fixed_temperature_and_rate_of_rise_are_heat_alarms() -> None:
    heat_dev = [Device("hd-1", "heat", "hh-1")]
    slow = [(EPOCH + 60.0 * i, 0, "temperature", 21.0 + 0.5 * i) for i in range(90)]
    fast = [(EPOCH + 5.0 * i, 0, "temperature", 21.0 + max(0.0, (i - 10) * 1.0)) for i in range(40)]
    slow_alerts = [a for a in play(heat_dev, slow) if a.kind == "heat"]
    fast_alerts = [a for a in play(heat_dev, fast) if a.kind == "heat"]
    assert [a.rule for a in slow_alerts] == ["heat_fixed_temperature"]
    assert slow_alerts[0].evidence["reading"]["value"] >= 58.0
    assert [a.rule for a in fast_alerts] == ["heat_rate_of_rise"]


def test_a_panic_press_alarms_at_once_and_a_quick_cancel_records_a_false_press() -> None:
    button = [Device("pb-1", "panic", "hh-1", "bedroom")]
    alerts = play(button, [(EPOCH, 0, "button", 1.0), (EPOCH + 12.0, 0, "button", 2.0)])
    assert [(a.kind, a.signal, a.severity) for a in alerts] == [
        ("panic", "alarm", 5),
        ("false_press", "supervisory", 1),
    ]
    late = play(button, [(EPOCH, 0, "button", 1.0), (EPOCH + 45.0, 0, "button", 2.0)])
    assert kinds(late) == ["panic"]


def test_low_battery_needs_consecutive_readings_and_tamper_is_supervisory() -> None:
    dev = [Device("sd-1", "smoke", "hh-1")]
    one_dip = [(EPOCH + i, 0, "battery", v) for i, v in enumerate([3.0, 2.4, 3.0, 3.0])]
    assert play(dev, one_dip) == []
    low = [(EPOCH + i, 0, "battery", 2.4) for i in range(3)]
    assert kinds(play(dev, low)) == ["battery_low"]
    tamper = play(dev, [(EPOCH, 0, "tamper", 1.0), (EPOCH + 1, 0, "tamper", 0.0)])
    # The tamper's end reaches the board as a restoral (rule "restored").
    assert [(a.kind, a.signal, a.rule) for a in tamper] == [
        ("tamper", "supervisory", "tamper"),
        ("tamper", "supervisory", "restored"),
    ]


def test_offline_is_raised_at_the_exact_deadline_by_a_tick() -> None:
    engine = DetectorEngine(LIVING)
    engine.process(batch_of(rows_of([(EPOCH, 0, "battery", 3.0)])))

    def offline(now: float) -> list[tuple[str, float, float]]:
        return [(a.kind, a.ts, a.received_at) for a in engine.tick(now) if a.kind == "offline"]

    assert offline(EPOCH + 630.0) == []  # 2 heartbeats of 300 s + 30 s grace
    assert offline(EPOCH + 631.0) == [("offline", EPOCH + 630.0, EPOCH + 631.0)]
    assert offline(EPOCH + 700.0) == []  # latched until the device speaks again


def test_a_household_hub_gone_quiet_is_a_gateway_alert_before_devices_time_out() -> None:
    flat = [Device("sd-1", "smoke", "hh-1"), Device("pb-1", "panic", "hh-1")]
    readings = [(EPOCH + 60.0 * i, 0, "battery", 3.0) for i in range(10)]
    readings += [(EPOCH + 60.0 * i, 0, "battery", 3.0) for i in range(14, 20)]  # 5 min gap
    alerts = play(flat, readings)
    assert [(a.kind, a.device_id, a.ts) for a in alerts] == [
        ("gateway_offline", "hh-1/hub", EPOCH + 540.0 + 150.0)
    ]
    assert alerts[0].rule == "gateway_silence"


def test_an_offline_gateway_covers_its_devices() -> None:
    devices = [Device(f"sd-{i}", "smoke", f"hh-{i}", gateway_id="gw-1") for i in range(3)]
    engine = DetectorEngine(devices)
    engine.process(batch_of(rows_of([(EPOCH, i, "battery", 3.0) for i in range(3)])))
    gw = engine.gateway_status("gw-1", online=False, ts=EPOCH + 10)
    assert [(a.kind, a.device_id) for a in gw] == [("gateway_offline", "gw-1")]
    assert engine.tick(EPOCH + 2000.0) == []
    engine.gateway_status("gw-1", online=True, ts=EPOCH + 2000.0)
    assert engine.tick(EPOCH + 2100.0) == []  # a fresh allowance after the gateway returns
    later = engine.tick(EPOCH + 2700.0)  # back, yet nothing arrives: devices and the gateway
    assert sorted(a.kind for a in later) == ["gateway_offline", "offline", "offline", "offline"]


MIDNIGHT = 1_763_740_800.0  # 2025-11-22 00:00 in China (16:00 UTC the day before), a Saturday


def _routine(days: int, stop_at_h: float | None = None) -> list[tuple[float, int, str, float]]:
    """Motion every 10 minutes from 07:00 to 22:00 local time (UTC+8); stop on the last day."""
    out = []
    for day in range(days):
        for minute in range(7 * 60, 22 * 60, 10):
            hour = minute / 60
            if stop_at_h is not None and day == days - 1 and hour >= stop_at_h:
                break
            out.append((MIDNIGHT + day * 86400 + minute * 60.0, 0, "motion", 1.0))
    return out


def test_a_daytime_silence_this_home_never_shows_is_a_wellness_check() -> None:
    home = [Device("pir-1", "pir", "hh-1", "living"), Device("dc-1", "door", "hh-1", "entrance")]
    quiet_nights = play(home, _routine(14), tick_at=_routine(14)[-1][0] + 8 * 3600)
    assert [a for a in quiet_nights if a.kind == "inactivity"] == []
    # Two weeks of history (after the first week the limit comes down from the cap by day 14).
    readings = _routine(15, stop_at_h=10.0)
    alerts = play(home, readings, tick_at=readings[-1][0] + 12 * 3600)
    wellness = [a for a in alerts if a.kind == "inactivity"]
    assert [(a.rule, a.signal) for a in wellness] == [("silent_at_home", "supervisory")]
    # Ten-minute gaps learned: the one-hour floor holds, far below the dense home's cap.
    assert wellness[0].ts - readings[-1][0] == 3600
    message = wellness[0].evidence["reason"]
    assert render(message["code"], message["params"], "zh").startswith("在家无活动")
    assert wellness[0].reason.startswith("Silent at home")  # logs and files: English
    assert wellness[0].evidence["routine"]["longest_silence_s"] == 600


def test_one_long_evening_in_the_first_days_does_not_make_the_next_a_nights_sleep() -> None:
    """On day 2, 3 h before the television from 19:50 (a rest by its length and hour); on day
    3 activity stops at 19:45. One evening is no habit of resting then: the collapse is checked
    within the daytime cap, not *not up* the next morning (a recorded home: 14.4 h)."""
    home = [Device("pir-1", "pir", "hh-1", "living"), Device("dc-1", "door", "hh-1", "entrance")]
    day2 = MIDNIGHT + 1 * 86400
    readings = [
        r for r in _routine(3, stop_at_h=19.75) if not day2 + 19.8 * 3600 < r[0] < day2 + 86400
    ]
    readings += [(day2 + 22.9 * 3600 + i * 600.0, 0, "motion", 1.0) for i in range(4)]
    readings.sort()
    alerts = play(home, readings, tick_at=readings[-1][0] + 20 * 3600)
    wellness = [(a.rule, a.ts - readings[-1][0]) for a in alerts if a.kind == "inactivity"]
    assert len(wellness) == 1
    assert wellness[0][0] == "silent_at_home"
    assert wellness[0][1] <= 4 * 3600


def test_home_from_two_nights_away_in_the_evening_is_no_sleep_while_learning() -> None:
    """In the first week, away from Wednesday 21:00 to Friday 19:37, then nothing more: not
    asleep (whoever comes home from a night out by noon and goes quiet is, while learning) but
    a collapse by day, checked within 4 h (a recorded home: *not up* 15.2 h on)."""
    home = [Device("pir-1", "pir", "hh-1"), Device("dc-1", "door", "hh-1")]
    back = MIDNIGHT + 6 * 86400 + 19.6 * 3600
    trips: list[tuple[float, float | None]] = [(MIDNIGHT + 4 * 86400 + 21 * 3600, back)]
    readings = [r for r in _away(7, trips) if r[0] <= back]
    alerts = play(home, readings, tick_at=back + 20 * 3600)
    wellness = [(a.rule, a.ts - back) for a in alerts if a.kind == "inactivity" and a.ts > back]
    assert len(wellness) == 1
    assert wellness[0][0] == "silent_at_home"
    assert wellness[0][1] <= 4 * 3600


def test_activity_delivered_hours_late_does_not_restart_the_silence_in_the_past() -> None:
    """A second device's reading of 10:00 arrives at 12:00 (late through its own gateway, or
    after an NB-IoT detector's sleep) while the PIR reports every 10 minutes. Taken for a clock
    reset it moved the silence's start back two hours, past this home's one-hour limit, and a
    check was raised at once; it is older than the latest activity, so it says nothing."""
    home = [
        Device("pir-1", "pir", "hh-1", "living"),
        Device("pir-2", "pir", "hh-1", "hall"),
        Device("dc-1", "door", "hh-1", "entrance"),
    ]
    readings = _routine(15)
    noon = MIDNIGHT + 14 * 86400 + 12 * 3600
    at = next(i for i, r in enumerate(readings) if r[0] > noon)
    late = (noon - 2 * 3600, 1, "motion", 1.0)
    alerts = play(home, [*readings[:at], late, *readings[at:]], tick_at=readings[-1][0] + 60)
    assert [a for a in alerts if a.kind == "inactivity"] == []


def test_a_daytime_silence_in_a_home_of_switches_is_checked_no_sooner_than_its_floor() -> None:
    """A switch used every 30 minutes from 07:00 to 22:00 (30 active periods a day: switches
    only): 30-minute gaps learned give 30 min x 1.3 + 20 min, but nobody sitting is seen
    there, so the check comes at routine_floor_sparse_s (2.5 h), below the 3 h 55 min cap."""
    home = [Device("sw-1", "pir", "hh-1", "kitchen"), Device("dc-1", "door", "hh-1", "entrance")]
    days = 15
    readings = [
        (MIDNIGHT + day * 86400 + minute * 60.0, 0, "motion", 1.0)
        for day in range(days)
        for minute in range(7 * 60, (10 if day == days - 1 else 22) * 60 + 1, 30)
    ]
    alerts = play(home, readings, tick_at=readings[-1][0] + 6 * 3600)
    wellness = [a for a in alerts if a.kind == "inactivity"]
    assert [(a.rule, a.ts - readings[-1][0]) for a in wellness] == [("silent_at_home", 9000.0)]
    assert wellness[0].evidence["routine"]["longest_silence_s"] == 1800


def _afternoons_unseen(
    every_min: int, quiet_h: float, days: int = 15, quiet_days: Sequence[int] | None = None
) -> list[tuple[float, int, str, float]]:
    """Motion every `every_min` from 07:00 to 22:00 but none from 14:00 for `quiet_h` on
    `quiet_days` (every day by default); on the last day nothing after 14:00 (a collapse)."""
    return [
        (MIDNIGHT + day * 86400 + minute * 60.0, 0, "motion", 1.0)
        for day in range(days)
        for minute in range(7 * 60, 22 * 60 + 1, every_min)
        if not (
            (quiet_days is None or day in quiet_days) and 14 * 60 < minute < (14 + quiet_h) * 60
        )
        and (day < days - 1 or minute <= 14 * 60)
    ]


def test_a_daytime_silence_this_home_often_shows_is_still_checked_within_the_target() -> None:
    """Every afternoon the resident sits before the television from 14:00, unseen by the
    switches, for longer than a daytime collapse may wait (4 h). Learned alone, the limit would
    pass the target; the cap holds it to the target less 5 min (the time a check takes to
    reach a phone), whatever this home's silences were."""
    home = [Device("sw-1", "pir", "hh-1", "living"), Device("dc-1", "door", "hh-1", "entrance")]
    readings = _afternoons_unseen(30, 4.5)
    alerts = play(home, readings, tick_at=readings[-1][0] + 6 * 3600)
    stop = readings[-1][0]
    cap_s = 4 * 3600.0 - 300.0
    wellness = [a for a in alerts if a.kind == "inactivity" and a.ts > stop]
    assert [(a.rule, a.ts - stop) for a in wellness] == [("silent_at_home", cap_s)]
    assert wellness[0].evidence["routine"]["longest_silence_s"] >= 4.5 * 3600 - 30 * 60
    # The price: those afternoons were checked too, at the cap.
    earlier = [a.ts for a in alerts if a.kind == "inactivity" and a.ts < stop]
    assert len(earlier) >= 7
    assert all((t - cap_s - MIDNIGHT) % 86400 == 14 * 3600 for t in earlier)


def test_a_pir_home_blind_to_its_afternoons_is_held_to_four_hours_there_not_three() -> None:
    """A PIR every 5 min, but every afternoon nothing from 14:00 to 17:30 (an armchair no PIR
    covers): 3.5 h, past the PIR home's cap (2 h 55 min, the 3-h target), so each afternoon was
    a false check. Seen twice or more about that hour, the PIRs are as blind then as switches:
    the switches' cap (3 h 55 min, within the 4 h every daytime collapse must be raised in)
    holds there. No afternoon is checked, and a collapse at 14:00 is raised at 3 h 55 min."""
    home = [Device("pir-1", "pir", "hh-1", "living"), Device("dc-1", "door", "hh-1", "entrance")]
    readings = _afternoons_unseen(5, 3.5)
    stop = readings[-1][0]
    alerts = play(home, readings, tick_at=stop + 6 * 3600)
    wellness = [a for a in alerts if a.kind == "inactivity"]
    assert [(a.rule, a.ts - stop) for a in wellness] == [("silent_at_home", 14100.0)]
    assert wellness[0].reason.endswith("(check at 3.9 h, the daytime ceiling).")
    # Four hours from there the PIRs see her: a collapse at 10:00 is held to their cap.
    morning = [r for r in readings if r[0] <= stop - 4 * 3600]
    alerts = play(home, morning, tick_at=morning[-1][0] + 6 * 3600)
    wellness = [a for a in alerts if a.kind == "inactivity"]
    assert [(a.rule, a.ts - morning[-1][0]) for a in wellness] == [("silent_at_home", 10500.0)]


def test_blind_hours_are_counted_by_day_only_and_once_per_cell() -> None:
    """Cells are (hour begun, day type, 14-day bucket); slots count hours from 18:00. Two long
    silences begun at 07:00 and 08:00 (a restless sleeper still in bed) do not make 09:00
    blind; two at 10:00 (weekday and weekend, or two buckets) do; one does not."""
    cap = 10500.0
    row = np.zeros(R_G + 2 * SLOTS)

    def slot(local_h: int, weekend: int = 0) -> int:
        return weekend * 24 + (local_h - 18) % 24

    row[R_G + slot(7)] = row[R_G + slot(8)] = cap + 600
    assert not blind_about(row, slot(9), cap)
    row[R_G + slot(10)] = cap + 600
    assert not blind_about(row, slot(9), cap)
    row[R_G + SLOTS + slot(10)] = cap + 600  # the bucket before
    assert blind_about(row, slot(9), cap)
    assert blind_about(row, slot(12), cap)
    assert not blind_about(row, slot(13), cap)  # 10:00 is more than 2 h away
    # The pool stops at 18:00, where day types and slots begin (as the daytime limit's).
    row[:] = 0.0
    row[R_G + slot(16)] = row[R_G + slot(17)] = cap + 600
    assert blind_about(row, slot(17), cap)
    assert not blind_about(row, slot(18), cap)
    assert not blind_about(row, slot(18, weekend=1), cap)


def test_one_long_afternoon_does_not_make_a_pir_home_blind() -> None:
    """One afternoon in two weeks unseen for 3.5 h (an odd day) is one silence past the cap:
    a collapse at 14:00 ten days later is still raised at the PIR home's cap."""
    home = [Device("pir-1", "pir", "hh-1", "living"), Device("dc-1", "door", "hh-1", "entrance")]
    readings = _afternoons_unseen(5, 3.5, quiet_days=[4])
    stop = readings[-1][0]
    alerts = play(home, readings, tick_at=stop + 6 * 3600)
    wellness = [a for a in alerts if a.kind == "inactivity"]
    assert [(a.rule, a.ts - stop) for a in wellness] == [("silent_at_home", 10500.0)]
    assert wellness[0].evidence["routine"]["longest_silence_s"] >= 3.5 * 3600 - 300


def test_an_evening_silence_cut_short_by_the_daytime_cap_reads_as_one() -> None:
    """A PIR home quiet 19:00-22:30 on three evenings of two weeks (the television: rests, too
    few for a habit of resting then). A silence from 19:00 is checked at the cap, 2 h 55 min,
    as silent at home with the ceiling named, not as "not up: usually up by 07:00 (latest in
    28 days 20:43)", a rest's end the cap had cut short (a recorded home read that way)."""
    home = [Device("pir-1", "pir", "hh-1", "living")]
    days = 15
    readings = [
        (MIDNIGHT + day * 86400 + minute * 60.0, 0, "motion", 1.0)
        for day in range(days)
        for minute in range(7 * 60, 23 * 60, 5)
        if not (day in (3, 8, 11) and 19 * 60 < minute < 22.5 * 60)
        and (day < days - 1 or minute <= 19 * 60)
    ]
    stop = readings[-1][0]
    alerts = play(home, readings, tick_at=stop + 12 * 3600)
    wellness = [a for a in alerts if a.kind == "inactivity"]
    assert {a.rule for a in wellness} == {"silent_at_home"}
    assert wellness[-1].ts - stop == 10500.0
    assert wellness[-1].evidence["routine"]["limit_s"] == 10500.0
    message = wellness[-1].evidence["reason"]
    assert "本户白天上限 2.9 小时" in render(message["code"], message["params"], "zh")
    assert wellness[-1].reason.endswith("(check at 2.9 h, the daytime ceiling).")


def test_a_daytime_silence_about_an_hour_with_few_silences_learned_widens_to_near_hours() -> None:
    """Motion every 5 minutes from 07:00 to 22:00, and every afternoon a 70-minute silence
    from 17:00: within 2 h of 14:00 no silence was ever seen, so the longest of a dozen is
    none (a one-hour check, false whenever the resident reads after lunch). The pool widens
    until it holds ten silences (from 11:00 to 17:00): 70 min x 1.3 + 20 min."""
    home = [Device("pir-1", "pir", "hh-1", "living")]
    days = 15
    readings = []
    for day in range(days):
        end = 14 * 60 if day == days - 1 else 22 * 60
        for minute in range(7 * 60, end + 1, 5):
            if not 17 * 60 < minute < 18 * 60 + 10:
                readings.append((MIDNIGHT + day * 86400 + minute * 60.0, 0, "motion", 1.0))
    alerts = play(home, readings, tick_at=readings[-1][0] + 6 * 3600)
    wellness = [a for a in alerts if a.kind == "inactivity"]
    assert [(a.rule, a.ts) for a in wellness] == [
        ("silent_at_home", readings[-1][0] + 70 * 60 * 1.3 + 1200)
    ]
    assert wellness[0].evidence["routine"]["silences_seen"] == days - 1
    assert wellness[0].evidence["routine"]["longest_silence_s"] == 70 * 60
    assert "14 次安静中最长 1.2 小时" in render(
        wellness[0].evidence["reason"]["code"], wellness[0].evidence["reason"]["params"], "zh"
    )


def test_not_up_is_checked_after_the_latest_usual_first_activity() -> None:
    home = [Device("pir-1", "pir", "hh-1", "bedroom")]
    readings = _routine(15, stop_at_h=23.0)  # the last evening, then nothing the next morning
    alerts = play(home, readings, tick_at=readings[-1][0] + 20 * 3600)
    wellness = [a for a in alerts if a.kind == "inactivity"]
    assert [a.rule for a in wellness] == ["not_up"]
    latest_wake = readings[0][0] + 15 * 86400  # 07:00 the next morning
    assert wellness[0].ts - latest_wake == 2400  # routine_rest_margin_s
    assert "07:00" in wellness[0].reason


def test_in_the_week_after_learning_not_up_allows_twice_the_margin_coming_down() -> None:
    """Nine days of 07:00-21:50: the latest of so few mornings falls short of a month's, so
    the margin after it is twice routine_rest_margin_s at the end of learning (day 7), back
    to it by day 14; the explanation still gives the learned 07:00."""
    home = [Device("pir-1", "pir", "hh-1", "bedroom")]
    readings = _routine(9)
    alerts = play(home, readings, tick_at=readings[-1][0] + 20 * 3600)
    wellness = [a for a in alerts if a.kind == "inactivity"]
    learn = 7 * 86400.0
    young = 1.0 - (readings[-1][0] - readings[0][0] - learn) / learn  # about 0.77
    latest_wake = readings[0][0] + 9 * 86400  # 07:00 the next morning
    assert [(a.rule, a.ts) for a in wellness] == [("not_up", latest_wake + 2400 * (1 + young))]
    assert "07:00" in wellness[0].reason


def test_going_quiet_in_the_hour_before_a_usual_bedtime_counts_every_rest_of_the_night() -> None:
    """Nights of 21:50-07:00 and 23:50-08:30 in turn. The last evening motion stops at 20:55,
    within the hour before the earlier bedtime: that is going to bed, and the night's latest
    usual first activity is 08:30 (the later bedtime's), not the 07:00 of the rests begun in
    the next hour alone (a check at 07:40 while the resident still sleeps)."""
    home = [Device("pir-1", "pir", "hh-1", "bedroom")]
    readings = []
    days = 17  # the last evening is a Monday's: a weekday night
    for day in range(days):
        wake = 7 * 60 if day % 2 == 0 else 8 * 60 + 30  # after the night that began...
        bed = 22 * 60 if day % 2 else 24 * 60  # ...with the last motion at 21:50 / 23:50
        if day == days - 1:
            bed = 20 * 60 + 56
        for minute in range(wake, bed, 10):
            readings.append((MIDNIGHT + day * 86400 + minute * 60.0, 0, "motion", 1.0))
    alerts = play(home, readings, tick_at=readings[-1][0] + 20 * 3600)
    wellness = [a for a in alerts if a.kind == "inactivity"]
    latest_wake = MIDNIGHT + days * 86400 + 8.5 * 3600  # 08:30 the next morning
    assert [(a.rule, a.ts) for a in wellness] == [("not_up", latest_wake + 2400)]


def test_a_weekend_with_few_nights_at_home_borrows_the_weekdays_spread_not_their_latest() -> None:
    """Nights of 21:50-07:00 from a Monday, one weekday up at 07:30, the second weekend away
    (door Friday 18:00 to Sunday 18:00): two weekend nights in memory. The third Friday night
    is checked at the weekend's latest (07:00) + 20 min of the weekdays' spread + 40 min, not at
    the weekdays' latest 07:30 + 40 min."""
    home = [Device("pir-1", "pir", "hh-1", "bedroom"), Device("dc-1", "door", "hh-1", "hall")]
    monday = MIDNIGHT + 2 * 86400  # 2025-11-24 00:00 in China
    away = (monday + 11 * 86400 + 18 * 3600, monday + 13 * 86400 + 18 * 3600)
    readings = []
    for day in range(19):  # the last evening is Friday's (day 18)
        wake = 7 * 60 + 30 if day == 9 else 7 * 60
        for minute in range(wake, 22 * 60, 10):
            t = monday + day * 86400 + minute * 60.0
            if not away[0] - 600 < t < away[1] + 600:
                readings.append((t, 0, "motion", 1.0))
    readings = sorted(readings + [(t, 1, "door", 1.0) for t in away])
    alerts = play(home, readings, tick_at=readings[-1][0] + 20 * 3600)
    wellness = [a for a in alerts if a.kind == "inactivity" and a.ts > readings[-1][0]]
    weekend_latest = monday + 19 * 86400 + 7 * 3600  # 07:00 on Saturday
    assert [(a.rule, a.ts) for a in wellness] == [("not_up", weekend_latest + 1200 + 2400)]


def test_a_sleep_broken_by_toilet_trips_into_short_silences_is_still_the_night() -> None:
    """Nights of 21:50-07:00 with trips at 00:30, 03:00 and 05:15: no silence lasts a rest
    (3 h), yet together they are the sleep, and the last night is checked as not up."""
    home = [Device("pir-1", "pir", "hh-1", "bedroom")]
    readings = _routine(15, stop_at_h=23.0)
    nights = readings[0][0] - 7 * 3600 + 86400  # 00:00 after the first day
    trips = [nights + d * 86400 + h * 3600 for d in range(14) for h in (0.5, 3.0, 5.25)]
    readings = sorted(readings + [(t, 0, "motion", 1.0) for t in trips])
    alerts = play(home, readings, tick_at=readings[-1][0] + 20 * 3600)
    wellness = [a for a in alerts if a.kind == "inactivity"]
    assert [a.rule for a in wellness] == ["not_up"]
    latest_wake = readings[0][0] + 15 * 86400  # 07:00 the next morning
    assert wellness[0].ts - latest_wake == 2400  # routine_rest_margin_s


def _checked_at_seven_plus_margin(
    home: list[Device], readings: list[tuple[float, int, str, float]]
) -> None:
    """The last night of 15 usual 07:00 mornings is checked as not up at 07:00 + 40 min."""
    alerts = play(home, readings, tick_at=readings[-1][0] + 20 * 3600)
    wellness = [a for a in alerts if a.kind == "inactivity"]
    latest_wake = readings[0][0] + 15 * 86400  # 07:00 the last morning
    assert [(a.rule, a.ts) for a in wellness] == [("not_up", latest_wake + 2400)]
    assert "07:00" in wellness[0].reason


def test_trips_apart_by_short_silences_before_getting_up_are_still_the_night() -> None:
    """A PIR home's nights of 21:50-07:00 with trips at 05:00-05:05 and 05:50 (silences of
    45 and 70 min between): the rest goes on to 07:00, not ends at 05:00. The last night,
    nothing after the 05:50 trip, is checked as not up after 07:00, not at 05:50 plus the
    limit of those morning silences."""
    home = [Device("pir-1", "pir", "hh-1", "bedroom")]
    readings = _routine(15)
    nights = readings[0][0] - 7 * 3600 + 86400  # 00:00 after the first day
    trips = [nights + d * 86400 + m * 60 for d in range(15) for m in (300, 305, 350)]
    readings = sorted(readings + [(t, 0, "motion", 1.0) for t in trips])
    _checked_at_seven_plus_margin(home, readings)


def test_an_early_riser_sitting_quietly_is_up_not_back_in_bed() -> None:
    """Nights of 21:50-07:00. One Sunday the resident is up at 06:00, about for 15 min, then
    sits quietly until 07:30: that is getting up (a toilet trip this close to the usual wake
    is a short one), not a rest until 07:30. The last Saturday night is checked as not up
    at 07:00 + 40 min, not at 07:30 + 40 min."""
    home = [Device("pir-1", "pir", "hh-1", "bedroom")]
    readings = _routine(15)  # from a Saturday: the last night (day 14's) is a weekend night
    sunday = readings[0][0] - 7 * 3600 + 8 * 86400  # 00:00 on day 8, a Sunday
    readings = [r for r in readings if not sunday <= r[0] < sunday + 7.5 * 3600]
    readings += [(sunday + m * 60.0, 0, "motion", 1.0) for m in (360, 365, 375, 450)]
    readings.sort()
    _checked_at_seven_plus_margin(home, readings)


def test_a_day_types_first_night_is_no_longer_than_the_longest_published_sleep() -> None:
    """The first night (no usual wake known yet) runs 20:50-07:00; the resident is about for
    10 min, then sits quietly until 08:30. Trips while the usual wake is unknown are back to
    bed, but not past 10 h of rest: that night ended at 07:00, not 08:30 (a switches-only
    home's first weekend morning, learned so, held its not-up check 2 h past the latest usual
    first activity for four weeks). The last night is checked at 07:00 + 40 min."""
    home = [Device("pir-1", "pir", "hh-1", "bedroom")]
    readings = _routine(15)
    day0 = readings[0][0] - 7 * 3600  # 00:00 on day 0
    quiet = [(day0 + 20.9 * 3600, day0 + 22 * 3600), (day0 + 31.2 * 3600, day0 + 32.5 * 3600)]
    readings = [r for r in readings if not any(a <= r[0] < b for a, b in quiet)]
    readings = sorted([*readings, (day0 + 32.5 * 3600, 0, "motion", 1.0)])
    _checked_at_seven_plus_margin(home, readings)


def test_a_first_nights_end_after_a_trip_past_7_h_of_rest_is_provisional() -> None:
    """The weekdays' first night (Sunday's) runs 21:50-07:00; the resident is about for 5 min,
    then sits quietly until 08:30. After 7 h of rest that trip may as well be getting up: the
    rest goes on (while learning, the later reading), but its 08:30 end is provisional. Once
    the weekdays have had a week's nights, all up at 07:00, it puts their latest at most 20 min
    later: a Monday night three weeks on is checked at 07:20 + 40 min, not at 08:30 + 40 min
    (that night stays in memory four weeks) (a home was checked 1.98 h after its latest real
    first activity)."""
    home = [Device("pir-1", "pir", "hh-1", "bedroom")]
    readings = _routine(24)  # from a Saturday: day 1 is a Sunday, day 23 a Monday
    monday = readings[0][0] - 7 * 3600 + 2 * 86400  # 00:00 on day 2
    readings = [r for r in readings if not monday + 7 * 3600 <= r[0] < monday + 8.5 * 3600]
    readings += [(monday + m * 60.0, 0, "motion", 1.0) for m in (420, 425, 510)]
    readings.sort()
    alerts = play(home, readings, tick_at=readings[-1][0] + 20 * 3600)
    night = [a for a in alerts if a.kind == "inactivity" and a.ts > readings[-1][0]]
    tuesday = monday + 22 * 86400
    assert [(a.rule, a.ts) for a in night] == [("not_up", tuesday + 7 * 3600 + 1200 + 2400)]


def test_one_odd_rest_moves_the_usual_wake_as_a_night_1_5_h_off_at_most() -> None:
    """Weekday nights of 21:50-07:00, and one Monday a rest from 11:00 to 16:00 (a PIR gone
    quiet, a day in bed). Taken whole, it pulled the smoothed usual wake from 07:00 to 08:21,
    and a night's not-up check comes no earlier than its usual wake (a home was checked 1.14 h
    after its latest usual first activity). It now counts as a night ending 1.5 h late: the
    usual wake 07:13:30, the Tuesday night checked at 07:53:30."""
    home = [Device("pir-1", "pir", "hh-1", "bedroom")]
    readings = _routine(18)  # from a Saturday: day 16 is a Monday, day 17 a Tuesday
    day16 = readings[0][0] - 7 * 3600 + 16 * 86400
    readings = [r for r in readings if not day16 + 11 * 3600 <= r[0] < day16 + 16 * 3600]
    readings = sorted([*readings, (day16 + 16 * 3600, 0, "motion", 1.0)])
    alerts = play(home, readings, tick_at=readings[-1][0] + 20 * 3600)
    night = [a for a in alerts if a.kind == "inactivity" and a.ts > readings[-1][0]]
    wednesday = day16 + 2 * 86400
    assert [(a.rule, a.ts) for a in night] == [("not_up", wednesday + 7.225 * 3600 + 2400)]


def test_a_nights_latest_usual_end_is_never_before_its_usual_end() -> None:
    """In memory, the weekday rests begun at 20:00 all ended by 06:00, while the smoothed end
    of this day type's rests is 07:30 (the later nights' rests not being in that chain). A
    silence from 20:31 is going to bed; its not-up check counts from 07:30, not from 06:00 (a
    switches-only home was checked at 07:38 after a latest of 06:58 with its usual wake 07:35)."""
    engine = DetectorEngine([Device("pir-1", "pir", "hh-1", "bedroom")])
    hh_f, hh_i = engine.state.hh_f, engine.state.hh_i
    hp = int(hh_i[0, HI_PROW])
    monday = MIDNIGHT + 2 * 86400  # 2025-11-24 00:00 in China
    slot = 2  # weekday, 20:00-21:00 (hours count from 18:00)
    hh_f[0, R_FIRST] = monday - 30 * 86400  # learning is over
    hh_f[0, R_NL + slot] = 5.0  # five rests begun then, in the current bucket
    hh_f[0, R_E + slot] = 10 * 3600.0  # the latest ended at 06:00 (after the slot's start)
    hh_f[0, R_WAKE] = 13.5 * 3600.0  # usual end of weekday rests: 07:30 (s after 18:00)
    last = monday + 20.5 * 3600 + 60  # 20:31
    assert rest_end(hh_f, engine.params, 0, hp, last) == monday + 86400 + 7.5 * 3600
    hh_f[0, R_WAKE] = 9.5 * 3600.0  # a usual end of 03:30 changes nothing
    assert rest_end(hh_f, engine.params, 0, hp, last) == monday + 86400 + 6 * 3600


def test_the_first_silence_of_a_night_broken_by_a_trip_is_the_nights_not_the_evenings() -> None:
    """Nights of 21:50-07:00 with a trip at 23:30: the 100 min before the trip are the
    night's rest, not a silence by day, so they do not stretch the evening's limit. A silence
    from 19:50 on the last day is checked at the one-hour floor, not at 100 min x 1.3 + 20."""
    home = [Device("pir-1", "pir", "hh-1", "living")]
    readings = _routine(15, stop_at_h=19.9)
    trips = [readings[0][0] + d * 86400 + 16.5 * 3600 for d in range(14)]  # 23:30
    readings = sorted(readings + [(t, 0, "motion", 1.0) for t in trips])
    alerts = play(home, readings, tick_at=readings[-1][0] + 6 * 3600)
    wellness = [a for a in alerts if a.kind == "inactivity"]
    assert [(a.rule, a.ts) for a in wellness] == [("silent_at_home", readings[-1][0] + 3600)]


def test_home_in_the_morning_from_a_night_out_the_first_days_is_asleep_not_silent() -> None:
    """A night-shift worker's first day: out 21:30-07:30, about until 08:30, then asleep. With
    no history the sleep may last the longest published one (10 h), not the 12:30 prior."""
    home = [Device("pir-1", "pir", "hh-1", "bedroom"), Device("dc-1", "door", "hh-1", "hall")]
    readings = _routine(1, stop_at_h=21.5)
    evening = readings[0][0] + 14.5 * 3600  # 21:30
    readings.append((evening, 1, "door", 1.0))
    readings.append((evening + 10 * 3600, 1, "door", 1.0))  # 07:30, home
    last = evening + 11 * 3600  # 08:30, to bed
    readings += [(t, 0, "motion", 1.0) for t in np.arange(evening + 10 * 3600 + 600, last + 1, 600)]
    alerts = play(home, readings, tick_at=last + 14 * 3600)
    wellness = [a for a in alerts if a.kind == "inactivity"]
    assert [(a.rule, a.ts) for a in wellness] == [("not_up", last + 10 * 3600 + 2400)]


def test_while_learning_an_absence_habit_is_checked_by_night_at_the_earliest() -> None:
    """Out 10:00-12:00 on three weekdays: on the fourth, not back, the check waits for night
    (an hour after the hour this home goes to bed in), not for 12:00 + 1.5 h."""
    home = [Device("pir-1", "pir", "hh-1"), Device("dc-1", "door", "hh-1")]
    monday = MIDNIGHT + 2 * 86400
    readings = [
        r for r in _routine(6) if r[0] >= monday and not 10 <= (r[0] - monday) % 86400 / 3600 < 12.2
    ]
    for day in range(4):
        readings.append((monday + day * 86400 + 10 * 3600, 1, "door", 1.0))
        if day < 3:
            readings.append((monday + day * 86400 + 12 * 3600, 1, "door", 1.0))
    readings = sorted(r for r in readings if r[0] <= monday + 3 * 86400 + 10 * 3600)
    alerts = play(home, readings, tick_at=readings[-1][0] + 20 * 3600)
    wellness = [a for a in alerts if a.kind == "inactivity"]
    assert [(a.rule, a.ts) for a in wellness] == [("out_not_back", monday + 3 * 86400 + 23 * 3600)]


def _away(
    days: int, trips: list[tuple[float, float | None]]
) -> list[tuple[float, int, str, float]]:
    """The _routine home out on each trip (leaving, back; None: never back): no motion then,
    the front door at each end."""

    def out(t: float) -> bool:
        return any(lo <= t and (b is None or t <= b) for lo, b in trips)

    readings = [r for r in _routine(days) if not out(r[0])]
    readings += [(t, 1, "door", 1.0) for trip in trips for t in trip if t is not None]
    return sorted(readings)


def _weekends_away(second_back_h: float | None) -> list[tuple[float, int, str, float]]:
    """The _routine home away on two weekends after its first week: Friday 21:00 to Sunday
    19:00 (46 h), then Friday 19:30 to Sunday `second_back_h` (None: never back)."""
    back = None if second_back_h is None else MIDNIGHT + 22 * 86400 + second_back_h * 3600
    return _away(
        24,
        [
            (MIDNIGHT + 13 * 86400 + 21 * 3600, MIDNIGHT + 15 * 86400 + 19 * 3600),
            (MIDNIGHT + 20 * 86400 + 19.5 * 3600, back),
        ],
    )


def test_a_weekend_away_begun_earlier_may_end_by_the_usual_clock_time() -> None:
    """Away from Friday 21:00 to Sunday 19:00 once; the next time from Friday 19:30: 46 h from
    then is Sunday 17:30, but the resident is usually back by Sunday 19:00, however late the
    trip began (a recorded home came back at 19:04 after a longest 45.6 h, from 19:11). So back
    at 19:45 is no check, and never back is checked at Sunday 19:00 + 1.5 h."""
    home = [Device("pir-1", "pir", "hh-1", "living"), Device("dc-1", "door", "hh-1", "hall")]
    sunday = MIDNIGHT + 22 * 86400
    first = sunday - 7 * 86400
    for back, expected in ((19.75, []), (None, [("out_not_back", sunday + 19 * 3600 + 5400)])):
        readings = _weekends_away(back)
        alerts = play(home, readings, tick_at=sunday + 30 * 3600)
        wellness = [(a.rule, a.ts) for a in alerts if a.kind == "inactivity"]
        # The first weekend away was none of this home's habits: checked (not up on Saturday).
        assert [rule for rule, ts in wellness if ts < first] == ["not_up"]
        assert [(rule, ts) for rule, ts in wellness if ts > first] == expected


def test_a_night_out_does_not_make_the_next_morning_the_daily_habits_usual_return() -> None:
    """At work 10:00-17:00 every weekday; one Monday out until Tuesday 09:00 (a night out).
    On a Wednesday nine days later, not back from work: checked at 17:00 + 1.5 h, not at
    09:00 + 1.5 h the next morning (a recorded home was checked a day late for weeks). A night
    out is kept by day of the week: another Monday may be one again."""
    home = [Device("pir-1", "pir", "hh-1"), Device("dc-1", "door", "hh-1")]
    trips: list[tuple[float, float | None]] = []
    for day in range(19):
        if day % 7 >= 2:  # Monday to Friday
            back = MIDNIGHT + day * 86400 + (33 if day == 9 else 17) * 3600
            trips.append((MIDNIGHT + day * 86400 + 10 * 3600, None if day == 18 else back))
    readings = _away(19, trips)
    wednesday = MIDNIGHT + 18 * 86400
    alerts = play(home, readings, tick_at=wednesday + 36 * 3600)
    wellness = [(a.rule, a.ts) for a in alerts if a.kind == "inactivity" and a.ts > wednesday]
    assert wellness == [("out_not_back", wednesday + 17 * 3600 + 5400)]


@pytest.mark.parametrize(
    ("afternoons_out", "back_h", "expected_h"),
    [((1, 7), 19.5, []), ((1, 7), None, [23.0]), ((0, 1, 7), 19.5, [17.75])],
    ids=["two-back-late", "two-never-back", "three-back-late"],
)
def test_two_afternoons_out_are_no_habit_three_are(
    afternoons_out: tuple[int, ...], back_h: float | None, expected_h: list[float]
) -> None:
    """Out 14:30-16:15 on weekend afternoons; on Sunday (day 8) out from 15:00. After two such
    afternoons the next is longer than the longest of two one time in three: a recorded home
    was checked 1.5 h after "usually back by 16:24" on a Sunday it came back at 20:09. So two
    are no habit (checked by night: an hour after this home's bedtime, 22:00), three are (the
    latest return 16:15 + 1.5 h)."""
    home = [Device("pir-1", "pir", "hh-1"), Device("dc-1", "door", "hh-1")]
    sunday = MIDNIGHT + 8 * 86400
    trips: list[tuple[float, float | None]] = [
        (MIDNIGHT + d * 86400 + 14.5 * 3600, MIDNIGHT + d * 86400 + 16.25 * 3600)
        for d in afternoons_out
    ]
    trips.append((sunday + 15 * 3600, None if back_h is None else sunday + back_h * 3600))
    alerts = play(home, _away(9, trips), tick_at=sunday + 30 * 3600)
    wellness = [(a.rule, a.ts) for a in alerts if a.kind == "inactivity" and a.ts > sunday]
    assert wellness == [("out_not_back", sunday + h * 3600) for h in expected_h]


def test_a_door_then_silence_is_out_checked_by_night_and_an_explicit_away_silences_it() -> None:
    home = [Device("pir-1", "pir", "hh-1"), Device("dc-1", "door", "hh-1")]
    readings = _routine(11, stop_at_h=10.0)
    readings.append((readings[-1][0] + 60, 1, "door", 1.0))
    out = play(home, readings, tick_at=readings[-1][0] + 5 * 3600)
    assert [a for a in out if a.kind == "inactivity"] == []  # at home this would be a check
    later = play(home, readings, tick_at=readings[-1][0] + 14 * 3600)
    away = [a for a in later if a.kind == "inactivity"]
    # By night: an hour after the end of the hour this home goes to bed in (21:50 -> 23:00).
    night = readings[0][0] + 10 * 86400 + 16 * 3600
    assert [(a.rule, a.ts) for a in away] == [("out_not_back", night)]
    engine = DetectorEngine(home)
    base = _routine(11, stop_at_h=10.0)
    engine.process(batch_of(rows_of(base)))
    engine.set_away("hh-1", away=True, ts=base[-1][0])
    assert [a for a in engine.tick(base[-1][0] + 40 * 3600) if a.kind == "inactivity"] == []


def test_a_visitor_in_and_out_by_the_door_while_the_resident_is_out_is_no_one_silent_at_home() -> (
    None
):
    home = [Device("pir-1", "pir", "hh-1"), Device("dc-1", "door", "hh-1")]
    readings = _routine(15, stop_at_h=10.0)
    readings.append((readings[-1][0] + 60, 1, "door", 1.0))  # 09:51 the resident goes out
    left = readings[-1][0]
    readings.append((left + 1800.0, 1, "door", 1.0))  # a visitor comes in at 10:21...
    readings += [(left + 1800.0 + 600.0 * i, 0, "motion", 1.0) for i in range(1, 5)]
    readings.append((readings[-1][0] + 60, 1, "door", 1.0))  # ...and leaves at 11:02
    soon = play(home, readings, tick_at=readings[-1][0] + 5 * 3600)
    assert [a for a in soon if a.kind == "inactivity"] == []  # at home this would be a check
    later = play(home, readings, tick_at=readings[-1][0] + 14 * 3600)
    night = readings[0][0] + 14 * 86400 + 16 * 3600  # by night, as after any door event
    assert [(a.rule, a.ts) for a in later if a.kind == "inactivity"] == [("out_not_back", night)]


def test_the_front_door_opened_while_at_home_leaves_the_resident_at_home() -> None:
    """The post at 09:51, activity goes on until 10:31, then nothing: a collapse at home,
    checked after the daytime limit from 10:31, not by night as if the resident had gone out
    (the door was not the last event: whoever was at home is still there)."""
    home = [Device("pir-1", "pir", "hh-1"), Device("dc-1", "door", "hh-1")]
    readings = _routine(15, stop_at_h=10.0)
    readings.append((readings[-1][0] + 60, 1, "door", 1.0))
    readings += [(readings[-1][0] + 600.0 * i, 0, "motion", 1.0) for i in range(1, 5)]
    alerts = play(home, readings, tick_at=readings[-1][0] + 14 * 3600)
    assert [(a.rule, a.ts) for a in alerts if a.kind == "inactivity"] == [
        ("silent_at_home", readings[-1][0] + 3600)
    ]


def test_a_second_detector_confirms_a_fire_and_raises_the_severity() -> None:
    flat = [Device("sd-k", "smoke", "hh-1", "kitchen"), Device("sd-h", "smoke", "hh-1", "hall")]
    t = np.arange(90)
    kitchen = smoke_and_heat(0.2 + np.maximum(0, t - 10) * 0.5, 21.0 + np.maximum(0, t - 10) * 0.3)
    hall = smoke_and_heat(0.2 + np.maximum(0, t - 40) * 0.15, np.full(t.size, 21.0), slot=1)
    readings = sorted(kitchen + hall, key=lambda r: r[0])
    alerts = play(flat, readings)
    by_device = {(a.device_id, a.kind): a for a in alerts}
    assert by_device[("sd-k", "fire")].severity == 4
    hall_fire = by_device[("sd-h", "fire")]
    assert (hall_fire.rule, hall_fire.severity) == ("coincidence", 5)
    assert hall_fire.evidence["confirmed_by"]["device_id"] == "sd-k"


def test_detectors_in_different_households_of_one_building_confirm_each_other() -> None:
    block = [
        Device("sd-1", "smoke", "hh-1", building_id="b-7"),
        Device("sd-2", "smoke", "hh-2", building_id="b-7"),
        Device("sd-3", "smoke", "hh-3", building_id="b-8"),
    ]
    t = np.arange(90)
    fire = smoke_and_heat(0.2 + np.maximum(0, t - 10) * 0.5, 21.0 + np.maximum(0, t - 10) * 0.3)
    drift = np.full(t.size, 0.2) + np.maximum(0, t - 40) * 0.15
    near = smoke_and_heat(drift, np.full(t.size, 21.0), slot=1)
    far = smoke_and_heat(drift, np.full(t.size, 21.0), slot=2)
    alerts = play(block, sorted(fire + near + far, key=lambda r: r[0]))
    confirmed = [
        (a.device_id, a.evidence["confirmed_by"]["scope"])
        for a in alerts
        if a.rule == "coincidence"
    ]
    assert confirmed == [("sd-2", "building")]
    assert ("sd-3", "pre_alarm") in {(a.device_id, a.kind) for a in alerts}


def test_an_evening_out_of_a_home_that_goes_to_bed_late_is_checked_by_23() -> None:
    """Up from 09:00 until 02:00 every day; on day 15 out of the door at 19:01, no habit then,
    and never back: checked at 23:00, not an hour after its 02:00 bedtime (a cut into a recorded
    home's unlabelled evening out waited until 03:00)."""
    home = [Device("pir-1", "pir", "hh-1"), Device("dc-1", "door", "hh-1")]
    readings = []
    for day in range(15):
        for minute in range(9 * 60, 26 * 60, 10):
            if day == 14 and minute >= 19 * 60:
                break
            readings.append((MIDNIGHT + day * 86400 + minute * 60.0, 0, "motion", 1.0))
    out_at = MIDNIGHT + 14 * 86400 + 19 * 3600 + 60
    readings.append((out_at, 1, "door", 1.0))
    alerts = play(home, readings, tick_at=out_at + 12 * 3600)
    wellness = [(a.rule, a.ts) for a in alerts if a.kind == "inactivity" and a.ts > out_at]
    assert wellness == [("out_not_back", MIDNIGHT + 14 * 86400 + 23 * 3600)]


def _restless_nights(days: int, last_night: list[float]) -> list[tuple[float, int, str, float]]:
    """Up 07:00-22:00 (motion every 10 min); in bed the PIR sees her turn over every 50 min,
    and once a night she lies still for 2.5 h (from 23:00 to 03:00, a later hour each night):
    no silence is a rest, so no sleep is learned. The last night's motion is `last_night`
    (hours after 22:00)."""
    out = []
    for day in range(days):
        night = MIDNIGHT + day * 86400 + 22 * 3600
        out += [(night - 15 * 3600 + m * 60.0, 0, "motion", 1.0) for m in range(0, 15 * 60, 10)]
        if day == days - 1:
            out += [(night + h * 3600, 0, "motion", 1.0) for h in last_night]
            break
        still = 1.0 + day % 5
        hours = [h / 60 for h in range(0, 9 * 60, 50) if not still < h / 60 < still + 2.5]
        out += [(night + h * 3600, 0, "motion", 1.0) for h in sorted({*hours, still, still + 2.5})]
    return out


def test_a_sleeper_seen_turning_over_is_judged_by_her_nights_not_the_daytime_cap() -> None:
    """A bedroom PIR that sees the sleeper stir leaves no 3-h rest, so her nights are silences
    at home by the hour. At night the daytime cap (2 h 55 min in a PIR home) does not hold:
    a still spell of 3.2 h (her longest in four weeks 2.5 h: limit 2.5 x 1.3 + 20 min) is no
    check, and one that goes on is checked at that limit, long before the 24-h ceiling."""
    home = [Device("pir-1", "pir", "hh-1", "bedroom")]
    quiet = _restless_nights(29, [0.0, 1.0, 4.2, 5.0, 6.0, 7.0, 8.0])
    alerts = play(home, quiet, tick_at=quiet[-1][0] + 3600)
    assert [a for a in alerts if a.kind == "inactivity"] == []
    collapse = _restless_nights(29, [0.0, 1.0])
    stop = collapse[-1][0]
    alerts = play(home, collapse, tick_at=stop + 12 * 3600)
    wellness = [a for a in alerts if a.kind == "inactivity" and a.ts > stop]
    limit = 2.5 * 3600 * 1.3 + 1200  # her longest still spell x 1.3 + 20 min
    assert [(a.rule, a.ts - stop) for a in wellness] == [("silent_at_home", limit)]
    figures = wellness[0].evidence["routine"]
    assert figures["longest_silence_s"] == 2.5 * 3600
    # The cap counts from the coming 09:00 (a collapse then is a daytime one): 10 h + 2 h 55.
    assert figures["daytime_cap_s"] == 10 * 3600 + 10500
    assert "daytime ceiling" not in wellness[0].reason


def test_a_silence_begun_before_nine_is_checked_within_the_daytime_cap_after_nine() -> None:
    """Every morning the PIRs see nothing from 08:40 to 11:10 (a long sit after breakfast):
    learned, 2.5 h x 1.3 + 20 min. Begun before 09:00 the silence is a night's by the clock,
    but a collapse at 09:00 must still be raised within the daytime target: at 09:00 + 2 h 55
    min (the PIR home's cap), 20 min later than the cap counted from 08:40."""
    home = [Device("pir-1", "pir", "hh-1", "living"), Device("dc-1", "door", "hh-1", "entrance")]
    days = 22
    readings = [
        (MIDNIGHT + day * 86400 + minute * 60.0, 0, "motion", 1.0)
        for day in range(days)
        for minute in range(7 * 60, 22 * 60 + 1, 5)
        if not 8 * 60 + 40 < minute < 11 * 60 + 10 and (day < days - 1 or minute <= 8 * 60 + 40)
    ]
    stop = readings[-1][0]
    alerts = play(home, readings, tick_at=stop + 12 * 3600)
    wellness = [a for a in alerts if a.kind == "inactivity" and a.ts > stop]
    assert [(a.rule, a.ts - stop) for a in wellness] == [("silent_at_home", 20 * 60 + 10500.0)]
