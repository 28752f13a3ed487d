"""A recording's clock, read from where each household sleeps (pure, numpy).

Recorded homes are written in their local clock with no zone. Turned into epoch seconds as if
that clock were UTC (what pandas, or `datetime.timestamp()` on a machine set to UTC, gives), or
as true instants of a home in Europe, and read at the district's `utc_offset_h` (UTC+8), the
resident seems to sleep from 07:00 to 15:00. Every rule that knows the hour then lands on the
wrong one: daytime collapses fall in the "night" and wait for a morning that has passed, and
the night's sleep is checked as a daytime silence. `vigil detect replay` therefore reads, per
household, where its longest silence at home falls day after day and, when that is far from
any night people keep, moves the household's clock by whole hours to put it at night: to UTC
(the local clock written as UTC, the usual slip) when that puts it at night, else by as many
hours as bring its centre to NIGHT_MID_H.

Only silences that did not begin with the front door count (after the door the resident may be
out: a weekday at work is no sleep). A household whose sleep centres within NIGHT_SPAN_H of
NIGHT_MID_H (04:00) is left as it is: published sleep begins 21:30-02:30 and ends 05:30-11:30,
so centres from 01:30 to 07:00. The longest silences of at least MIN_AGREE of the days must
centre within AGREE_H of each other: a night-shift worker who sleeps at night on days off does
not, and keeps the clock.

Long silences by day are not always sleep: a resident whose bedroom PIR sees her turn over has
no 3-h silence at night, and one who sits before the television every afternoon where no sensor
sees her has one there each day. Read by its silences alone, such a home was moved by 12 h, and
its nights were judged as days. So a move must also bring the quietest QUIET_H hours of the
household's activity (all its days together) within NIGHT_SPAN_H of NIGHT_MID_H: a clock
written wrong moves those too, a home that sleeps restlessly or sits still by day does not. A
night-shift worker out at work by night keeps the clock on this as well (the replay says on
stderr when it moves one, and `--clock as-is` keeps the policy's clock).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

NIGHT_MID_H = 4.0  # the middle of a night's sleep, between the earliest and latest published
NIGHT_SPAN_H = 4.0  # centres this close to NIGHT_MID_H are a night: the clock is left alone
AS_UTC_SPAN_H = 3.0  # read as UTC when that centres the sleep this close to NIGHT_MID_H
MIN_SILENCE_S = 3.0 * 3600.0  # shorter silences say nothing about sleep
MIN_DAYS = 3  # days with such a silence before the clock is judged
AGREE_H = 3.0  # a day's silence "agrees" when it centres this close to the household's
# Share of days that must agree. A steady sleeper agrees on 0.89-1.00 of days (generated homes
# of five kinds, three recorded homes); a night-shift worker who sleeps at night on days off on
# 0.47-0.61: such a home is left on its clock.
MIN_AGREE = 0.8
QUIET_H = 6.0  # the quietest hours of a day's activity: the core of a night's sleep
QUIET_BINS = 96  # 15-min bins of the local clock
DAY_S = 86400.0


def household_correction_h(
    ts: npt.NDArray[np.float64], door: npt.NDArray[np.bool_], utc_offset_h: float
) -> tuple[float | None, int]:
    """(where the longest silences centre, hours to add to utc_offset_h): what the replay does
    per household. A move the quietest hours of activity do not confirm is no move."""
    centre = sleep_centre_h(ts, door, utc_offset_h)
    hours = correction_h(centre, utc_offset_h)
    if hours:
        quiet = quiet_centre_h(ts, utc_offset_h)
        if quiet is None or abs(_wrap(quiet + hours - NIGHT_MID_H)) > NIGHT_SPAN_H:
            hours = 0
    return centre, hours


def quiet_centre_h(ts: npt.NDArray[np.float64], utc_offset_h: float) -> float | None:
    """Local clock hour where the quietest QUIET_H hours of activity centre, all days together;
    None with no activity, or when equally quiet hours lie apart (no evidence either way)."""
    if ts.size == 0:
        return None
    local = ((ts + utc_offset_h * 3600.0) % DAY_S) * (QUIET_BINS / DAY_S)
    counts = np.bincount(local.astype(np.int64) % QUIET_BINS, minlength=QUIET_BINS)
    width = int(QUIET_H * QUIET_BINS / 24)
    wrapped = np.concatenate([counts, counts[:width]])
    sums = np.convolve(wrapped, np.ones(width, dtype=np.int64), mode="valid")[:QUIET_BINS]
    lows = np.flatnonzero(sums == sums.min())
    hours = (lows + width / 2.0) * (24.0 / QUIET_BINS)
    angle = hours * (2.0 * math.pi / 24.0)
    centre = (math.atan2(np.sin(angle).mean(), np.cos(angle).mean()) * 24.0 / (2.0 * math.pi)) % 24
    if any(abs(_wrap(h - centre)) > QUIET_H / 2.0 for h in hours):
        return None
    return float(centre)


def sleep_centre_h(
    ts: npt.NDArray[np.float64], door: npt.NDArray[np.bool_], utc_offset_h: float
) -> float | None:
    """Local clock hour (0-24) where the household's longest silence at home centres, one per
    24 h of the recording; None if too few days or no steady pattern."""
    if ts.size < 2:
        return None
    order = np.argsort(ts, kind="stable")
    t, d = ts[order], door[order]
    gap = np.diff(t)
    keep = (gap >= MIN_SILENCE_S) & ~d[:-1]
    if not keep.any():
        return None
    mid = t[:-1][keep] + gap[keep] / 2.0
    length = gap[keep]
    block = ((mid - t[0]) // DAY_S).astype(np.int64)
    hours = []
    for b in np.unique(block):
        i = int(np.argmax(np.where(block == b, length, -1.0)))
        hours.append(((mid[i] + utc_offset_h * 3600.0) % DAY_S) / 3600.0)
    if len(hours) < MIN_DAYS:
        return None
    angle = np.asarray(hours) * (2.0 * math.pi / 24.0)
    centre = (math.atan2(np.sin(angle).mean(), np.cos(angle).mean()) * 24.0 / (2.0 * math.pi)) % 24
    agree = np.mean([abs(_wrap(h - centre)) <= AGREE_H for h in hours])
    return float(centre) if agree >= MIN_AGREE else None


def correction_h(centre: float | None, utc_offset_h: float) -> int:
    """Whole hours to add to utc_offset_h so a sleep centred at `centre` (local hour at
    utc_offset_h; None: no steady sleep) falls at night; 0 leaves the clock as it is."""
    if centre is None or abs(_wrap(centre - NIGHT_MID_H)) <= NIGHT_SPAN_H:
        return 0
    as_utc = -round(utc_offset_h)  # the local clock written as UTC: the usual slip
    if abs(_wrap(centre + as_utc - NIGHT_MID_H)) <= AS_UTC_SPAN_H:
        return as_utc
    return -round(_wrap(centre - NIGHT_MID_H))


def corrected_offset_h(utc_offset_h: float, hours: int) -> float:
    """The offset moved by `hours`, brought into the policy's range -12..14."""
    value = utc_offset_h + hours
    while value > 14.0:
        value -= 24.0
    while value < -12.0:
        value += 24.0
    return value


def _wrap(hours: float) -> float:
    """Hours into -12..12."""
    return (hours + 12.0) % 24.0 - 12.0
