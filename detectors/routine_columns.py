"""Where a household's learned routine lives in its state row (detectors.state, detectors.routine).

Kept apart from the numba code of detectors.routine so that the engine sizes its state without
importing numba (detectors.aot).
"""

from __future__ import annotations

BASE = 64  # routine columns follow the household's first 64 (detectors.state)
R_FIRST = BASE + 0  # first activity ever (learning starts)
R_EPOCH = BASE + 1  # start of the current 14-day bucket
R_PER = BASE + 2  # +0 / +1: active periods counted in the current / previous bucket
R_WAKE = BASE + 4  # + day type: smoothed clock (s after 18:00) of the end of rests
R_BED = BASE + 6  # + day type: smoothed clock (s after 18:00) of the start of rests
R_WHY_REF = BASE + 8  # the deadline's learned reference (epoch s: latest wake / return)
R_WHY_USUAL = BASE + 9  # the usual figure behind it (epoch s of the smoothed wake), NaN if none
R_WHY_LIMIT = BASE + 10  # the silence this home allows at that hour (s)
R_WHY_CAP = BASE + 11  # the daytime ceiling in force (s)
R_REST_START = BASE + 12  # start of the latest rest (epoch s)
R_REST_END = BASE + 13  # its end so far: a silence soon after it (a toilet trip) continues it
R_PREV_START = BASE + 14  # the silence before the latest one (a rest may have begun there)
R_PREV_END = BASE + 15
R_ARRIVED = BASE + 16  # the last return home (a door event ending an absence)
# BASE + 17: free (was the leaving before a visitor's motion, no longer kept)
R_CHAIN = BASE + 18  # start of the silences of an hour or more, joined by short trips, up to now
R_OUT_FROM = BASE + 19  # start of the absence the last return home (R_ARRIVED) ended
SLOTS = 48  # 2 day types x 24 hours counted from 18:00
WEEK_BINS = 56  # 3-hour slots of the week (Monday 00:00 first)
R_G = BASE + 20  # bucket * SLOTS + slot: longest silence at home begun in that slot (s)
R_E = R_G + 2 * SLOTS  # latest end of those silences, s after the slot's start
R_NL = R_E + 2 * SLOTS  # how many of them lasted a rest (REST_S or more)
R_A = R_NL + 2 * SLOTS  # bucket * SLOTS + slot: latest return from absences begun then (s)
R_NA = R_A + 2 * SLOTS  # how many such absences
R_AW = R_NA + 2 * SLOTS  # bucket * WEEK_BINS + bin: longest absence over a night begun then (s)
R_ACT = R_AW + 2 * WEEK_BINS  # day of week * 24 + local hour: active periods (halved per bucket)
R_AWAKE = R_ACT + 7 * 24  # activity since the latest rest's end, up to the latest silence (s)
R_PEND = R_AWAKE + 1  # +0 / +1: start and length of the longest silence of the chain (R_CHAIN)
# going on, not yet known to be a rest's or one by day (NaN / 0: none)
R_NG = R_PEND + 2  # bucket * SLOTS + slot: how many silences at home R_G was learned from
R_PROV = R_NG + 2 * SLOTS  # bucket * 2 + day type: latest end (s after 18:00, 0: none) of its
# rests that a trip after SLEEP_MIN_S continued while it had few rests in memory: provisional
R_NIGHTS = R_PROV + 4  # + day type: how many of its rests were ever learned
R_AR = R_NIGHTS + 2  # bucket * WEEK_BINS + bin: latest return from an absence over a night
# begun then, s after that bin's start (a weekend away ends about the same clock time)
ROUTINE_END = R_AR + 2 * WEEK_BINS
ROUTINE_FLOATS = (
    R_FIRST,
    R_EPOCH,
    R_WAKE,
    R_WAKE + 1,
    R_BED,
    R_BED + 1,
    R_WHY_REF,
    R_WHY_USUAL,
    R_REST_START,
    R_REST_END,
    R_PREV_START,
    R_PREV_END,
    R_ARRIVED,
    R_CHAIN,
    R_OUT_FROM,
    R_AWAKE,
    R_PEND,
)
