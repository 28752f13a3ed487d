"""A household's learned routine, and the wellness-check deadline it gives (numba, pure).

Every household row (detectors.state) carries, after its first 64 columns, the routine below.
It is learned online from the silences between activities, nothing else:

- A silence that began with a front-door event and ended with one is an *absence*; the latest
  clock time the resident came back is kept per (day type, hour it began) (`R_A`), and the
  longest absence over a night per 3-hour slot of the week it began in (`R_AW`), with the latest
  clock time of the week one came back (`R_AR`).
- A silence that began with a front-door event that was no coming back in, and ended with
  motion, teaches nothing: the resident opened the door and stayed (the post, a visitor leaving),
  or went out while someone stayed in. The motion is taken as someone at home: who comes in or
  goes out opens the front door, which starts an absence again.
- Any other silence was spent *at home*. Per (day type, hour it began) the longest one (`R_G`,
  rests and going back to bed apart: they are the night's) and how many there were (`R_NG`),
  the latest clock time it ended (`R_E`, offset from the hour's start) and how many lasted a
  rest's length (`R_NL`) are kept.
  Silences of an hour or more joined by trips (activity of at most 30 min) are one rest once
  they span REST_S, though none lasts that long (a night broken by toilet trips); such a
  silence counts in `R_G` only once its chain ended without a rest (`R_PEND`). An hour
  where rests begin is part of the sleep window, and the latest end of those rests is the
  latest usual first activity of the day. Activity after a rest followed by more rest is a
  trip (toilet) only well before this day type's usual end of rests: an early riser's first
  activity followed by a quiet breakfast is getting up. Where the sensors see much, a trip
  is up to 30 min of activity however many short silences apart (getting up is sustained
  activity); in a sparse home only activity within 30 min of the rest's end. A trip after 7 h
  of rest in a day type's first week of nights gives a provisional end (`R_PROV`): it may
  have been getting up.
- Day type is the local date of t + 6 h (so Friday evening already counts as weekend and Sunday
  evening as a weekday night), and hours are counted from 18:00 so a night is contiguous.

Every figure is a maximum over two 14-day buckets (the current one and the one before): the last
14 to 28 days, so the model follows a change within about two weeks while one odd day is
forgotten after four. Until `routine_learn_days` of history exist, the checks use conservative
priors (sleep may last until `routine_prior_wake_h`, or 10 h after a night out; silences by
day up to the ceiling; a habit of absences no sooner than by night), and the daytime limit
comes down from the ceiling to the learned one over as many days again.

The deadline of a silence (`routine_deadline`) is one of four checks (codes.R_NOT_UP, ...):
not up (a silence in the learned sleep window lasts past the latest usual first activity plus
a margin), silent at home (a daytime silence longer than this home's longest about that hour, from
at least POOL_N silences where the hours nearest hold them, bounded by what this home's sensor
density allows: switches see nobody who sits), out and not back (after the door, no return by the
latest usual return plus a margin, or by night when that absence is not a habit) and the
absolute ceiling. The slow plain-Python reference is bench/naive_routine.py.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from detectors.codes import R_MAX_SILENCE, R_NOT_UP, R_OUT_NOT_BACK, R_SILENT_HOME
from detectors.params import (
    P_AWAY_MAX_S,
    P_INACTIVITY_MAX_SILENCE_S,
    P_INACTIVITY_MIN_SILENCE_S,
    P_INFER_AWAY,
    P_ROUTINE_BUCKET_DAYS,
    P_ROUTINE_CAP_DENSE_S,
    P_ROUTINE_CAP_SPARSE_S,
    P_ROUTINE_DENSE_PER_DAY,
    P_ROUTINE_FLOOR_SPARSE_S,
    P_ROUTINE_GAP_FACTOR,
    P_ROUTINE_GAP_MARGIN_S,
    P_ROUTINE_LEARN_DAYS,
    P_ROUTINE_NIGHT_H,
    P_ROUTINE_OUT_FLOOR_S,
    P_ROUTINE_OUT_MARGIN_S,
    P_ROUTINE_PRIOR_BED_H,
    P_ROUTINE_PRIOR_WAKE_H,
    P_ROUTINE_REST_MARGIN_S,
    P_UTC_OFFSET_H,
)
from detectors.routine_columns import (
    R_A,
    R_ACT,
    R_AR,
    R_ARRIVED,
    R_AW,
    R_AWAKE,
    R_BED,
    R_CHAIN,
    R_E,
    R_EPOCH,
    R_FIRST,
    R_G,
    R_NA,
    R_NG,
    R_NIGHTS,
    R_NL,
    R_OUT_FROM,
    R_PEND,
    R_PER,
    R_PREV_END,
    R_PREV_START,
    R_PROV,
    R_REST_END,
    R_REST_START,
    R_WAKE,
    R_WHY_CAP,
    R_WHY_LIMIT,
    R_WHY_REF,
    R_WHY_USUAL,
    SLOTS,
    WEEK_BINS,
)

REST_S = 3.0 * 3600.0  # a silence at home this long is a rest (sleep), not a pause
LEARN_GAP_S = 600.0  # silences shorter than this teach nothing about long ones
TRIP_S = 1800.0  # activity this short between two silences of a rest is a trip (toilet, water)
RESUME_S = 3600.0  # a silence this long right after a rest continues it...
WAKE_GUARD_S = 1800.0  # ...when the activity before it came this long before the usual wake
SPARSE_GUARD_S = 3600.0  # (an hour in a sparse home: getting up may show as one event)
NEAR_WAKE_S = 4500.0  # this close before the usual wake, a trip is a short one:
SHORT_TRIP_S = 600.0  # the silence after it begins this soon after the rest's end
NIGHT_WAKE_S = 7200.0  # a wakeful spell in the night (trips and short silences) lasts this long
ABSENCE_MIN_S = 900.0
# "By night" waits for a late home's bedtime (+ 1 h) by at most this past routine_night_h: an
# evening out that is no habit is checked by 23:00 however late the resident goes to bed at home
# (a collapse at 19:00 after an unlabelled outing was checked at 03:00, 8 h on).
NIGHT_LATE_S = 3600.0
OVERNIGHT_S = 12.0 * 3600.0  # absences this long (a weekend away) are kept by day of the week
# The longest return of two absences is outdone by the next one time in three: three at least.
HABIT_N = 3.0  # absences begun about then, and on at least HABIT_SHARE of the days of this
HABIT_SHARE = 0.5  # day type, before an absence is a habit (errands at random hours are not)
ABSENCE_LOOKBACK = 3  # hours: who leaves later than usual is back no earlier
REST_LOOKBACK = 12  # hours before a silence's start whose rests may still be going on
POOL_H = 2  # daytime silences are judged against those begun within 2 h either side, or
POOL_MAX_H = 6  # up to 6 h either side until POOL_N were seen: the next silence outdoes the
POOL_N = 10.0  # longest of n with chance 1 / (n + 1), under 1 in 11 from POOL_N on
BLIND_N = 2  # silences at home over the dense cap about an hour: the PIRs are blind then
REST_HABIT_N = 2.0  # rests begun about an hour before this home rests then (one evening is not)
REST_AHEAD_S = 3600.0  # a silence this close before a usual bedtime is going to bed
REST_BEDTIME_AHEAD = 6  # hours: at a usual bedtime, rests begun this much later count too
REST_FROM_H = 19.0  # rests begin between 19:00 and 12:00 local (incl. night-shift sleepers)
REST_TO_H = 12.0
DAY_FROM_H = 9.0  # a silence begun by day (09:00-20:00) is checked within the daytime cap...
DAY_TO_H = 20.0  # ...unless this home habitually rests then
SHIFT_S = 6.0 * 3600.0  # hours are counted from 18:00 (local clock + 6 h)
WEEK_S = 7 * 86400.0
EPOCH_MONDAY_S = 3 * 86400.0  # 1970-01-01 was a Thursday, day 3 of a week from Monday
SMOOTH = 0.15  # weight of a new night in the smoothed wake / bed times
NIGHT_MOVE_S = 1.5 * 3600.0  # a night moves the usual wake as if it ended at most this far off
SPREAD_MAX_S = 1200.0  # the weekdays' spread moves the weekend's latest wake this much at most
BEDTIME_HOURS = 9  # sleep begins by 03:00 (published: 21:30 to 02:30)
ARRIVAL_S = 180.0  # door events this soon after coming back are the same arrival: at home
NIGHT_OUT_H = 3.0  # an absence over 03:00 local was a night out (every published sleep has it)
EVENING_H = 18.0  # ...and begun before 18:00, a day out that became one
BED_AFTER_S = 3.0 * 3600.0  # after a night out, a sleep begun this soon after coming home...
SLEEP_MAX_S = 10.0 * 3600.0  # ...may last the longest published sleep while learning
SLEEP_MIN_S = 7.0 * 3600.0  # the shortest published sleep: a trip after it may be getting up


@njit(cache=True, inline="always")
def local_s(t, params, hp):
    """Local clock time of t as epoch seconds (the household's utc_offset_h)."""
    return t + params[hp, P_UTC_OFFSET_H] * 3600.0


@njit(cache=True, inline="always")
def week_hour(t, params, hp):
    """Local (day of week Monday=0) * 24 + hour."""
    x = local_s(t, params, hp) + EPOCH_MONDAY_S
    return int(np.floor((x % WEEK_S) / 3600.0))


@njit(cache=True)
def slot_of(t, params, hp):
    """(slot, start of the slot as epoch s): day type * 24 + hours since 18:00."""
    x = local_s(t, params, hp) + SHIFT_S
    day = np.floor(x / 86400.0)
    weekend = 1 if (int(day) + 3) % 7 >= 5 else 0  # day 0 (1970-01-01) was a Thursday
    hour = int(np.floor((x - day * 86400.0) / 3600.0))
    start = day * 86400.0 + hour * 3600.0 - SHIFT_S - params[hp, P_UTC_OFFSET_H] * 3600.0
    return weekend * 24 + hour, start


@njit(cache=True)
def week_bin_of(t, params, hp):
    """(3-hour bin of the week, start of the bin as epoch s)."""
    x = local_s(t, params, hp) + EPOCH_MONDAY_S
    k = np.floor(x / 10800.0)
    return int(k) % WEEK_BINS, k * 10800.0 - EPOCH_MONDAY_S - params[hp, P_UTC_OFFSET_H] * 3600.0


@njit(cache=True)
def routine_start(hh_f, h, t):
    """The household's first activity: learning starts now."""
    hh_f[h, R_FIRST] = t
    hh_f[h, R_EPOCH] = t


@njit(cache=True)
def _rotate(hh_f, params, h, hp, t):
    """Start a new 14-day bucket when the current one is full (both when 28 days passed)."""
    span = params[hp, P_ROUTINE_BUCKET_DAYS] * 86400.0
    if not t - hh_f[h, R_EPOCH] >= span:
        return
    keep = t - hh_f[h, R_EPOCH] < 2.0 * span
    for base, n in (
        (R_G, SLOTS),
        (R_NG, SLOTS),
        (R_E, SLOTS),
        (R_NL, SLOTS),
        (R_A, SLOTS),
        (R_NA, SLOTS),
        (R_AW, WEEK_BINS),
        (R_AR, WEEK_BINS),
        (R_PROV, 2),
    ):
        for j in range(n):
            hh_f[h, base + n + j] = hh_f[h, base + j] if keep else 0.0
            hh_f[h, base + j] = 0.0
    hh_f[h, R_PER + 1] = hh_f[h, R_PER] if keep else 0.0
    hh_f[h, R_PER] = 0.0
    for j in range(7 * 24):
        hh_f[h, R_ACT + j] *= 0.5
    hh_f[h, R_EPOCH] = t


@njit(cache=True)
def routine_learn(hh_f, params, h, hp, last, t, from_door, to_door):
    """Fold the silence last..t (it began with a door event if from_door) into the routine."""
    if np.isnan(hh_f[h, R_FIRST]):  # a row from before the routine existed: learning starts
        routine_start(hh_f, h, last)
    _rotate(hh_f, params, h, hp, t)
    gap = t - last
    awake = _awake(hh_f, h, last)
    if from_door and to_door and gap >= ABSENCE_MIN_S:
        hh_f[h, R_ARRIVED] = t
        hh_f[h, R_OUT_FROM] = last
        hh_f[h, R_CHAIN] = np.nan
        slot, start = slot_of(last, params, hp)
        hour = (local_s(last, params, hp) % 86400.0) / 3600.0
        if not (NIGHT_OUT_H <= hour < EVENING_H and _last_night(t, params, hp) >= last):
            # A day out that became a night out is no day's absence: its return (the next
            # morning) would put the check of this hour's habit a day late for four weeks (it
            # is kept by day of the week). Out from the evening over the night (a night
            # shift) may be a daily habit.
            hh_f[h, R_A + slot] = max(hh_f[h, R_A + slot], t - start)
        hh_f[h, R_NA + slot] += 1.0
        _flush(hh_f, params, h, hp)
        if gap >= OVERNIGHT_S:
            # A weekend away lasts about as long each time, or ends about the same clock time
            # (Sunday evening) however late it began: both are kept.
            b, bstart = week_bin_of(last, params, hp)
            hh_f[h, R_AW + b] = max(hh_f[h, R_AW + b], gap)
            hh_f[h, R_AR + b] = max(hh_f[h, R_AR + b], t - bstart)
        return
    if from_door and not last - hh_f[h, R_ARRIVED] <= ARRIVAL_S:
        # After the door and not coming back in: out for a while, or in all along (the post, a
        # visitor leaving). Nothing to learn from it.
        hh_f[h, R_CHAIN] = np.nan
        _flush(hh_f, params, h, hp)
        hh_f[h, R_PREV_START] = last
        hh_f[h, R_PREV_END] = t
        hh_f[h, R_AWAKE] = awake
        return
    slot, start = slot_of(last, params, hp)
    hh_f[h, R_E + slot] = max(hh_f[h, R_E + slot], t - start)
    chain = _chain(hh_f, h, last, gap)
    resume = gap >= RESUME_S and in_rest(hh_f, params, h, hp, last)
    # A sleep broken by toilet trips into silences shorter than a rest is one rest all the
    # same, once its silences (each an hour or more, joined by trips) span REST_S.
    joined = (
        gap >= RESUME_S
        and t - chain >= REST_S
        and _rest_hour(chain, params, hp)
        and chain != hh_f[h, R_REST_START]
    )
    new_rest = not resume and ((gap >= REST_S and _rest_hour(last, params, hp)) or joined)
    if chain == last:  # no chain goes on: what was pending was a silence by day
        _flush(hh_f, params, h, hp)
    if resume or new_rest:
        hh_f[h, R_PEND] = np.nan  # rests (and the chain's silences): the night's figures
        hh_f[h, R_PEND + 1] = 0.0
    elif gap >= RESUME_S and _rest_hour(chain, params, hp):
        # It may yet be joined into a rest (the first silence of a night broken by a trip):
        # judged when its chain ends.
        if gap > hh_f[h, R_PEND + 1]:
            hh_f[h, R_PEND] = last
            hh_f[h, R_PEND + 1] = gap
    else:
        _learn_day(hh_f, h, slot, gap)
    if resume:
        # Back to bed after a short trip: the rest goes on, and ends later than it seemed.
        rs, rstart = slot_of(hh_f[h, R_REST_START], params, hp)
        if _provisional(hh_f, params, h, hp, rs // 24):
            night = t - (rstart - (rs % 24) * 3600.0)  # s after 18:00
            hh_f[h, R_PROV + rs // 24] = max(hh_f[h, R_PROV + rs // 24], night)
        else:
            hh_f[h, R_E + rs] = max(hh_f[h, R_E + rs], t - rstart)
        hh_f[h, R_REST_END] = t
    elif new_rest:
        _wake_learned(hh_f, params, h, hp)
        # In bed, up now and then, back to bed: the rest began where those silences began.
        begin = chain if _rest_hour(chain, params, hp) else last
        rs, rstart = slot_of(begin, params, hp)
        hh_f[h, R_NL + rs] += 1.0
        hh_f[h, R_NIGHTS + rs // 24] += 1.0
        hh_f[h, R_E + rs] = max(hh_f[h, R_E + rs], t - rstart)
        hh_f[h, R_REST_START] = begin
        hh_f[h, R_REST_END] = t
    hh_f[h, R_AWAKE] = 0.0 if resume or new_rest else awake
    hh_f[h, R_PREV_START] = last
    hh_f[h, R_PREV_END] = t


@njit(cache=True)
def _provisional(hh_f, params, h, hp, d):
    """Is the end of the rest going on, continued by a trip now, provisional (R_PROV, not R_E)?
    The trip came after SLEEP_MIN_S of rest (a short activity then quiet is as likely getting
    up to a quiet breakfast as a toilet trip), before day type d had routine_learn_days rests
    (its usual wake, which judges trips, still mostly its first night's). The rest goes on all
    the same (a late sleeper's first weekends are not checked at their toilet trips), but that
    end is the day type's latest usual first activity in full only until then, and after it
    at most SPREAD_MAX_S past the latest of its other rests: a switches-only home's first
    night of 21:19-07:09, up 2 min, then quiet until 08:28, held the not-up check at 09:08 for
    four weeks, 1.98 h after the latest real first activity (07:09)."""
    rested = hh_f[h, R_REST_END] - hh_f[h, R_REST_START]
    return rested >= SLEEP_MIN_S and hh_f[h, R_NIGHTS + d] < params[hp, P_ROUTINE_LEARN_DAYS]


@njit(cache=True, inline="always")
def _learn_day(hh_f, h, slot, gap):
    """One more silence at home begun in `slot`: the longest, and how many."""
    hh_f[h, R_G + slot] = max(hh_f[h, R_G + slot], gap)
    hh_f[h, R_NG + slot] += 1.0


@njit(cache=True)
def _flush(hh_f, params, h, hp):
    """The chain ended without a rest: its longest silence was one at home after all."""
    if not np.isnan(hh_f[h, R_PEND]):
        slot, _ = slot_of(hh_f[h, R_PEND], params, hp)
        _learn_day(hh_f, h, slot, hh_f[h, R_PEND + 1])
    hh_f[h, R_PEND] = np.nan
    hh_f[h, R_PEND + 1] = 0.0


@njit(cache=True)
def _chain(hh_f, h, last, gap):
    """Start of the silences of RESUME_S or more joined by trips (activity of at most TRIP_S)
    that the silence from `last` (of length gap) ends; kept in R_CHAIN, NaN after a shorter
    one. A chain over OVERNIGHT_S long is no night's sleep: it starts again."""
    if gap < RESUME_S:
        hh_f[h, R_CHAIN] = np.nan
        return last
    before, end = hh_f[h, R_PREV_START], hh_f[h, R_PREV_END]
    chain = hh_f[h, R_CHAIN]
    linked = last - end <= TRIP_S and end - before >= RESUME_S and last - chain <= OVERNIGHT_S
    if not linked:  # (NaN compares False: no chain)
        chain = last
    hh_f[h, R_CHAIN] = chain
    return chain


@njit(cache=True)
def _wake_learned(hh_f, params, h, hp):
    """A new rest begins: the previous one is over, its end was that day's first activity.

    The usual wake moves as if that end were at most NIGHT_MOVE_S from it (published sleep
    ends move by up to 1.5 h from night to night): one odd rest (11:00-16:00, a PIR gone
    quiet) pulled it 1.4 h later, and the not-up check, never before the usual wake, came
    1.14 h after the latest usual first activity.
    """
    begin, end = hh_f[h, R_REST_START], hh_f[h, R_REST_END]
    if np.isnan(begin):
        return
    slot, start = slot_of(begin, params, hp)
    d = slot // 24
    base = start - (slot % 24) * 3600.0  # 18:00 before the rest began
    wake, bed = end - base, begin - base
    if np.isnan(hh_f[h, R_WAKE + d]):
        hh_f[h, R_WAKE + d], hh_f[h, R_BED + d] = wake, bed
    else:
        step = min(max(wake - hh_f[h, R_WAKE + d], -NIGHT_MOVE_S), NIGHT_MOVE_S)
        hh_f[h, R_WAKE + d] += SMOOTH * step
        hh_f[h, R_BED + d] += SMOOTH * (bed - hh_f[h, R_BED + d])


@njit(cache=True, inline="always")
def _awake(hh_f, h, last):
    """Activity (time outside silences of LEARN_GAP_S or more) since the latest rest's end,
    up to `last`; NaN before any rest."""
    return hh_f[h, R_AWAKE] + (last - hh_f[h, R_PREV_END])


@njit(cache=True)
def in_rest(hh_f, params, h, hp, last):
    """Is a silence from `last` back to bed? The activity since the rest's end was a trip,
    and that end came well before the usual end of this day type's rests (an early riser's
    first activity followed by a quiet breakfast is no trip).

    Where the sensors see much (learning or not), getting up shows as sustained activity: a
    trip is at most TRIP_S of activity since the rest's end, however many silences apart it
    (a toilet trip, a stray event, another trip), up to NIGHT_WAKE_S after that end. Cut
    short at the first of those silences, the night's rest ended too early and the usual
    wake learned from it kept the next nights' rests short. In a sparse home short silences
    are the daytime's rhythm: only activity right after the rest (within TRIP_S) is a trip.

    Within NEAR_WAKE_S before the usual wake, a trip is a short one (the silence after it
    begins within SHORT_TRIP_S of the rest's end), and none within SPARSE_GUARD_S in a sparse
    home: an early riser's first minutes of activity and a quiet hour after them were read as
    going back to bed, and the night's rest ended at the quiet hour's end (up to 1.6 h past
    the first activity); the latest usual first activity learned from it then held the not-up
    check that much later for four weeks. On a day type's first night (no usual wake known yet)
    any trip is back to bed, but not once the rest lasted SLEEP_MAX_S: a switches-only home's
    first weekend morning, up at 08:13 and quiet from 08:22 to 09:28, was learned as a rest
    until 09:28, and a night two weeks later was checked 2 h past the latest usual first
    activity.
    """
    since = last - hh_f[h, R_REST_END]
    if dense_home(hh_f, params, h, hp, last):
        trip = _awake(hh_f, h, last) <= TRIP_S and since <= NIGHT_WAKE_S
        guard = WAKE_GUARD_S
    else:
        trip = since <= TRIP_S
        guard = SPARSE_GUARD_S
    if not trip:
        return False
    slot, start = slot_of(hh_f[h, R_REST_START], params, hp)
    ahead = start - (slot % 24) * 3600.0 + hh_f[h, R_WAKE + slot // 24] - hh_f[h, R_REST_END]
    if ahead < NEAR_WAKE_S and since > SHORT_TRIP_S:
        return False  # (NaN while the usual wake is unknown: the guard below decides)
    if np.isnan(ahead) and not last - hh_f[h, R_REST_START] < SLEEP_MAX_S:
        return False  # this day type's first night: a rest lasts the longest published sleep
    return not ahead <= guard


@njit(cache=True, inline="always")
def count_period(hh_f, params, h, hp, t):
    """One more active period (at most one per inactivity_active_period_s)."""
    hh_f[h, R_PER] += 1.0
    hh_f[h, R_ACT + week_hour(t, params, hp)] += 1.0


@njit(cache=True)
def _rest_hour(t, params, hp):
    hour = (local_s(t, params, hp) % 86400.0) / 3600.0
    return hour >= REST_FROM_H or hour < REST_TO_H


@njit(cache=True)
def _learning(hh_f, params, h, hp, t):
    return not t - hh_f[h, R_FIRST] >= params[hp, P_ROUTINE_LEARN_DAYS] * 86400.0


@njit(cache=True)
def day_cap(hh_f, params, h, hp, t):
    """The longest daytime silence at home allowed: shorter where the sensors see much, unless
    by day about this hour they were blind to the resident again and again (`blind_about`)."""
    if _learning(hh_f, params, h, hp, t) or not dense_home(hh_f, params, h, hp, t):
        return params[hp, P_ROUTINE_CAP_SPARSE_S]
    dense = params[hp, P_ROUTINE_CAP_DENSE_S]
    hour = (local_s(t, params, hp) % 86400.0) / 3600.0
    if DAY_FROM_H <= hour < DAY_TO_H and blind_about(hh_f[h], slot_of(t, params, hp)[0], dense):
        return params[hp, P_ROUTINE_CAP_SPARSE_S]
    return dense


@njit(cache=True)
def blind_about(row, slot, cap):
    """Were silences at home longer than `cap` seen about `slot`'s hour at least BLIND_N times?

    Counted as cells (hour begun within POOL_H and by day, day type, 14-day bucket) whose
    longest outdoes the cap, so one odd afternoon is not enough (nor a restless sleeper's long
    spells in bed before 09:00). A home whose PIRs see the kitchen, bathroom and hall but not
    the armchair sits before the television unseen for 3-4 h: by the dense cap (2 h 55 min,
    the target of a PIR home) it was checked every such afternoon, while those sensors see no
    more of the resident then than switches do."""
    hour = slot % 24
    cells = 0
    for k in range(-POOL_H, POOL_H + 1):
        hr = hour + k
        if 0 <= hr <= 23 and DAY_FROM_H <= (hr + 18) % 24 < DAY_TO_H:  # (hours from 18:00)
            for d in range(2):
                j = d * 24 + hr
                cells += (row[R_G + j] > cap) + (row[R_G + SLOTS + j] > cap)
    return cells >= BLIND_N


@njit(cache=True)
def dense_home(hh_f, params, h, hp, t):
    """Do this home's sensors see much (routine_dense_per_day active periods a day or more)?"""
    days = _days_in_memory(hh_f, params, h, hp, t)
    per_day = (hh_f[h, R_PER] + hh_f[h, R_PER + 1]) / max(days, 1.0)
    return per_day >= params[hp, P_ROUTINE_DENSE_PER_DAY]


@njit(cache=True)
def _env(row, base, n, j):
    """A figure over both buckets (the last 14 to 28 days)."""
    return max(row[base + j], row[base + n + j])


@njit(cache=True)
def _rest_chain(row, d, hour, start, last):
    """(latest end, rests seen) of day type d's rests going on at `last`: rests begun up to
    REST_LOOKBACK hours before (or within REST_AHEAD_S after it: going to bed)."""
    best = -np.inf
    seen = 0.0
    # At a usual bedtime, every rest of the night counts: whoever goes to bed early is not
    # up any earlier for it.
    # A silence begun within the hour before a usual bedtime is going to bed as well.
    bedtime = False
    for k in range(-1, 2):
        if 0 <= hour - k <= 23:
            j = d * 24 + hour - k
            bedtime = bedtime or row[R_NL + j] + row[R_NL + SLOTS + j] >= 1.0
    ahead = REST_BEDTIME_AHEAD if bedtime else 1
    for k in range(-ahead, REST_LOOKBACK + 1):
        hr = hour - k
        if hr < 0 or hr > 23:
            continue
        s0 = start - k * 3600.0
        if k == -1 and not bedtime and s0 > last + REST_AHEAD_S:
            continue
        j = d * 24 + hr
        n = row[R_NL + j] + row[R_NL + SLOTS + j]
        seen += n
        if n >= 1.0:
            best = max(best, s0 + _env(row, R_E, SLOTS, j))
    return best, seen


@njit(cache=True)
def _with_provisional(row, params, hp, d, base, best):
    """The latest end `best` of day type d's rests going on (-inf: none), raised to its
    provisional one (base: 18:00 of the night): in full while d has had few rests, then by
    SPREAD_MAX_S at most (a late sleeper's real 11:12 in the first week, unconfirmed, still
    covers a weekend morning up at 11:55 with the weekdays' spread)."""
    prov = _env(row, R_PROV, 2, d)
    if best > -np.inf and prov > 0.0:
        if row[R_NIGHTS + d] < params[hp, P_ROUTINE_LEARN_DAYS]:
            best = max(best, base + prov)
        else:
            best = max(best, min(base + prov, best + SPREAD_MAX_S))
    return best


@njit(cache=True)
def rest_end(hh_f, params, h, hp, last):
    """Latest usual end of a rest going on at `last` (or about to begin); -inf when none.

    This day type's rests, before it has any those of both day types; while learning, the
    prior sleep window too. The few weekend nights (or a day type's first few, under 3) show
    less of the spread than the many of the other: the other day type's lead of its latest end
    over its usual end counts from this day type's usual end too, up to SPREAD_MAX_S past this
    day type's own latest. (Before, under 3 rests took the other's latest whole: a weekend-away
    home's two weekend nights in memory were checked 41 min past their own latest + margin.)
    The latest end is never before the usual (smoothed) end of this day type's rests: rests
    begun about the hour of `last` may all have ended early (a switches-only home quiet from
    20:31 was checked at 07:38 after the 06:58 of those, its usual wake being 07:35).
    """
    slot, start = slot_of(last, params, hp)
    d, hour = slot // 24, slot % 24
    row = hh_f[h]
    best, seen = _rest_chain(row, d, hour, start, last)
    other, _ = _rest_chain(row, 1 - d, hour, start, last)
    best = _with_provisional(row, params, hp, d, start - hour * 3600.0, best)
    other = _with_provisional(row, params, hp, 1 - d, start - hour * 3600.0, other)
    if seen < 1.0:
        best = max(best, other)
    elif d == 1 or seen < 3.0:
        spread = other - row[R_WAKE + 1 - d] + row[R_WAKE + d]
        if spread > best:  # (NaN while a usual end is unknown)
            best = min(spread, best + SPREAD_MAX_S)
    usual = usual_wake(hh_f, params, h, hp, last)
    if best > -np.inf and usual > max(best, last):  # (NaN while unknown: False)
        best = usual  # a night's latest end is no earlier than its usual one
    if _learning(hh_f, params, h, hp, last):
        x = local_s(last, params, hp)
        hour_now = (x % 86400.0) / 3600.0
        bed = params[hp, P_ROUTINE_PRIOR_BED_H]
        wake = params[hp, P_ROUTINE_PRIOR_WAKE_H]
        if hour_now >= bed - REST_AHEAD_S / 3600.0 or hour_now < wake:
            day0 = last - (x % 86400.0)
            end = day0 + wake * 3600.0
            best = max(best, end if end > last else end + 86400.0)
    return best


@njit(cache=True)
def usual_wake(hh_f, params, h, hp, last):
    """Smoothed end of this day type's rests as epoch s after `last`'s night; NaN if unknown."""
    slot, start = slot_of(last, params, hp)
    base = start - (slot % 24) * 3600.0
    return base + hh_f[h, R_WAKE + slot // 24]


@njit(cache=True)
def latest_return(hh_f, params, h, hp, last):
    """(latest usual return, of an absence over a night) for an absence begun at `last`;
    -inf when that is no habit. Habits of the day: absences begun in the same hour of the same
    day type, the hour after or up to ABSENCE_LOOKBACK hours earlier, on most days. Over a night:
    of the absences of 12 h or more begun from 12 h before to 3 h after in the week (a weekend
    away), the later of the longest counted from `last` and the latest clock time of the week
    one came back (a weekend away begun later than usual may still end on Sunday evening)."""
    row = hh_f[h]
    slot, start = slot_of(last, params, hp)
    d, hour = slot // 24, slot % 24
    day = -np.inf
    n = 0.0
    for k in range(-1, ABSENCE_LOOKBACK + 1):
        if hour - k < 0:
            break
        if hour - k > 23:
            continue
        j = d * 24 + hour - k
        n += row[R_NA + j] + row[R_NA + SLOTS + j]
        off = _env(row, R_A, SLOTS, j)
        if off > 0.0:
            day = max(day, start - k * 3600.0 + off)
    share = 5.0 / 7.0 if d == 0 else 2.0 / 7.0
    if n < max(HABIT_N, HABIT_SHARE * share * _days_in_memory(hh_f, params, h, hp, last)):
        day = -np.inf
    b, bstart = week_bin_of(last, params, hp)
    night = -np.inf
    for k in range(-1, 5):
        j = (b - k) % WEEK_BINS
        length = _env(row, R_AW, WEEK_BINS, j)
        if length > 0.0:
            night = max(night, last + length)
        back = _env(row, R_AR, WEEK_BINS, j)
        if back > 0.0:
            night = max(night, bstart - k * 10800.0 + back)
    return day, night


@njit(cache=True)
def home_deadline(hh_f, params, h, hp, last):
    """(deadline, rule) of a silence at home that began at `last`: the later of the daytime
    limit and, in the sleep window, the latest usual first activity plus a margin."""
    cap = day_cap(hh_f, params, h, hp, last)
    x = local_s(last, params, hp) % 86400.0
    hour = x / 3600.0
    by_day = DAY_FROM_H <= hour < DAY_TO_H
    # At night the cap counts from the coming 09:00: a collapse then is a daytime one.
    until_day = 0.0 if by_day else (DAY_FROM_H * 3600.0 - x) % 86400.0
    hh_f[h, R_WHY_CAP] = cap + until_day
    day = last + _day_limit(hh_f, params, h, hp, last, cap, cap + until_day)
    margin = _rest_margin(hh_f, params, h, hp, last)
    end = rest_end(hh_f, params, h, hp, last) + margin
    slept_out = night_out_sleep(hh_f, params, h, hp, last)
    end = max(end, slept_out + margin)
    if not by_day or _rest_habit(hh_f, params, h, hp, last):
        pass  # at night, or by day in a home that sleeps then: the rest's end rules
    elif slept_out > last:
        pass  # by day after a night out: a sleep (a night-shift worker's first days)
    elif in_rest(hh_f, params, h, hp, last):
        # By day back to bed after a trip (a late sleeper): still within the sparse cap.
        end = min(end, last + max(cap, params[hp, P_ROUTINE_CAP_SPARSE_S]))
    elif end > last + cap:
        # By day a silence is a collapse within the cap, and is checked as a daytime silence:
        # a rest's end the cap cut short read "usually up by 07:00 (latest 20:43)" at 21:55
        # after an evening before the television.
        hh_f[h, R_WHY_LIMIT] = cap
        return last + cap, R_SILENT_HOME
    if end > day:
        hh_f[h, R_WHY_REF] = end - margin
        hh_f[h, R_WHY_USUAL] = usual_wake(hh_f, params, h, hp, last)
        hh_f[h, R_WHY_LIMIT] = np.nan
        return end, R_NOT_UP
    return day, R_SILENT_HOME


@njit(cache=True)
def _rest_margin(hh_f, params, h, hp, last):
    """The not-up margin: routine_rest_margin_s, twice that just after learning and back down
    to it over as many days again. The latest of a week's mornings falls short of a month's
    (late sleepers were checked at 10:59 and 07:26 on days 7-9 after a latest of 10:18 and
    06:46); the daytime limit comes down from the cap the same way."""
    margin = params[hp, P_ROUTINE_REST_MARGIN_S]
    learn = params[hp, P_ROUTINE_LEARN_DAYS] * 86400.0
    young = 1.0 - (last - hh_f[h, R_FIRST] - learn) / learn
    if 0.0 < young <= 1.0:
        margin += margin * young
    return margin


@njit(cache=True)
def night_out_sleep(hh_f, params, h, hp, last):
    """While learning, the latest end of a sleep after a night out; -inf if none.

    Who came home from an absence over NIGHT_OUT_H (a night shift, a night away) by REST_TO_H
    and went quiet within BED_AFTER_S is asleep, whatever the clock: the sleep (begun at the
    rest or the chain of silences begun since, else at `last`) may last SLEEP_MAX_S. Once
    learned, this home's rests rule. Home later in the day (a weekend away ends on Sunday
    evening) is no sleep's start: a recorded resident back at 19:37 on his first week's Sunday
    and quiet 9 min on was taken for asleep, a collapse then checked *not up* 15.2 h on.
    """
    arrived, left = hh_f[h, R_ARRIVED], hh_f[h, R_OUT_FROM]
    learning = _learning(hh_f, params, h, hp, last)
    if not learning or not arrived - left <= params[hp, P_AWAY_MAX_S]:
        return -np.inf  # (NaN: no return yet)
    night = _last_night(arrived, params, hp)
    begin = last
    if last - hh_f[h, R_PREV_END] <= TRIP_S and hh_f[h, R_CHAIN] >= arrived:
        begin = hh_f[h, R_CHAIN]  # in bed since, up now and then
    if hh_f[h, R_REST_START] >= arrived:
        begin = min(begin, hh_f[h, R_REST_START])
    late = arrived - night > (REST_TO_H - NIGHT_OUT_H) * 3600.0  # home after 12:00
    if night < left or late or not begin - arrived <= BED_AFTER_S:
        return -np.inf
    return begin + SLEEP_MAX_S


@njit(cache=True)
def _last_night(t, params, hp):
    """The last NIGHT_OUT_H (03:00 local) at or before t: an absence over it was a night out."""
    x = local_s(t, params, hp)
    night = t - (x % 86400.0) + NIGHT_OUT_H * 3600.0
    return night - 86400.0 if night > t else night


@njit(cache=True)
def _rest_habit(hh_f, params, h, hp, last):
    """Does this home usually rest at this time of day (a night-shift worker by day)? Rests
    begun in the 6 hours before, on at least a third of the days in memory, REST_HABIT_N at
    least: on its third day a recorded home's one evening of 3 h before the television (from
    19:53) made the next day's silence from 19:47 a night's, checked *not up* 14.4 h on."""
    slot, _ = slot_of(last, params, hp)
    n = 0.0
    for k in range(7):
        hr = slot % 24 - k
        if hr >= 0:
            for d in range(2):
                j = d * 24 + hr
                n += hh_f[h, R_NL + j] + hh_f[h, R_NL + SLOTS + j]
    return n >= max(REST_HABIT_N, _days_in_memory(hh_f, params, h, hp, last) / 3.0)


@njit(cache=True)
def _days_in_memory(hh_f, params, h, hp, t):
    span = params[hp, P_ROUTINE_BUCKET_DAYS] * 86400.0
    return (t - hh_f[h, R_EPOCH] + (span if hh_f[h, R_PER + 1] > 0.0 else 0.0)) / 86400.0


@njit(cache=True)
def _day_pool(row, slot):
    """(longest, how many) of the silences at home begun within POOL_H hours of `slot`'s hour
    (both day types), widened an hour each side at a time while fewer than POOL_N were seen."""
    hour = slot % 24
    longest = 0.0
    n = 0.0
    for w in range(POOL_H, POOL_MAX_H + 1):
        for k in range(-w, w + 1):
            hr = hour + k
            if 0 <= hr <= 23 and (w == POOL_H or abs(k) == w):
                for d in range(2):
                    j = d * 24 + hr
                    longest = max(longest, _env(row, R_G, SLOTS, j))
                    n += row[R_NG + j] + row[R_NG + SLOTS + j]
        if n >= POOL_N:
            break
    return longest, n


@njit(cache=True)
def _day_limit(hh_f, params, h, hp, last, cap, bound):
    """The silence at home allowed from `last`, at most `bound` (sets the explanation's
    figures: how many silences were seen about this hour, the longest of them, the limit).

    By day the bound is the daytime cap; at night the cap counted from the coming 09:00, so
    the silences about that hour rule: a sleeper whose bedroom PIR sees her turn over now and
    then has no rest of 3 h, and her quiet spells in bed, capped like a day's, were checked at
    00:30-07:20 (generated homes with motion in bed: 0.40 -> 0.80 false checks per household
    per 30 d). A collapse at 09:00 after a silence begun at 08:50 is still raised in time.
    """
    floor = params[hp, P_INACTIVITY_MIN_SILENCE_S]
    if cap >= params[hp, P_ROUTINE_CAP_SPARSE_S]:
        floor = max(floor, params[hp, P_ROUTINE_FLOOR_SPARSE_S])  # switches see no one sit
    slot, _ = slot_of(last, params, hp)
    longest, n = _day_pool(hh_f[h], slot)
    limit = longest * params[hp, P_ROUTINE_GAP_FACTOR] + params[hp, P_ROUTINE_GAP_MARGIN_S]
    # While learning the cap; then, as long again, from the cap down to what was learned (a
    # week shows few of the long silences of a month).
    learn = params[hp, P_ROUTINE_LEARN_DAYS] * 86400.0
    prior = 1.0 - (last - hh_f[h, R_FIRST] - learn) / learn
    limit = max(limit, cap * min(prior, 1.0))
    limit = min(max(limit, floor), bound)
    hh_f[h, R_WHY_REF] = n
    hh_f[h, R_WHY_USUAL] = longest
    hh_f[h, R_WHY_LIMIT] = limit
    return limit


@njit(cache=True)
def latest_bedtime(hh_f, params, h, hp, night):
    """End of the latest hour (18:00-03:00, where sleep begins) rests of `night`'s day type
    begin in; -inf if none."""
    slot, start = slot_of(night, params, hp)
    d, hour = slot // 24, slot % 24
    base = start - hour * 3600.0  # 18:00
    for hr in range(BEDTIME_HOURS - 1, -1, -1):
        j = d * 24 + hr
        if hh_f[h, R_NL + j] + hh_f[h, R_NL + SLOTS + j] >= 1.0:
            return base + (hr + 1) * 3600.0
    return -np.inf


@njit(cache=True)
def out_deadline(hh_f, params, h, hp, last):
    """(deadline, rule) after a door event: by the latest usual return of this habit plus a
    margin, else back by night (routine_night_h, or an hour after this home's latest usual
    bedtime when that is later, by NIGHT_LATE_S at most); a weekend away may take longer."""
    floor = last + params[hp, P_ROUTINE_OUT_FLOOR_S]
    x = local_s(last, params, hp)
    night = last - (x % 86400.0) + params[hp, P_ROUTINE_NIGHT_H] * 3600.0
    if night < last - 6.0 * 3600.0:
        night += 86400.0  # left after midnight: by the next night
    late = latest_bedtime(hh_f, params, h, hp, night) + 3600.0
    night = max(night, min(late, night + NIGHT_LATE_S))
    deadline = max(night, floor)
    day, overnight = latest_return(hh_f, params, h, hp, last)
    margin = params[hp, P_ROUTINE_OUT_MARGIN_S]
    back = max(day, overnight)
    if day > last:
        # A daily habit: its own latest return rules; while learning (a few days seen) it
        # may only put the check later than by night.
        habit = max(day + margin, floor)
        deadline = max(deadline, habit) if _learning(hh_f, params, h, hp, last) else habit
    if overnight > last:
        deadline = max(deadline, overnight + margin)
    hh_f[h, R_WHY_REF] = back if back > last else np.nan
    hh_f[h, R_WHY_USUAL] = night
    hh_f[h, R_WHY_LIMIT] = np.nan
    return min(deadline, last + params[hp, P_AWAY_MAX_S]), R_OUT_NOT_BACK


@njit(cache=True)
def routine_deadline(hh_f, params, h, hp, last, after_door):
    """(deadline, rule) of the silence that began at `last`.

    After a door event the resident may be out or may just have come in: the later of the
    two deadlines holds, unless that door event ended an absence (then the resident is in).
    After motion, someone is at home: the front door was opened again or never. At home the
    absolute ceiling (inactivity_max_silence_s) always holds.
    """
    home, rule = home_deadline(hh_f, params, h, hp, last)
    if last - hh_f[h, R_ARRIVED] <= ARRIVAL_S:
        after_door = False  # the door was the resident coming back in
    ceiling = last + params[hp, P_INACTIVITY_MAX_SILENCE_S]
    if home >= ceiling:
        home, rule = ceiling, R_MAX_SILENCE
    if after_door and params[hp, P_INFER_AWAY] > 0.0:
        # After the door the resident may be out, and the later deadline holds.
        why = (hh_f[h, R_WHY_REF], hh_f[h, R_WHY_USUAL], hh_f[h, R_WHY_LIMIT])
        out, out_rule = out_deadline(hh_f, params, h, hp, last)
        if out > home:
            return out, out_rule
        hh_f[h, R_WHY_REF], hh_f[h, R_WHY_USUAL], hh_f[h, R_WHY_LIMIT] = why
    return home, rule
