"""Slow, plain-Python reference of detectors.routine: a household's routine in lists and dicts.

Spelt out for reading: what a silence teaches, and when the silence that follows becomes a
wellness check. bench/naive_detectors.py uses it; the kernels must agree with it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from detectors.codes import R_MAX_SILENCE, R_NOT_UP, R_OUT_NOT_BACK, R_SILENT_HOME

NAN = math.nan
DAY = 86400.0
REST_S = 3 * 3600.0
LEARN_GAP_S = 600.0
TRIP_S = 1800.0
RESUME_S = 3600.0
WAKE_GUARD_S = 1800.0
ABSENCE_MIN_S = 900.0
OVERNIGHT_S = 12 * 3600.0
NIGHT_WAKE_S = 2 * 3600.0


def _zeros(n: int) -> list[list[float]]:
    return [[0.0] * n, [0.0] * n]  # [current 14-day bucket, the one before]


@dataclass
class Routine:
    first: float = NAN
    epoch: float = NAN
    periods: list[float] = field(default_factory=lambda: [0.0, 0.0])
    wake: list[float] = field(default_factory=lambda: [NAN, NAN])
    bed: list[float] = field(default_factory=lambda: [NAN, NAN])
    rest: tuple[float, float] = (NAN, NAN)
    prev: tuple[float, float] = (NAN, NAN)
    longest: list[list[float]] = field(default_factory=lambda: _zeros(48))
    silences: list[list[float]] = field(default_factory=lambda: _zeros(48))  # how many, by slot
    ends: list[list[float]] = field(default_factory=lambda: _zeros(48))
    rests: list[list[float]] = field(default_factory=lambda: _zeros(48))
    returns: list[list[float]] = field(default_factory=lambda: _zeros(48))
    absences: list[list[float]] = field(default_factory=lambda: _zeros(48))
    trips: list[list[float]] = field(default_factory=lambda: _zeros(56))  # longest, by week bin
    trip_backs: list[list[float]] = field(default_factory=lambda: _zeros(56))  # latest return
    why: tuple[float, float, float, float] = (NAN, NAN, NAN, NAN)  # ref, usual, limit, cap
    arrived: float = NAN  # the last door event that ended an absence
    chain: float = NAN  # start of the hour-long silences joined by short trips up to now
    out_from: float = NAN  # start of the absence that the last return ended
    awake: float = NAN  # activity since the latest rest's end, up to the latest silence
    pending: tuple[float, float] = (NAN, 0.0)  # (start, length): a silence that may be a rest's
    provisional: list[list[float]] = field(default_factory=lambda: _zeros(2))  # by day type
    nights: list[float] = field(default_factory=lambda: [0.0, 0.0])  # rests ever, by day type


def _slot(t: float, f: Mapping[str, float]) -> tuple[int, float]:
    """Day type (weekend of the local date of t + 6 h) * 24 + hours since 18:00, and start."""
    off = f["utc_offset_h"] * 3600.0
    x = t + off + 6 * 3600.0
    day = math.floor(x / DAY)
    hour = math.floor((x - day * DAY) / 3600.0)
    weekend = (day + 3) % 7 >= 5
    return (24 if weekend else 0) + hour, day * DAY + hour * 3600.0 - 6 * 3600.0 - off


def _week_bin(t: float, f: Mapping[str, float]) -> tuple[int, float]:
    off = f["utc_offset_h"] * 3600.0
    k = math.floor((t + off + 3 * DAY) / 10800.0)
    return int(k) % 56, k * 10800.0 - 3 * DAY - off


def _local_hour(t: float, f: Mapping[str, float]) -> float:
    return ((t + f["utc_offset_h"] * 3600.0) % DAY) / 3600.0


def _both(table: list[list[float]], j: int) -> float:
    return max(table[0][j], table[1][j])


def _count(table: list[list[float]], j: int) -> float:
    return table[0][j] + table[1][j]


def start(r: Routine, t: float) -> None:
    r.first = r.epoch = t


def count_period(r: Routine, t: float, f: Mapping[str, float]) -> None:
    r.periods[0] += 1.0


def _rotate(r: Routine, t: float, f: Mapping[str, float]) -> None:
    span = f["routine_bucket_days"] * DAY
    if not t - r.epoch >= span:
        return
    keep = t - r.epoch < 2 * span
    tables = (r.longest, r.silences, r.ends, r.rests, r.returns, r.absences, r.trips, r.trip_backs)
    for table in (*tables, r.provisional):
        table[1] = list(table[0]) if keep else [0.0] * len(table[0])
        table[0] = [0.0] * len(table[0])
    r.periods = [0.0, r.periods[0] if keep else 0.0]
    r.epoch = t


def _rest_hour(t: float, f: Mapping[str, float]) -> bool:
    hour = _local_hour(t, f)
    return hour >= 19.0 or hour < 12.0


def learn(
    r: Routine, last: float, t: float, from_door: bool, to_door: bool, f: Mapping[str, float]
) -> None:
    """What the silence last..t teaches."""
    if math.isnan(r.first):
        start(r, last)
    _rotate(r, t, f)
    gap = t - last
    awake = _awake(r, last)
    if from_door and to_door and gap >= ABSENCE_MIN_S:
        r.arrived = t
        r.out_from = last
        r.chain = NAN
        j, s0 = _slot(last, f)
        _flush(r, f)
        if not (3.0 <= _local_hour(last, f) < 18.0 and _last_night(t, f) >= last):
            r.returns[0][j] = max(r.returns[0][j], t - s0)  # (a day out over a night is not)
        r.absences[0][j] += 1.0
        if gap >= OVERNIGHT_S:
            b, b0 = _week_bin(last, f)
            r.trips[0][b] = max(r.trips[0][b], gap)
            r.trip_backs[0][b] = max(r.trip_backs[0][b], t - b0)  # clock of the week it ended
        return
    if from_door and not last - r.arrived <= 180.0:
        # Out for a while or in all along: nothing to learn.
        r.chain = NAN
        _flush(r, f)
        r.prev = (last, t)
        r.awake = awake
        return
    j, s0 = _slot(last, f)
    r.ends[0][j] = max(r.ends[0][j], t - s0)
    chain = _chain(r, last, gap)
    resume = gap >= RESUME_S and _in_rest(r, last, f)
    joined = (
        gap >= RESUME_S and t - chain >= REST_S and _rest_hour(chain, f) and chain != r.rest[0]
    )  # a sleep broken by trips into silences shorter than a rest
    new_rest = not resume and ((gap >= REST_S and _rest_hour(last, f)) or joined)
    linked = chain != last  # the silences before were in bed too
    if not linked:
        _flush(r, f)
    if resume or new_rest:
        r.pending = (NAN, 0.0)  # the chain's silences were the rest's
    elif gap >= RESUME_S and _rest_hour(chain, f):
        if gap > r.pending[1]:  # may yet be joined into a rest: judged when the chain ends
            r.pending = (last, gap)
    else:
        _learn_day(r, j, gap)
    if resume:
        rj, r0 = _slot(r.rest[0], f)
        dd = rj // 24
        if r.rest[1] - r.rest[0] >= 7 * 3600.0 and r.nights[dd] < f["routine_learn_days"]:
            # After 7 h of rest, a trip may have been getting up: while this day type has had
            # few rests, that later end is provisional (not this slot's latest end).
            r.provisional[0][dd] = max(r.provisional[0][dd], t - (r0 - (rj % 24) * 3600.0))
        else:
            r.ends[0][rj] = max(r.ends[0][rj], t - r0)
        r.rest = (r.rest[0], t)
    elif new_rest:
        _wake_learned(r, f)
        begin = chain if _rest_hour(chain, f) else last
        rj, r0 = _slot(begin, f)
        r.rests[0][rj] += 1.0
        r.nights[rj // 24] += 1.0
        r.ends[0][rj] = max(r.ends[0][rj], t - r0)
        r.rest = (begin, t)
    r.awake = 0.0 if resume or new_rest else awake
    r.prev = (last, t)


def _flush(r: Routine, f: Mapping[str, float]) -> None:
    """The chain ended without a rest: its longest silence was one at home by day after all."""
    begin, gap = r.pending
    if not math.isnan(begin):
        j, _ = _slot(begin, f)
        _learn_day(r, j, gap)
    r.pending = (NAN, 0.0)


def _learn_day(r: Routine, j: int, gap: float) -> None:
    r.longest[0][j] = max(r.longest[0][j], gap)
    r.silences[0][j] += 1.0


def _chain(r: Routine, last: float, gap: float) -> float:
    """Start of the hour-long silences joined by trips that this one ends (at most 12 h)."""
    if gap < RESUME_S:
        r.chain = NAN
        return last
    linked = (
        last - r.prev[1] <= TRIP_S
        and r.prev[1] - r.prev[0] >= RESUME_S
        and last - r.chain <= OVERNIGHT_S
    )
    if not linked:
        r.chain = last
    return r.chain


def _in_rest(r: Routine, last: float, f: Mapping[str, float]) -> bool:
    """Back to bed: a trip after a rest, well before the usual end of such rests. A trip:
    where the sensors see much, at most TRIP_S of activity since the rest's end (silences
    apart), within NIGHT_WAKE_S of it; else activity within TRIP_S of the rest's end. Within
    75 min before the usual wake only a short trip (a silence again within 10 min), and none
    within the hour in a sparse home (getting up may show as one event there)."""
    since = last - r.rest[1]
    if _dense(r, last, f):
        trip = _awake(r, last) <= TRIP_S and since <= NIGHT_WAKE_S
        guard = WAKE_GUARD_S
    else:
        trip = since <= TRIP_S
        guard = 3600.0  # none this close in a sparse home
    if not trip:
        return False
    j, s0 = _slot(r.rest[0], f)
    ahead = s0 - (j % 24) * 3600.0 + r.wake[j // 24] - r.rest[1]  # before the usual wake
    if ahead < 4500.0 and since > 600.0:
        return False  # this close to the usual wake, only a short trip (NaN: unknown yet)
    if math.isnan(ahead) and not last - r.rest[0] < 10 * 3600.0:
        return False  # a day type's first night: at most the longest published sleep
    return not ahead <= guard


def _awake(r: Routine, last: float) -> float:
    """Activity (time outside silences of LEARN_GAP_S or more) since the latest rest's end."""
    return r.awake + (last - r.prev[1])


def _wake_learned(r: Routine, f: Mapping[str, float]) -> None:
    begin, end = r.rest
    if math.isnan(begin):
        return
    j, s0 = _slot(begin, f)
    d = j // 24
    base = s0 - (j % 24) * 3600.0
    if math.isnan(r.wake[d]):
        r.wake[d], r.bed[d] = end - base, begin - base
    else:
        r.wake[d] += 0.15 * min(max(end - base - r.wake[d], -5400.0), 5400.0)  # at most 1.5 h off
        r.bed[d] += 0.15 * (begin - base - r.bed[d])


def _learning(r: Routine, t: float, f: Mapping[str, float]) -> bool:
    return not t - r.first >= f["routine_learn_days"] * DAY


def _days(r: Routine, t: float, f: Mapping[str, float]) -> float:
    span = f["routine_bucket_days"] * DAY
    return (t - r.epoch + (span if r.periods[1] > 0.0 else 0.0)) / DAY


def _dense(r: Routine, t: float, f: Mapping[str, float]) -> bool:
    per_day = (r.periods[0] + r.periods[1]) / max(_days(r, t, f), 1.0)
    return per_day >= f["routine_dense_per_day"]


def _cap(r: Routine, t: float, f: Mapping[str, float]) -> float:
    if _learning(r, t, f) or not _dense(r, t, f):
        return f["routine_cap_sparse_s"]
    dense = f["routine_cap_dense_s"]
    if 9.0 <= _local_hour(t, f) < 20.0:
        # Blind about this hour: twice a silence over the dense cap (hour by day, day type,
        # bucket); slots count hours from 18:00.
        j0, _ = _slot(t, f)
        hours = [j0 % 24 + k for k in range(-2, 3) if 0 <= j0 % 24 + k <= 23]
        hours = [hr for hr in hours if 9 <= (hr + 18) % 24 < 20]
        cells = [r.longest[b][d * 24 + hr] for hr in hours for d in range(2) for b in range(2)]
        if sum(x > dense for x in cells) >= 2:
            return f["routine_cap_sparse_s"]
    return dense


def _rest_end(r: Routine, last: float, f: Mapping[str, float]) -> float:
    j0, s0 = _slot(last, f)
    d, hour = j0 // 24, j0 % 24

    def chain(dd: int) -> tuple[float, float]:
        bedtime = any(
            _count(r.rests, dd * 24 + hour - k) >= 1.0 for k in range(-1, 2) if 0 <= hour - k <= 23
        )
        best, seen = -math.inf, 0.0
        for k in range(-(6 if bedtime else 1), 13):
            hr = hour - k
            if not 0 <= hr <= 23:
                continue
            begin = s0 - k * 3600.0
            if k == -1 and not bedtime and begin > last + 3600.0:
                continue
            n = _count(r.rests, dd * 24 + hr)
            seen += n
            if n >= 1.0:
                best = max(best, begin + _both(r.ends, dd * 24 + hr))
        return best, seen

    def provisional(dd: int, best: float) -> float:
        """In full while day type dd has had few rests, then at most 20 min past `best`."""
        prov = _both(r.provisional, dd)
        if best == -math.inf or prov <= 0.0:
            return best
        end = s0 - hour * 3600.0 + prov
        if r.nights[dd] >= f["routine_learn_days"]:
            end = min(end, best + 1200.0)
        return max(best, end)

    best, seen = chain(d)
    other = chain(1 - d)[0]
    best, other = provisional(d, best), provisional(1 - d, other)
    if seen < 1.0:
        best = max(best, other)
    elif (
        d == 1 or seen < 3.0
    ):  # the weekdays' lead of their latest end over their usual end, from ours
        spread = other - r.wake[1 - d] + r.wake[d]
        if spread > best:
            best = min(spread, best + 1200.0)  # at most 20 min past the weekend's own latest
    usual = s0 - hour * 3600.0 + r.wake[d]  # never before the night's usual end
    if best > -math.inf and not math.isnan(usual) and usual > max(best, last):
        best = usual
    if _learning(r, last, f):
        hour_now = _local_hour(last, f)
        if hour_now >= f["routine_prior_bed_h"] - 1.0 or hour_now < f["routine_prior_wake_h"]:
            midnight = last - (last + f["utc_offset_h"] * 3600.0) % DAY
            end = midnight + f["routine_prior_wake_h"] * 3600.0
            best = max(best, end if end > last else end + DAY)
    return best


def _last_night(t: float, f: Mapping[str, float]) -> float:
    """The last 03:00 local at or before t."""
    night = t - (_local_hour(t, f) - 3.0) * 3600.0
    return night - DAY if night > t else night


def _night_out_sleep(r: Routine, last: float, f: Mapping[str, float]) -> float:
    """While learning: home from an absence over 03:00 by 12:00 and quiet within 3 h, asleep
    for up to 10 h from the rest or chain of silences begun since (else from `last`); -inf
    otherwise."""
    if not _learning(r, last, f) or not r.arrived - r.out_from <= f["away_max_s"]:
        return -math.inf
    night = _last_night(r.arrived, f)
    begin = last
    if last - r.prev[1] <= TRIP_S and r.chain >= r.arrived:
        begin = r.chain
    if r.rest[0] >= r.arrived:
        begin = min(begin, r.rest[0])
    late = r.arrived - night > (12.0 - 3.0) * 3600.0  # home after 12:00: no sleep's start
    if night < r.out_from or late or not begin - r.arrived <= 3 * 3600.0:
        return -math.inf
    return begin + 10 * 3600.0


def _rest_habit(r: Routine, last: float, f: Mapping[str, float]) -> bool:
    j0, _ = _slot(last, f)
    n = sum(
        _count(r.rests, d * 24 + j0 % 24 - k)
        for k in range(7)
        for d in range(2)
        if j0 % 24 - k >= 0
    )
    return n >= max(2.0, _days(r, last, f) / 3.0)


def _home(r: Routine, last: float, f: Mapping[str, float]) -> tuple[float, int]:
    cap = _cap(r, last, f)
    j0, _ = _slot(last, f)
    longest, n = 0.0, 0.0
    for w in range(2, 7):  # +-2 h, widened while fewer than 10 silences were seen
        hours = [j0 % 24 + k for k in range(-w, w + 1) if w == 2 or abs(k) == w]
        for j in (d * 24 + hr for hr in hours if 0 <= hr <= 23 for d in range(2)):
            longest = max(longest, _both(r.longest, j))
            n += _count(r.silences, j)
        if n >= 10.0:
            break
    limit = longest * f["routine_gap_factor"] + f["routine_gap_margin_s"]
    learn = f["routine_learn_days"] * DAY
    limit = max(limit, cap * min(1.0 - (last - r.first - learn) / learn, 1.0))
    floor = f["inactivity_min_silence_s"]
    if cap >= f["routine_cap_sparse_s"]:  # switches only: nobody is seen sitting
        floor = max(floor, f["routine_floor_sparse_s"])
    # The daytime cap; at night counted from the coming 09:00 (a collapse then is by day).
    x = (last + f["utc_offset_h"] * 3600.0) % DAY
    by_day = 9.0 <= x / 3600.0 < 20.0
    bound = cap if by_day else cap + (9.0 * 3600.0 - x) % DAY
    limit = min(max(limit, floor), bound)
    day = last + limit
    slept_out = _night_out_sleep(r, last, f)
    margin = f["routine_rest_margin_s"]
    learn = f["routine_learn_days"] * DAY
    young = 1.0 - (last - r.first - learn) / learn  # in (0, 1]: the week after learning
    if 0.0 < young <= 1.0:
        margin += margin * young  # a week's latest morning falls short of a month's
    end = max(_rest_end(r, last, f), slept_out) + margin
    if by_day and not _rest_habit(r, last, f) and not slept_out > last:
        if _in_rest(r, last, f):
            end = min(end, last + max(cap, f["routine_cap_sparse_s"]))
        elif end > last + cap:  # a collapse within the cap: a daytime silence
            r.why = (n, longest, cap, cap)
            return last + cap, R_SILENT_HOME
    if end > day:
        j, s0 = _slot(last, f)
        usual = s0 - (j % 24) * 3600.0 + r.wake[j // 24]
        r.why = (end - margin, usual, NAN, bound)
        return end, R_NOT_UP
    r.why = (n, longest, limit, bound)
    return day, R_SILENT_HOME


def _out(r: Routine, last: float, f: Mapping[str, float]) -> tuple[float, int]:
    floor = last + f["routine_out_floor_s"]
    night = last - (last + f["utc_offset_h"] * 3600.0) % DAY + f["routine_night_h"] * 3600.0
    if night < last - 6 * 3600.0:
        night += DAY
    # Or an hour after this home's latest usual bedtime (rests begun 18:00-03:00) that night,
    # an hour past routine_night_h at most.
    j, s0 = _slot(night, f)
    evening = s0 - (j % 24) * 3600.0
    beds = [hr for hr in range(9) if _count(r.rests, (j // 24) * 24 + hr) >= 1.0]
    if beds:
        night = max(night, min(evening + (max(beds) + 1) * 3600.0 + 3600.0, night + 3600.0))
    deadline = max(night, floor)
    j0, s0 = _slot(last, f)
    d, hour = j0 // 24, j0 % 24
    day, n = -math.inf, 0.0
    for k in range(-1, 4):  # the hour after, the same hour, up to 3 hours before
        if hour - k < 0:
            break
        if hour - k > 23:
            continue
        j = d * 24 + hour - k
        n += _count(r.absences, j)
        if _both(r.returns, j) > 0.0:
            day = max(day, s0 - k * 3600.0 + _both(r.returns, j))
    share = 5.0 / 7.0 if d == 0 else 2.0 / 7.0
    if n < max(3.0, 0.5 * share * _days(r, last, f)):
        day = -math.inf
    b, b0 = _week_bin(last, f)
    overnight = -math.inf
    for k in range(-1, 5):  # weekends away begun 12 h before to 3 h after in the week
        j = (b - k) % 56
        length = _both(r.trips, j)
        if length > 0.0:
            overnight = max(overnight, last + length)
        back = _both(r.trip_backs, j)
        if back > 0.0:  # or back at the latest clock time of the week
            overnight = max(overnight, b0 - k * 10800.0 + back)
    margin = f["routine_out_margin_s"]
    back = max(day, overnight)
    if day > last:  # while learning, a habit only puts the check later than by night
        habit = max(day + margin, floor)
        deadline = max(deadline, habit) if _learning(r, last, f) else habit
    if overnight > last:
        deadline = max(deadline, overnight + margin)
    r.why = (back if back > last else NAN, night, NAN, r.why[3])
    return min(deadline, last + f["away_max_s"]), R_OUT_NOT_BACK


def deadline(
    r: Routine, last: float, after_door: bool, f: Mapping[str, float]
) -> tuple[float, int]:
    """(deadline, rule) of the silence begun at `last`."""
    home, rule = _home(r, last, f)
    if last - r.arrived <= 180.0:
        after_door = False  # that door event was the resident coming back in
    if home >= last + f["inactivity_max_silence_s"]:
        home, rule = last + f["inactivity_max_silence_s"], R_MAX_SILENCE
    if after_door and f["infer_away"] > 0.0:
        why = r.why
        out, out_rule = _out(r, last, f)
        if out > home:
            return out, out_rule
        r.why = why
    return home, rule
