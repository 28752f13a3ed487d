"""Numba kernels: score every reading against its device's state and emit raise/clear events.

Pure functions over arrays, no I/O, no clock: `process_rows` folds a columnar batch into the
state arrays (detectors.state) in row order, `tick_rows` raises the time-driven conditions
(silence, inactivity) for a given `now`. Each event is one row of `ev_i` / `ev_f` (layout below);
`detectors.fusion` turns events into alerts. The public wrappers with input checks are in
`detectors.engine`; the slow reference they are tested against is tests/detectors/naive.py.

Conventions: device time `t` drives the filters; receive time `rx` drives liveness. Exponential
averages use alpha = dt / (tau + dt), which is exact in steady state for a ramp (the lag is tau
at any sampling interval), so the rate of rise is (fast - slow) / (tau_slow - tau_fast) with no
stored history. A reading with the device's last timestamp is a duplicate and is ignored; an older
one is late and ignored by the filters, unless it is more than clock_jump_s older, which means the
device clock was reset and the filters restart from it.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from detectors.codes import (
    BATTERY,
    BATTERY_LOW,
    BUTTON,
    CLEAR,
    CO,
    CO_ALARM,
    DIRTY,
    DOOR,
    FALSE_PRESS,
    FAULT_CO_RANGE,
    FAULT_SELF_TEST,
    FAULT_SMOKE_RANGE,
    FAULT_SMOKE_STUCK,
    FAULT_TEMP_RANGE,
    FAULT_TEMP_STUCK,
    FIRE,
    HEAT,
    INACTIVITY,
    MOTION,
    OFFLINE,
    PANIC,
    PRE_ALARM,
    R_AWAY_SILENCE,
    R_BASELINE_DRIFT,
    R_BATTERY,
    R_CANCEL_IN_GRACE,
    R_CLEARED,
    R_CO_LEVEL,
    R_HEAT_FIXED,
    R_HEAT_PRE,
    R_HEAT_ROR,
    R_IMPLAUSIBLE,
    R_MAX_SILENCE,
    R_PANIC_PRESS,
    R_PATTERN,
    R_RESTORED,
    R_SELF_TEST,
    R_SILENCE,
    R_SLOW_RISE,
    R_SMOKE_CO,
    R_SMOKE_HEAT,
    R_SMOKE_HIGH,
    R_SMOKE_PRE,
    R_SMOKE_RISING,
    R_STUCK,
    R_TAMPER,
    RAISE,
    SELF_TEST,
    SENSOR_FAULT,
    SMOKE,
    SMOKE_ALARM,
    TAMPER,
    TAMPER_KIND,
    TEMPERATURE,
)
from detectors.params import (
    P_AWAY_MAX_S,
    P_BATTERY_COUNT,
    P_BATTERY_LOW_V,
    P_CANCEL_GRACE_S,
    P_CLEAR_COUNT,
    P_CLOCK_JUMP_S,
    P_CO_ALARM_COUNT,
    P_CO_ALARM_PPM,
    P_CO_BASE_TAU_S,
    P_CO_FUSED_PPM,
    P_CO_TAU_S,
    P_CONFIRM_AGE_S,
    P_CUSUM_H_PCT_MIN,
    P_CUSUM_K_PCT,
    P_DIRTY_CLEAR_PCT,
    P_DIRTY_PCT,
    P_FAULT_COUNT,
    P_HEAT_CLEAR_MARGIN_C,
    P_HEAT_FIXED_C,
    P_HEAT_FIXED_COUNT,
    P_HEAT_RISING_C,
    P_HEAT_RISING_C_PER_MIN,
    P_HEAT_ROR_C_PER_MIN,
    P_HEAT_ROR_COUNT,
    P_HEAT_ROR_MIN_RISE_C,
    P_INACTIVITY_ACTIVE_PERIOD_S,
    P_INACTIVITY_DAY_END_H,
    P_INACTIVITY_DAY_START_H,
    P_INACTIVITY_EXPECTED_EVENTS,
    P_INACTIVITY_MAX_SILENCE_S,
    P_INACTIVITY_MIN_SILENCE_S,
    P_INACTIVITY_PRIOR_DAY_PER_H,
    P_INACTIVITY_PRIOR_DAYS,
    P_INACTIVITY_PRIOR_NIGHT_PER_H,
    P_INACTIVITY_WINDOW_DAYS,
    P_INFER_AWAY,
    P_OFFLINE_AFTER_S,
    P_PANIC_DEBOUNCE_S,
    P_SMOKE_BASE_INIT_MAX_PCT,
    P_SMOKE_BASE_TAU_S,
    P_SMOKE_BASE_TRACK_PCT,
    P_SMOKE_CLEAR_PCT,
    P_SMOKE_ESCALATE_S,
    P_SMOKE_FUSED_COUNT,
    P_SMOKE_FUSED_PCT,
    P_SMOKE_HIGH_COUNT,
    P_SMOKE_HIGH_PCT,
    P_SMOKE_PRE_COUNT,
    P_SMOKE_PRE_PCT,
    P_SMOKE_RISE_PCT_PER_MIN,
    P_SMOKE_TAU_S,
    P_SMOKE_TREND_TAU_S,
    P_STUCK_COUNT,
    P_STUCK_SMOKE_S,
    P_STUCK_TEMPERATURE_S,
    P_TEMP_BASE_TAU_S,
    P_TEMP_TAU_S,
    P_TEMP_TREND_TAU_S,
    P_UTC_OFFSET_H,
)
from detectors.state import (
    F_C_A,
    F_C_BASE,
    F_C_TS,
    F_LAST_RX,
    F_PRESS_TS,
    F_S_A,
    F_S_B,
    F_S_BASE,
    F_S_CUSUM,
    F_S_PRE_SINCE,
    F_S_STUCK_SINCE,
    F_S_STUCK_V,
    F_S_TS,
    F_T_A,
    F_T_B,
    F_T_BASE,
    F_T_STUCK_SINCE,
    F_T_STUCK_V,
    F_T_TS,
    H_DEADLINE,
    H_DEADLINE_SCORE,
    H_EXPO_TS,
    H_LAST_ACT,
    H_LAST_COUNTED,
    HI_AWAY,
    HI_DEADLINE_RULE,
    HI_HAS_PIR,
    HI_LAST_DOOR,
    HI_LATCH,
    HI_PROW,
    HI_REP_SLOT,
    HOURS,
    I_B_LOW_N,
    I_B_OK_N,
    I_C_ALARM_N,
    I_C_BAD_N,
    I_C_CLEAR_N,
    I_FAULTS,
    I_LATCH,
    I_S_BAD_N,
    I_S_CLEAR_N,
    I_S_FUSED_N,
    I_S_HIGH_N,
    I_S_PRE_N,
    I_S_STUCK_N,
    I_T_BAD_N,
    I_T_CLEAR_N,
    I_T_FIXED_N,
    I_T_ROR_N,
    I_T_STUCK_N,
)

# Event layout: ints and floats per event.
EV_ROW = 0  # batch row of the triggering reading; -1 for time-driven events
EV_SLOT = 1
EV_KIND = 2
EV_ACTION = 3  # RAISE or CLEAR
EV_RULE = 4
NEVI = 5
EV_TS = 0  # when the condition began (device time, or the deadline for silences)
EV_SCORE = 1  # how far past its threshold the rule is (1.0 = at the threshold)
EV_SMOKE = 2  # smoke excess over baseline, %/m
EV_BASE = 3  # smoke baseline, %/m
EV_TRISE = 4  # temperature rise over baseline, °C
EV_ROR = 5  # rate of rise, °C/min
EV_CO = 6  # CO excess over baseline, ppm
EV_SINCE = 7  # start of the evidence window (pre-alarm run, silence start)
NEVF = 8

# A reading raises and clears at most this many events; the batch loop stops short of overflow.
MAX_EVENTS_PER_READING = 8
# A clock reset restarts the filters: a dt this large makes every average take the new value.
RESTART_DT = 1.0e12
# Baselines and the CUSUM never move by more than this many seconds' worth at once, so a long gap
# or a clock jump cannot pull them to one reading.
BASE_DT_CAP_S = 600.0
CUSUM_DT_CAP_S = 120.0

# Bundles passed down the call chain (numba tuples of arrays):
#   ev = (ev_i, ev_f, ev_n)         events out; ev_n[0] is how many are written
#   dv = (dev_f, dev_i, params)     device state and the policy table
#   hv = (hh_f, hh_i, hh_cnt, hh_expo, params)   household state


@njit(cache=True)
def _alpha(dt, tau):
    return dt / (tau + dt)


@njit(cache=True)
def _rate_per_min(fast, slow, tau_fast, tau_slow):
    return (fast - slow) / (tau_slow - tau_fast) * 60.0


@njit(cache=True)
def _emit(
    ev, row, slot, kind, action, rule, t, score, x_smoke, x_base, x_trise, x_ror, x_co, since
):
    ev_i, ev_f, ev_n = ev
    n = ev_n[0]
    ev_i[n, EV_ROW] = row
    ev_i[n, EV_SLOT] = slot
    ev_i[n, EV_KIND] = kind
    ev_i[n, EV_ACTION] = action
    ev_i[n, EV_RULE] = rule
    ev_f[n, EV_TS] = t
    ev_f[n, EV_SCORE] = score
    ev_f[n, EV_SMOKE] = x_smoke
    ev_f[n, EV_BASE] = x_base
    ev_f[n, EV_TRISE] = x_trise
    ev_f[n, EV_ROR] = x_ror
    ev_f[n, EV_CO] = x_co
    ev_f[n, EV_SINCE] = since
    ev_n[0] = n + 1


@njit(cache=True)
def _heat_ror(dv, s, p):
    dev_f, _, params = dv
    return _rate_per_min(
        dev_f[s, F_T_A], dev_f[s, F_T_B], params[p, P_TEMP_TAU_S], params[p, P_TEMP_TREND_TAU_S]
    )


@njit(cache=True)
def _emit_dev(ev, dv, row, s, p, kind, action, rule, t, score, since):
    """An event carrying the device's current figures as evidence."""
    dev_f = dv[0]
    smoke = dev_f[s, F_S_A] - dev_f[s, F_S_BASE]
    trise = dev_f[s, F_T_A] - dev_f[s, F_T_BASE]
    co = dev_f[s, F_C_A] - dev_f[s, F_C_BASE]
    ror = _heat_ror(dv, s, p)
    _emit(
        ev, row, s, kind, action, rule, t, score, smoke, dev_f[s, F_S_BASE], trise, ror, co, since
    )


@njit(cache=True)
def _raise(ev, dv, row, s, p, kind, rule, t, score, since):
    dev_i = dv[1]
    bit = 1 << kind
    if dev_i[s, I_LATCH] & bit:
        return
    dev_i[s, I_LATCH] |= bit
    _emit_dev(ev, dv, row, s, p, kind, RAISE, rule, t, score, since)


@njit(cache=True)
def _clear(ev, dv, row, s, p, kind, rule, t):
    dev_i = dv[1]
    bit = 1 << kind
    if (dev_i[s, I_LATCH] & bit) == 0:
        return
    dev_i[s, I_LATCH] &= ~bit
    _emit_dev(ev, dv, row, s, p, kind, CLEAR, rule, t, 0.0, t)


@njit(cache=True)
def _set_fault(ev, dv, row, s, p, bit, rule, t):
    dv[1][s, I_FAULTS] |= bit
    _raise(ev, dv, row, s, p, SENSOR_FAULT, rule, t, 1.0, t)


@njit(cache=True)
def _unset_fault(ev, dv, row, s, p, bit, t):
    dev_i = dv[1]
    if (dev_i[s, I_FAULTS] & bit) == 0:
        return
    dev_i[s, I_FAULTS] &= ~bit
    if dev_i[s, I_FAULTS] == 0:
        _clear(ev, dv, row, s, p, SENSOR_FAULT, R_RESTORED, t)


@njit(cache=True)
def _plausible(ev, dv, row, s, p, t, v, lo, hi, bit, counter):
    """Count implausible values (NaN, out of range) towards a fault; False to drop the reading."""
    dev_i = dv[1]
    if lo <= v <= hi:
        dev_i[s, counter] = 0
        _unset_fault(ev, dv, row, s, p, bit, t)
        return True
    dev_i[s, counter] += 1
    if dev_i[s, counter] >= dv[2][p, P_FAULT_COUNT]:
        _set_fault(ev, dv, row, s, p, bit, R_IMPLAUSIBLE, t)
    return False


@njit(cache=True)
def _stuck(ev, dv, row, s, p, t, v, f_v, f_since, i_n, bit, stuck_s):
    """Identical values for stuck_s seconds and stuck_count readings: a stuck sensor."""
    dev_f, dev_i, params = dv
    if v == dev_f[s, f_v]:
        dev_i[s, i_n] += 1
        if t - dev_f[s, f_since] >= stuck_s and dev_i[s, i_n] >= params[p, P_STUCK_COUNT]:
            _set_fault(ev, dv, row, s, p, bit, R_STUCK, t)
        return
    dev_f[s, f_v] = v
    dev_f[s, f_since] = t
    dev_i[s, i_n] = 1
    _unset_fault(ev, dv, row, s, p, bit, t)


@njit(cache=True)
def _step_dt(t, last, clock_jump):
    """Seconds since the metric's last accepted reading: 0 first, -1 to ignore the reading."""
    if np.isnan(last):
        return 0.0
    dt = t - last
    if dt > 0.0:
        return dt
    if dt == 0.0 or dt > -clock_jump:
        return -1.0
    return RESTART_DT


@njit(cache=True)
def _smoke_alone(ev, dv, row, s, p, t, e, since):
    """Smoke with no heat or CO to confirm it: dense, still rising, or smouldering."""
    dev_f, dev_i, params = dv
    srate = _rate_per_min(
        dev_f[s, F_S_A], dev_f[s, F_S_B], params[p, P_SMOKE_TAU_S], params[p, P_SMOKE_TREND_TAU_S]
    )
    rise_min = params[p, P_SMOKE_RISE_PCT_PER_MIN]
    escalated = t - since >= params[p, P_SMOKE_ESCALATE_S] and e >= params[p, P_SMOKE_PRE_PCT]
    if dev_i[s, I_S_HIGH_N] >= params[p, P_SMOKE_HIGH_COUNT]:
        score = e / params[p, P_SMOKE_HIGH_PCT]
        _raise(ev, dv, row, s, p, SMOKE_ALARM, R_SMOKE_HIGH, t, score, since)
    elif escalated and srate >= rise_min:
        _raise(ev, dv, row, s, p, SMOKE_ALARM, R_SMOKE_RISING, t, srate / rise_min, since)
    elif dev_f[s, F_S_CUSUM] >= params[p, P_CUSUM_H_PCT_MIN]:
        score = dev_f[s, F_S_CUSUM] / params[p, P_CUSUM_H_PCT_MIN]
        _raise(ev, dv, row, s, p, SMOKE_ALARM, R_SLOW_RISE, t, score, since)


@njit(cache=True)
def _fire_rules(ev, dv, row, s, p, t):
    """Smoke, heat and CO of one device, fused: fire, smoke alarm, pre-alarm, and their ends."""
    dev_f, dev_i, params = dv
    age = params[p, P_CONFIRM_AGE_S]
    trise = dev_f[s, F_T_A] - dev_f[s, F_T_BASE]
    ror = _heat_ror(dv, s, p)
    heat_fresh = abs(t - dev_f[s, F_T_TS]) <= age  # False when never read (NaN)
    rising_c = params[p, P_HEAT_RISING_C]
    rising_ror = params[p, P_HEAT_RISING_C_PER_MIN]
    heat_rising = heat_fresh and trise >= rising_c and ror >= rising_ror
    heat_calm = not heat_fresh or trise < 0.5 * rising_c or ror < 0.5 * rising_ror
    co_fresh = abs(t - dev_f[s, F_C_TS]) <= age
    co_rising = co_fresh and dev_f[s, F_C_A] - dev_f[s, F_C_BASE] >= params[p, P_CO_FUSED_PPM]
    smoke_clear = True
    if not np.isnan(dev_f[s, F_S_TS]):
        e = dev_f[s, F_S_A] - dev_f[s, F_S_BASE]
        since = dev_f[s, F_S_PRE_SINCE]
        if np.isnan(since):
            since = t
        if dev_i[s, I_S_FUSED_N] >= params[p, P_SMOKE_FUSED_COUNT] and (heat_rising or co_rising):
            rule = R_SMOKE_HEAT if heat_rising else R_SMOKE_CO
            _raise(ev, dv, row, s, p, FIRE, rule, t, e / params[p, P_SMOKE_FUSED_PCT], since)
        if (dev_i[s, I_LATCH] & ((1 << FIRE) | (1 << SMOKE_ALARM))) == 0:
            _smoke_alone(ev, dv, row, s, p, t, e, since)
        if dev_i[s, I_S_PRE_N] >= params[p, P_SMOKE_PRE_COUNT]:
            _raise(
                ev, dv, row, s, p, PRE_ALARM, R_SMOKE_PRE, t, e / params[p, P_SMOKE_PRE_PCT], since
            )
        smoke_clear = dev_i[s, I_S_CLEAR_N] >= params[p, P_CLEAR_COUNT]
        if smoke_clear:
            _clear(ev, dv, row, s, p, SMOKE_ALARM, R_CLEARED, t)
    if heat_rising:
        score = min(trise / rising_c, ror / rising_ror)
        _raise(ev, dv, row, s, p, PRE_ALARM, R_HEAT_PRE, t, score, t)
    if smoke_clear and heat_calm and not co_rising:
        _clear(ev, dv, row, s, p, PRE_ALARM, R_CLEARED, t)
        _clear(ev, dv, row, s, p, FIRE, R_CLEARED, t)


@njit(cache=True)
def _count(dev_i, s, counter, hit):
    dev_i[s, counter] = dev_i[s, counter] + 1 if hit else 0


@njit(cache=True)
def _smoke(ev, dv, row, s, p, t, v, mrange):
    dev_f, dev_i, params = dv
    lo, hi = mrange[SMOKE, 0], mrange[SMOKE, 1]
    if not _plausible(ev, dv, row, s, p, t, v, lo, hi, FAULT_SMOKE_RANGE, I_S_BAD_N):
        return
    dt = _step_dt(t, dev_f[s, F_S_TS], params[p, P_CLOCK_JUMP_S])
    if dt < 0.0:
        return
    if np.isnan(dev_f[s, F_S_TS]):
        dev_f[s, F_S_A] = v
        dev_f[s, F_S_B] = v
        dev_f[s, F_S_BASE] = min(v, params[p, P_SMOKE_BASE_INIT_MAX_PCT])
        dev_f[s, F_S_STUCK_V] = v
        dev_f[s, F_S_STUCK_SINCE] = t
        dev_i[s, I_S_STUCK_N] = 1
    else:
        dev_f[s, F_S_A] += _alpha(dt, params[p, P_SMOKE_TAU_S]) * (v - dev_f[s, F_S_A])
        dev_f[s, F_S_B] += _alpha(dt, params[p, P_SMOKE_TREND_TAU_S]) * (v - dev_f[s, F_S_B])
        stuck_s = params[p, P_STUCK_SMOKE_S]
        if stuck_s > 0.0:
            _stuck(
                ev,
                dv,
                row,
                s,
                p,
                t,
                v,
                F_S_STUCK_V,
                F_S_STUCK_SINCE,
                I_S_STUCK_N,
                FAULT_SMOKE_STUCK,
                stuck_s,
            )
    dev_f[s, F_S_TS] = t
    base = dev_f[s, F_S_BASE]
    if dev_f[s, F_S_A] - base < params[p, P_SMOKE_BASE_TRACK_PCT]:
        base += _alpha(min(dt, BASE_DT_CAP_S), params[p, P_SMOKE_BASE_TAU_S]) * (v - base)
        dev_f[s, F_S_BASE] = base
    if base >= params[p, P_DIRTY_PCT]:
        _raise(ev, dv, row, s, p, DIRTY, R_BASELINE_DRIFT, t, base / params[p, P_DIRTY_PCT], t)
    elif base < params[p, P_DIRTY_CLEAR_PCT]:
        _clear(ev, dv, row, s, p, DIRTY, R_CLEARED, t)
    e = dev_f[s, F_S_A] - base
    g = dev_f[s, F_S_CUSUM] + (e - params[p, P_CUSUM_K_PCT]) * min(dt, CUSUM_DT_CAP_S) / 60.0
    dev_f[s, F_S_CUSUM] = max(g, 0.0)
    _count(dev_i, s, I_S_PRE_N, e >= params[p, P_SMOKE_PRE_PCT])
    _count(dev_i, s, I_S_FUSED_N, e >= params[p, P_SMOKE_FUSED_PCT])
    _count(dev_i, s, I_S_HIGH_N, e >= params[p, P_SMOKE_HIGH_PCT])
    _count(dev_i, s, I_S_CLEAR_N, e < params[p, P_SMOKE_CLEAR_PCT])
    if dev_i[s, I_S_PRE_N] >= params[p, P_SMOKE_PRE_COUNT] and np.isnan(dev_f[s, F_S_PRE_SINCE]):
        dev_f[s, F_S_PRE_SINCE] = t
    elif dev_i[s, I_S_CLEAR_N] >= params[p, P_CLEAR_COUNT]:
        dev_f[s, F_S_PRE_SINCE] = np.nan
    _fire_rules(ev, dv, row, s, p, t)


@njit(cache=True)
def _temperature(ev, dv, row, s, p, t, v, mrange):
    dev_f, dev_i, params = dv
    lo, hi = mrange[TEMPERATURE, 0], mrange[TEMPERATURE, 1]
    if not _plausible(ev, dv, row, s, p, t, v, lo, hi, FAULT_TEMP_RANGE, I_T_BAD_N):
        return
    dt = _step_dt(t, dev_f[s, F_T_TS], params[p, P_CLOCK_JUMP_S])
    if dt < 0.0:
        return
    if np.isnan(dev_f[s, F_T_TS]):
        dev_f[s, F_T_A] = v
        dev_f[s, F_T_B] = v
        dev_f[s, F_T_BASE] = v
        dev_f[s, F_T_STUCK_V] = v
        dev_f[s, F_T_STUCK_SINCE] = t
        dev_i[s, I_T_STUCK_N] = 1
    else:
        dev_f[s, F_T_A] += _alpha(dt, params[p, P_TEMP_TAU_S]) * (v - dev_f[s, F_T_A])
        dev_f[s, F_T_B] += _alpha(dt, params[p, P_TEMP_TREND_TAU_S]) * (v - dev_f[s, F_T_B])
        stuck_s = params[p, P_STUCK_TEMPERATURE_S]
        if stuck_s > 0.0:
            _stuck(
                ev,
                dv,
                row,
                s,
                p,
                t,
                v,
                F_T_STUCK_V,
                F_T_STUCK_SINCE,
                I_T_STUCK_N,
                FAULT_TEMP_STUCK,
                stuck_s,
            )
    dev_f[s, F_T_TS] = t
    ror = _heat_ror(dv, s, p)
    if ror < 0.5 * params[p, P_HEAT_RISING_C_PER_MIN]:
        base = dev_f[s, F_T_BASE]
        dev_f[s, F_T_BASE] = base + _alpha(min(dt, BASE_DT_CAP_S), params[p, P_TEMP_BASE_TAU_S]) * (
            v - base
        )
    trise = dev_f[s, F_T_A] - dev_f[s, F_T_BASE]
    fixed_c = params[p, P_HEAT_FIXED_C]
    ror_c = params[p, P_HEAT_ROR_C_PER_MIN]
    _count(dev_i, s, I_T_FIXED_N, v >= fixed_c)
    _count(dev_i, s, I_T_ROR_N, ror >= ror_c and trise >= params[p, P_HEAT_ROR_MIN_RISE_C])
    cool = v < fixed_c - params[p, P_HEAT_CLEAR_MARGIN_C] and ror < 0.5 * ror_c
    _count(dev_i, s, I_T_CLEAR_N, cool)
    if dev_i[s, I_T_FIXED_N] >= params[p, P_HEAT_FIXED_COUNT]:
        _raise(ev, dv, row, s, p, HEAT, R_HEAT_FIXED, t, v / fixed_c, t)
    elif dev_i[s, I_T_ROR_N] >= params[p, P_HEAT_ROR_COUNT]:
        _raise(ev, dv, row, s, p, HEAT, R_HEAT_ROR, t, ror / ror_c, t)
    elif dev_i[s, I_T_CLEAR_N] >= params[p, P_CLEAR_COUNT]:
        _clear(ev, dv, row, s, p, HEAT, R_CLEARED, t)
    _fire_rules(ev, dv, row, s, p, t)


@njit(cache=True)
def _co(ev, dv, row, s, p, t, v, mrange):
    dev_f, dev_i, params = dv
    lo, hi = mrange[CO, 0], mrange[CO, 1]
    if not _plausible(ev, dv, row, s, p, t, v, lo, hi, FAULT_CO_RANGE, I_C_BAD_N):
        return
    dt = _step_dt(t, dev_f[s, F_C_TS], params[p, P_CLOCK_JUMP_S])
    if dt < 0.0:
        return
    if np.isnan(dev_f[s, F_C_TS]):
        dev_f[s, F_C_A] = v
        dev_f[s, F_C_BASE] = min(v, params[p, P_CO_FUSED_PPM])
    else:
        dev_f[s, F_C_A] += _alpha(dt, params[p, P_CO_TAU_S]) * (v - dev_f[s, F_C_A])
    dev_f[s, F_C_TS] = t
    base = dev_f[s, F_C_BASE]
    if dev_f[s, F_C_A] - base < params[p, P_CO_FUSED_PPM]:
        base += _alpha(min(dt, BASE_DT_CAP_S), params[p, P_CO_BASE_TAU_S]) * (v - base)
        dev_f[s, F_C_BASE] = base
    level = dev_f[s, F_C_A]
    alarm_ppm = params[p, P_CO_ALARM_PPM]
    _count(dev_i, s, I_C_ALARM_N, level >= alarm_ppm)
    _count(dev_i, s, I_C_CLEAR_N, level < 0.5 * alarm_ppm)
    if dev_i[s, I_C_ALARM_N] >= params[p, P_CO_ALARM_COUNT]:
        _raise(ev, dv, row, s, p, CO_ALARM, R_CO_LEVEL, t, level / alarm_ppm, t)
    elif dev_i[s, I_C_CLEAR_N] >= params[p, P_CLEAR_COUNT]:
        _clear(ev, dv, row, s, p, CO_ALARM, R_CLEARED, t)
    _fire_rules(ev, dv, row, s, p, t)


@njit(cache=True)
def _battery(ev, dv, row, s, p, t, v, mrange):
    _, dev_i, params = dv
    if not (mrange[BATTERY, 0] <= v <= mrange[BATTERY, 1]):
        return
    low = params[p, P_BATTERY_LOW_V]
    count = params[p, P_BATTERY_COUNT]
    if v < low:
        dev_i[s, I_B_LOW_N] += 1
        dev_i[s, I_B_OK_N] = 0
        if dev_i[s, I_B_LOW_N] >= count:
            _raise(ev, dv, row, s, p, BATTERY_LOW, R_BATTERY, t, low / max(v, 1e-3), t)
    elif v >= low + 0.1:
        dev_i[s, I_B_OK_N] += 1
        dev_i[s, I_B_LOW_N] = 0
        if dev_i[s, I_B_OK_N] >= count:
            _clear(ev, dv, row, s, p, BATTERY_LOW, R_RESTORED, t)


@njit(cache=True)
def _button(ev, dv, row, s, p, t, v):
    dev_f, _, params = dv
    press = dev_f[s, F_PRESS_TS]
    if v == 1.0:
        if np.isnan(press) or t - press >= params[p, P_PANIC_DEBOUNCE_S]:
            dev_f[s, F_PRESS_TS] = t
            _emit_dev(ev, dv, row, s, p, PANIC, RAISE, R_PANIC_PRESS, t, 1.0, t)
    elif v == 2.0:
        grace = params[p, P_CANCEL_GRACE_S]
        if 0.0 <= t - press <= grace:
            dev_f[s, F_PRESS_TS] = np.nan
            score = (t - press) / grace
            _emit_dev(ev, dv, row, s, p, FALSE_PRESS, RAISE, R_CANCEL_IN_GRACE, t, score, press)


@njit(cache=True)
def _hour_start(x, offset):
    """Start (epoch s) of the local hour containing x, and that hour's index 0..23."""
    k = np.floor((x + offset) / 3600.0)
    return k * 3600.0 - offset, int(k) % HOURS


@njit(cache=True)
def _rate_per_s(hv, h, hour, hp):
    """Learned rate of active periods at this hour: gamma-Poisson mean with the prior."""
    _, _, hh_cnt, hh_expo, params = hv
    days = params[hp, P_INACTIVITY_PRIOR_DAYS]
    day = params[hp, P_INACTIVITY_DAY_START_H] <= hour < params[hp, P_INACTIVITY_DAY_END_H]
    prior = params[hp, P_INACTIVITY_PRIOR_DAY_PER_H if day else P_INACTIVITY_PRIOR_NIGHT_PER_H]
    return (prior * days + hh_cnt[h, hour]) / (days * 3600.0 + hh_expo[h, hour])


@njit(cache=True)
def _accrue(hv, h, hp, t):
    """Add the time since the last accounting to each hour-of-day bin's exposure."""
    hh_f, _, hh_cnt, hh_expo, params = hv
    window_s = params[hp, P_INACTIVITY_WINDOW_DAYS] * 3600.0
    x = max(hh_f[h, H_EXPO_TS], t - params[hp, P_INACTIVITY_WINDOW_DAYS] * 86400.0)
    offset = params[hp, P_UTC_OFFSET_H] * 3600.0
    while x < t:
        start, hour = _hour_start(x, offset)
        end = min(start + 3600.0, t)
        hh_expo[h, hour] += end - x
        if hh_expo[h, hour] > window_s:
            shrink = window_s / hh_expo[h, hour]
            hh_expo[h, hour] *= shrink
            hh_cnt[h, hour] *= shrink
        x = end
    hh_f[h, H_EXPO_TS] = max(hh_f[h, H_EXPO_TS], t)


@njit(cache=True)
def _set_deadline(hv, h, deadline, score, rule):
    hv[0][h, H_DEADLINE] = deadline
    hv[0][h, H_DEADLINE_SCORE] = score
    hv[1][h, HI_DEADLINE_RULE] = rule


@njit(cache=True)
def inactivity_deadline(hv, h):
    """When the silence since the last activity becomes a wellness check (with rule and score)."""
    hh_f, hh_i, _, _, params = hv
    hp = hh_i[h, HI_PROW]
    last = hh_f[h, H_LAST_ACT]
    if hh_i[h, HI_AWAY] == 1 or np.isnan(last):
        _set_deadline(hv, h, np.inf, 1.0, R_PATTERN)
        return
    if params[hp, P_INFER_AWAY] > 0.0 and hh_i[h, HI_LAST_DOOR] == 1 and hh_i[h, HI_HAS_PIR] == 1:
        _set_deadline(hv, h, last + params[hp, P_AWAY_MAX_S], 1.0, R_AWAY_SILENCE)
        return
    need = params[hp, P_INACTIVITY_EXPECTED_EVENTS]
    earliest = last + params[hp, P_INACTIVITY_MIN_SILENCE_S]
    limit = last + params[hp, P_INACTIVITY_MAX_SILENCE_S]
    offset = params[hp, P_UTC_OFFSET_H] * 3600.0
    expected = 0.0
    x = last
    while x < limit:
        start, hour = _hour_start(x, offset)
        end = min(start + 3600.0, limit)
        lam = _rate_per_s(hv, h, hour, hp)
        if end >= earliest and expected + lam * (end - x) >= need:
            at = max(x + (need - expected) / lam, earliest)
            _set_deadline(hv, h, at, (expected + lam * (at - x)) / need, R_PATTERN)
            return
        expected += lam * (end - x)
        x = end
    _set_deadline(hv, h, limit, max(expected / need, 1.0), R_MAX_SILENCE)


@njit(cache=True)
def _inactivity_event(ev, hv, row, h, action, t):
    hh_f, hh_i = hv[0], hv[1]
    nan = np.nan
    rule = hh_i[h, HI_DEADLINE_RULE] if action == RAISE else R_RESTORED
    score = hh_f[h, H_DEADLINE_SCORE] if action == RAISE else 0.0
    _emit(
        ev,
        row,
        hh_i[h, HI_REP_SLOT],
        INACTIVITY,
        action,
        rule,
        t,
        score,
        nan,
        nan,
        nan,
        nan,
        nan,
        hh_f[h, H_LAST_ACT],
    )


@njit(cache=True)
def _activity(ev, hv, row, s, h, t, is_door):
    """A sign of life in household h: learn the pattern, end a silence, set the next deadline."""
    hh_f, hh_i, hh_cnt, _, params = hv
    if h < 0 or hh_i[h, HI_PROW] < 0:
        return
    hp = hh_i[h, HI_PROW]
    last = hh_f[h, H_LAST_ACT]
    if np.isnan(last):
        hh_f[h, H_EXPO_TS] = t
    elif t < last:
        if t > last - params[hp, P_CLOCK_JUMP_S]:
            return
        hh_f[h, H_EXPO_TS] = t
        hh_f[h, H_LAST_COUNTED] = np.nan
    elif hh_i[h, HI_LATCH] == 1:
        hh_i[h, HI_LATCH] = 0
        _inactivity_event(ev, hv, row, h, CLEAR, t)
    elif t >= hh_f[h, H_DEADLINE]:
        _inactivity_event(ev, hv, row, h, RAISE, hh_f[h, H_DEADLINE])
        _inactivity_event(ev, hv, row, h, CLEAR, t)
    _accrue(hv, h, hp, t)
    counted = hh_f[h, H_LAST_COUNTED]
    if np.isnan(counted) or t - counted >= params[hp, P_INACTIVITY_ACTIVE_PERIOD_S]:
        _, hour = _hour_start(t, params[hp, P_UTC_OFFSET_H] * 3600.0)
        hh_cnt[h, hour] += 1.0
        hh_f[h, H_LAST_COUNTED] = t
    hh_f[h, H_LAST_ACT] = t
    hh_i[h, HI_LAST_DOOR] = is_door
    hh_i[h, HI_REP_SLOT] = s
    inactivity_deadline(hv, h)


@njit(cache=True)
def _liveness(ev, dv, row, s, p, t, rx):
    """Note the arrival; a device back from a silence that no tick saw still gets its alert."""
    dev_f, dev_i, params = dv
    last_rx = dev_f[s, F_LAST_RX]
    if not np.isnan(last_rx):
        allowed = params[p, P_OFFLINE_AFTER_S]
        if dev_i[s, I_LATCH] & (1 << OFFLINE):
            _clear(ev, dv, row, s, p, OFFLINE, R_RESTORED, t)
        elif rx - last_rx > allowed:
            _raise(ev, dv, row, s, p, OFFLINE, R_SILENCE, last_rx + allowed, 1.0, last_rx)
            _clear(ev, dv, row, s, p, OFFLINE, R_RESTORED, t)
    if np.isnan(last_rx) or rx > last_rx:
        dev_f[s, F_LAST_RX] = rx


@njit(cache=True)
def _reading(ev, dv, hv, row, s, p, h, t, m, v, rx, mrange):
    _liveness(ev, dv, row, s, p, t, rx)
    if m == SMOKE:
        _smoke(ev, dv, row, s, p, t, v, mrange)
    elif m == TEMPERATURE:
        _temperature(ev, dv, row, s, p, t, v, mrange)
    elif m == BATTERY:
        _battery(ev, dv, row, s, p, t, v, mrange)
    elif m == CO:
        _co(ev, dv, row, s, p, t, v, mrange)
    elif m == MOTION:
        if v >= 0.5:
            _activity(ev, hv, row, s, h, t, 0)
    elif m == DOOR:
        if v == 0.0 or v == 1.0:
            _activity(ev, hv, row, s, h, t, 1)
    elif m == BUTTON:
        _button(ev, dv, row, s, p, t, v)
        _activity(ev, hv, row, s, h, t, 0)
    elif m == TAMPER:
        if v >= 0.5:
            _raise(ev, dv, row, s, p, TAMPER_KIND, R_TAMPER, t, 1.0, t)
        else:
            _clear(ev, dv, row, s, p, TAMPER_KIND, R_RESTORED, t)
    elif m == SELF_TEST:
        if v < 0.5:
            _set_fault(ev, dv, row, s, p, FAULT_SELF_TEST, R_SELF_TEST, t)
        else:
            _unset_fault(ev, dv, row, s, p, FAULT_SELF_TEST, t)


@njit(cache=True)
def _process_part(start, part, nparts, batch, dv, hv, prow, hh_of, mrange, ev):
    """Rows from `start` whose household falls in partition `part`; stops before overflow."""
    ts, slot, metric, value, rx = batch
    cap = ev[0].shape[0] - MAX_EVENTS_PER_READING
    for row in range(start, ts.shape[0]):
        s = slot[row]
        h = hh_of[s]
        if nparts > 1 and (h if h >= 0 else s) % nparts != part:
            continue
        if ev[2][0] > cap:
            return row
        _reading(ev, dv, hv, row, s, prow[s], h, ts[row], metric[row], value[row], rx[row], mrange)
    return ts.shape[0]


@njit(cache=True)
def process_rows(start, batch, dv, hv, prow, hh_of, mrange, ev):
    """Fold rows start.. of batch (ts, slot, metric, value, rx) into the state, in row order.

    Returns the next row to process: less than the batch length when the event buffer is full.
    """
    return _process_part(start, 0, 1, batch, dv, hv, prow, hh_of, mrange, ev)


@njit(cache=True, parallel=True)
def process_rows_parallel(starts, batch, dv, hv, prow, hh_of, mrange, ev_i, ev_f, ev_n):
    """As process_rows with households split across threads; `starts` (per part) in place.

    ev_i / ev_f / ev_n have a leading partition axis. Households never share a partition, so
    the threads touch disjoint state rows and the result equals the sequential one.
    """
    nparts = starts.shape[0]
    for part in prange(nparts):
        ev = (ev_i[part], ev_f[part], ev_n[part])
        starts[part] = _process_part(
            starts[part], part, nparts, batch, dv, hv, prow, hh_of, mrange, ev
        )


@njit(cache=True)
def tick_rows(now, start_rx, first_slot, first_hh, dv, hv, prow, ev):
    """Raise silences past their deadline at `now`; return (next slot, next household).

    A device never heard from counts as last heard at `start_rx` (when the engine began).
    Alerts carry the deadline as their time, so a late tick reports the same alert.
    """
    dev_f, dev_i, params = dv
    hh_f, hh_i = hv[0], hv[1]
    cap = ev[0].shape[0] - 1
    nan = np.nan
    for s in range(first_slot, dev_f.shape[0]):
        if ev[2][0] >= cap:
            return s, first_hh
        if dev_i[s, I_LATCH] & (1 << OFFLINE):
            continue
        last = dev_f[s, F_LAST_RX]
        if np.isnan(last):
            last = start_rx
        deadline = last + params[prow[s], P_OFFLINE_AFTER_S]
        if now > deadline:
            dev_i[s, I_LATCH] |= 1 << OFFLINE
            _emit(
                ev, -1, s, OFFLINE, RAISE, R_SILENCE, deadline, 1.0, nan, nan, nan, nan, nan, last
            )
    for h in range(first_hh, hh_f.shape[0]):
        if ev[2][0] >= cap:
            return dev_f.shape[0], h
        if hh_i[h, HI_LATCH] == 1 or hh_i[h, HI_PROW] < 0 or hh_i[h, HI_REP_SLOT] < 0:
            continue
        if now >= hh_f[h, H_DEADLINE]:
            hh_i[h, HI_LATCH] = 1
            _inactivity_event(ev, hv, -1, h, RAISE, hh_f[h, H_DEADLINE])
    return dev_f.shape[0], hh_f.shape[0]
