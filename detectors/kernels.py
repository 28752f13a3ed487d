"""Numba kernels: score every reading against its device's state and emit raise/clear events.

Pure functions over arrays, no I/O, no clock: `process_rows` folds a columnar batch into the
state arrays (detectors.state) in row order, `tick_rows` raises the time-driven conditions
(silence, inactivity) for a given `now`. Each event is one row of `ev_i` / `ev_f` (layout below);
`detectors.fusion` turns events into alerts. The public wrappers with input checks are in
`detectors.engine`; the slow reference they are tested against is bench/naive_detectors.py.

Conventions: device time `t` drives the filters; receive time `rx` drives liveness. Exponential
averages use alpha = dt / (tau + dt), which is exact in steady state for a ramp (the lag is tau
at any sampling interval), so the rate of rise is (fast - slow) / (tau_slow - tau_fast) with no
stored history. A reading with the device's last timestamp is a duplicate and is ignored; an older
one is late and ignored by the filters, unless it is more than clock_jump_s older, which means the
device clock was reset and the filters restart from it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numba import njit, prange

from detectors.codes import (
    AVAILABILITY,
    BATTERY,
    BATTERY_LOW,
    BUTTON,
    CLEAR,
    CO,
    CO_ALARM,
    CO_DECLARED,
    COOKING,
    DIRTY,
    DOOR,
    FALSE_PRESS,
    FAULT,
    FAULT_CO_RANGE,
    FAULT_DECLARED,
    FAULT_SELF_TEST,
    FAULT_SMOKE_RANGE,
    FAULT_SMOKE_STUCK,
    FAULT_TEMP_RANGE,
    FAULT_TEMP_STUCK,
    FIRE,
    FIRST_DECLARED,
    GAS,
    GAS_DECLARED,
    GATEWAY_OFFLINE,
    HEAT,
    HEAT_DECLARED,
    HUSH,
    HUSHED,
    INACTIVITY,
    LOW_BATTERY,
    MOTION,
    OFFLINE,
    PANIC,
    PRE_ALARM,
    R_BASELINE_DRIFT,
    R_BATTERY,
    R_CANCEL_IN_GRACE,
    R_CLEARED,
    R_CO_LEVEL,
    R_COOKING,
    R_DECLARED,
    R_DENSE_SMOKE_HEAT,
    R_DEVICE_RESTORED,
    R_GATEWAY_SILENCE,
    R_HEAT_FIXED,
    R_HEAT_PRE,
    R_HEAT_ROR,
    R_HUSH_BUTTON,
    R_IMPLAUSIBLE,
    R_MAX_SILENCE,
    R_PANIC_PRESS,
    R_RESTORED,
    R_SELF_TEST,
    R_SILENCE,
    R_SLOW_RISE,
    R_SMOKE_AFTER_HEAT,
    R_SMOKE_CO,
    R_SMOKE_HEAT,
    R_SMOKE_HIGH,
    R_SMOKE_PRE,
    R_SMOKE_RISING,
    R_SMOKE_VERIFIED,
    R_STUCK,
    R_TAMPER,
    RAISE,
    SELF_TEST,
    SENSOR_FAULT,
    SMOKE,
    SMOKE_ALARM,
    SMOKE_DECLARED,
    TAMPER,
    TAMPER_KIND,
    TEMPERATURE,
    WATER_DECLARED,
    WATER_LEAK,
)
from detectors.events import (
    EV_ACTION,
    EV_BASE,
    EV_CO,
    EV_KIND,
    EV_ROR,
    EV_ROW,
    EV_RULE,
    EV_SCORE,
    EV_SINCE,
    EV_SLOT,
    EV_SMOKE,
    EV_TRISE,
    EV_TS,
    MAX_EVENTS_PER_READING,
)
from detectors.params import (
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
    P_HUSH_S,
    P_INACTIVITY_ACTIVE_PERIOD_S,
    P_INACTIVITY_MIN_SILENCE_S,
    P_OFFLINE_AFTER_S,
    P_PANIC_DEBOUNCE_S,
    P_SMOKE_AFTER_HEAT_S,
    P_SMOKE_BASE_INIT_MAX_PCT,
    P_SMOKE_BASE_TAU_S,
    P_SMOKE_BASE_TRACK_PCT,
    P_SMOKE_CLEAR_PCT,
    P_SMOKE_ESCALATE_PCT,
    P_SMOKE_ESCALATE_S,
    P_SMOKE_FUSED_COUNT,
    P_SMOKE_FUSED_PCT,
    P_SMOKE_HIGH_COUNT,
    P_SMOKE_HIGH_PCT,
    P_SMOKE_PRE_COUNT,
    P_SMOKE_PRE_PCT,
    P_SMOKE_RATE_SCALE,
    P_SMOKE_RISE_PCT_PER_MIN,
    P_SMOKE_TAU_S,
    P_SMOKE_TREND_TAU_S,
    P_SMOKE_VERIFY_FALL_PCT_PER_MIN,
    P_SMOKE_VERIFY_PCT,
    P_SMOKE_VERIFY_S,
    P_STOVE_HEAT_C,
    P_STOVE_HEAT_C_PER_MIN,
    P_STOVE_SMOKE_PCT,
    P_STUCK_COUNT,
    P_STUCK_SMOKE_S,
    P_STUCK_TEMPERATURE_S,
    P_TEMP_BASE_TAU_S,
    P_TEMP_RATE_SCALE,
    P_TEMP_TAU_S,
    P_TEMP_TREND_TAU_S,
)
from detectors.prefetch import prefetch
from detectors.routine import (
    LEARN_GAP_S,
    count_period,
    routine_deadline,
    routine_learn,
    routine_start,
    week_hour,
)
from detectors.routine_columns import R_ACT, R_PER, R_WHY_CAP, R_WHY_LIMIT, R_WHY_REF, R_WHY_USUAL
from detectors.state import (
    DEVICE_COLUMNS,
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
    F_S_RISE_SINCE,
    F_S_STUCK_SINCE,
    F_S_STUCK_V,
    F_S_TS,
    F_S_VERIFY_SINCE,
    F_T_A,
    F_T_B,
    F_T_BASE,
    F_T_STUCK_SINCE,
    F_T_STUCK_V,
    F_T_TS,
    GW_LAST_RX,
    GW_SILENCE_S,
    GWI_LATCH,
    H_DEADLINE,
    H_DEADLINE_SCORE,
    H_LAST_ACT,
    H_LAST_COUNTED,
    HI_AWAY,
    HI_DEADLINE_RULE,
    HI_HAS_PIR,
    HI_LAST_DOOR,
    HI_LATCH,
    HI_PROW,
    HI_REP_SLOT,
    HI_STALE,
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
    I_UNREACHABLE,
    K_HEAT_STOP,
    RM_HUSH_TS,
    RM_HUSH_UNTIL,
)

# A clock reset restarts the filters: a dt this large makes every average take the new value.
RESTART_DT = 1.0e12
# Baselines and the CUSUM never move by more than this many seconds' worth at once, so a long gap
# or a clock jump cannot pull them to one reading.
BASE_DT_CAP_S = 600.0
# How many readings ahead the device row is prefetched.
PREFETCH_AHEAD = 16
CUSUM_DT_CAP_S = 120.0

FIRE_BIT = 1 << FIRE
SMOKE_BIT = 1 << SMOKE_ALARM
HEAT_BIT = 1 << HEAT
PRE_BIT = 1 << PRE_ALARM
OFFLINE_BIT = 1 << OFFLINE
BATTERY_BIT = 1 << BATTERY_LOW
TAMPER_BIT = 1 << TAMPER_KIND
DIRTY_BIT = 1 << DIRTY
CO_BIT = 1 << CO_ALARM
COOKING_BIT = 1 << COOKING

# Speed: numba does not inline one compiled function into another, and every call that passes
# arrays pays reference counting. So the per-reading path is made of inline="always" functions,
# and ordinary calls happen only when an event is emitted (rare). Events are written through
# (ev_i, ev_f, ev_n), ev_n[0] counting them.


# -- scalar helpers -------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _alpha(dt, tau):
    return dt / (tau + dt)


@njit(cache=True, inline="always")
def _rate_per_min(fast, slow, scale):
    """Rate of rise per minute from a fast and a slow average; scale = 60 / (tau_slow - tau_fast)
    (a ramp lags each average by its tau, so the gap between them is slope * (tau difference))."""
    return (fast - slow) * scale


@njit(cache=True, inline="always")
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


@njit(cache=True, inline="always")
def _count(dev_i, s, counter, hit):
    dev_i[s, counter] = dev_i[s, counter] + 1 if hit else 0


# -- events (rare path) ---------------------------------------------------------------------
@njit(cache=True)
def _emit(
    ev_i,
    ev_f,
    ev_n,
    row,
    slot,
    kind,
    action,
    rule,
    t,
    score,
    x_smoke,
    x_base,
    x_trise,
    x_ror,
    x_co,
    since,
):
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
def _emit_dev(ev_i, ev_f, ev_n, dev_f, params, row, s, p, kind, action, rule, t, score, since):
    """An event carrying the device's current figures as evidence."""
    ror = _rate_per_min(dev_f[s, F_T_A], dev_f[s, F_T_B], params[p, P_TEMP_RATE_SCALE])
    _emit(
        ev_i,
        ev_f,
        ev_n,
        row,
        s,
        kind,
        action,
        rule,
        t,
        score,
        dev_f[s, F_S_A] - dev_f[s, F_S_BASE],
        dev_f[s, F_S_BASE],
        dev_f[s, F_T_A] - dev_f[s, F_T_BASE],
        ror,
        dev_f[s, F_C_A] - dev_f[s, F_C_BASE],
        since,
    )


@njit(cache=True)
def _raise(ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, kind, rule, t, score, since):
    bit = 1 << kind
    if dev_i[s, I_LATCH] & bit:
        return
    dev_i[s, I_LATCH] |= bit
    _emit_dev(ev_i, ev_f, ev_n, dev_f, params, row, s, p, kind, RAISE, rule, t, score, since)


@njit(cache=True)
def _clear(ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, kind, rule, t):
    bit = 1 << kind
    if (dev_i[s, I_LATCH] & bit) == 0:
        return
    dev_i[s, I_LATCH] &= ~bit
    _emit_dev(ev_i, ev_f, ev_n, dev_f, params, row, s, p, kind, CLEAR, rule, t, 0.0, t)


@njit(cache=True)
def _fault(ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, bit, on, rule, t):
    """Set or unset one sensor-fault cause; sensor_fault is raised while any cause is set."""
    before = dev_i[s, I_FAULTS]
    after = (before | bit) if on else (before & ~bit)
    dev_i[s, I_FAULTS] = after
    if after != 0 and before == 0:
        _raise(ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, SENSOR_FAULT, rule, t, 1.0, t)
    elif after == 0 and before != 0:
        _clear(ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, SENSOR_FAULT, R_RESTORED, t)


@njit(cache=True)
def _offline_gap(ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, t, last_rx):
    """Back from a silence no tick saw: the offline alert a tick would have raised, then its end."""
    allowed = params[p, P_OFFLINE_AFTER_S]
    _raise(
        ev_i,
        ev_f,
        ev_n,
        dev_f,
        dev_i,
        params,
        row,
        s,
        p,
        OFFLINE,
        R_SILENCE,
        last_rx + allowed,
        1.0,
        last_rx,
    )
    _clear(ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, OFFLINE, R_RESTORED, t)


@njit(cache=True)
def _button(ev_i, ev_f, ev_n, dev_f, params, row, s, p, t, v):
    press = dev_f[s, F_PRESS_TS]
    if v == 1.0:
        if np.isnan(press) or t - press >= params[p, P_PANIC_DEBOUNCE_S]:
            dev_f[s, F_PRESS_TS] = t
            _emit_dev(
                ev_i, ev_f, ev_n, dev_f, params, row, s, p, PANIC, RAISE, R_PANIC_PRESS, t, 1.0, t
            )
    elif v == 2.0:
        grace = params[p, P_CANCEL_GRACE_S]
        if 0.0 <= t - press <= grace:
            dev_f[s, F_PRESS_TS] = np.nan
            _emit_dev(
                ev_i,
                ev_f,
                ev_n,
                dev_f,
                params,
                row,
                s,
                p,
                FALSE_PRESS,
                RAISE,
                R_CANCEL_IN_GRACE,
                t,
                (t - press) / grace,
                press,
            )


@njit(cache=True)
def _declared(ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, m, on, t):
    """A state the device declares itself (1 raised, 0 restored): its own alarm, low battery,
    trouble, or its availability (0 = offline). Repeats of a state change nothing."""
    if m == FAULT:
        rule = R_DECLARED if on else R_DEVICE_RESTORED
        _fault(ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, FAULT_DECLARED, on, rule, t)
        return
    kind = OFFLINE
    if m == SMOKE_DECLARED:
        kind = SMOKE_ALARM
    elif m == HEAT_DECLARED:
        kind = HEAT
    elif m == CO_DECLARED:
        kind = CO_ALARM
    elif m == GAS_DECLARED:
        kind = GAS
    elif m == WATER_DECLARED:
        kind = WATER_LEAK
    elif m == LOW_BATTERY:
        kind = BATTERY_LOW
    else:  # AVAILABILITY: 1 online, 0 offline
        on = not on
        dev_i[s, I_UNREACHABLE] = 1 if on else 0
    if on:
        _raise(ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, kind, R_DECLARED, t, 1.0, t)
    else:
        _clear(ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, kind, R_DEVICE_RESTORED, t)


@njit(cache=True)
def _hush(ev_i, ev_f, ev_n, dev_f, params, room_f, row, s, p, g, t):
    """The silence button: the room's smoke-only alarms are hushed for hush_s (0: this room
    has no hush); the press is an event either way, so it reaches the incident's timeline."""
    hush_s = params[p, P_HUSH_S]
    if hush_s > 0.0:
        until = room_f[g, RM_HUSH_UNTIL]
        if not until > t:
            room_f[g, RM_HUSH_TS] = t
        if not until >= t + hush_s:
            room_f[g, RM_HUSH_UNTIL] = t + hush_s
    _emit_dev(
        ev_i, ev_f, ev_n, dev_f, params, row, s, p, HUSHED, RAISE, R_HUSH_BUTTON, t, hush_s, t
    )


# -- what the per-reading path asks the event functions to emit -------------
# Codes returned by the channel updates; the loop emits events only when a code asks for it.
C_USED = 1  # the reading was applied (smoke, temperature, CO: run the fire rules)
C_RANGE_ON = 2  # implausible values reached fault_count
C_RANGE_OFF = 4  # a plausible value ended an implausible-value fault
C_STUCK_ON = 8
C_STUCK_OFF = 16
C_ON = 32  # the channel's own condition begins: dirty, heat (fixed), CO, battery, tamper, test
C_ON2 = 64  # heat by rate of rise
C_OFF = 128  # the channel's own condition ends

# Codes returned by the fire rules.
F_FIRE_HEAT = 1
F_FIRE_CO = 2
F_SMOKE_HIGH = 4
F_SMOKE_RISING = 8
F_SLOW_RISE = 16
F_SMOKE_VERIFIED = 512
F_PRE_SMOKE = 32
F_PRE_HEAT = 64
F_SMOKE_CLEAR = 128
F_CLEAR = 256  # pre-alarm and fire end
F_FIRE_DENSE = 1024  # a stove's room: smoke beyond what cooking makes, with rising heat
F_SMOKE_AFTER_HEAT = 2048  # a stove's room: smoke still rising after the heat stopped
F_COOKING = 4096  # a stove's room: smoke without fire evidence, the shape of cooking


@njit(cache=True, inline="always")
def _switch(on, latched):
    """A two-state input (tamper, self-test failed): C_ON / C_OFF on a change."""
    if on and not latched:
        return C_ON
    if latched and not on:
        return C_OFF
    return 0


@njit(cache=True, inline="always")
def _heat_now(dev_f, params, s, p, t):
    """(rise over baseline, rate of rise °C/min) for evidence and scores."""
    trise = dev_f[s, F_T_A] - dev_f[s, F_T_BASE]
    ror = _rate_per_min(dev_f[s, F_T_A], dev_f[s, F_T_B], params[p, P_TEMP_RATE_SCALE])
    return trise, ror


@njit(cache=True, inline="always")
def _smoke_rate(dev_f, params, s, p):
    return _rate_per_min(dev_f[s, F_S_A], dev_f[s, F_S_B], params[p, P_SMOKE_RATE_SCALE])


@njit(cache=True, inline="always")
def _after_heat(t, heat_stop, rise):
    """Since both the heat stopped and the smoke kept rising (NaN: one of them is not)."""
    if heat_stop >= rise:
        return t - heat_stop
    return t - rise if rise > heat_stop else np.nan


@njit(cache=True, inline="always")
def _since(dev_f, s, t):
    since = dev_f[s, F_S_PRE_SINCE]
    return t if np.isnan(since) else since


# -- per-reading events (rare path) ---------------------------------------------------------
@njit(cache=True)
def _liveness_events(lv, ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, t, last_rx):
    if lv == 2:
        # Back from a silence no tick saw: the offline alert a tick would have raised.
        allowed = params[p, P_OFFLINE_AFTER_S]
        _raise(
            ev_i,
            ev_f,
            ev_n,
            dev_f,
            dev_i,
            params,
            row,
            s,
            p,
            OFFLINE,
            R_SILENCE,
            last_rx + allowed,
            1.0,
            last_rx,
        )
    dev_i[s, I_UNREACHABLE] = 0  # it reported: reachable again, whatever its hub said
    _clear(ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, OFFLINE, R_RESTORED, t)


@njit(cache=True)
def _channel_events(code, m, ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, t, v):
    """Events a channel update asked for (code), for metric m."""
    range_bit = (
        FAULT_TEMP_RANGE if m == TEMPERATURE else (FAULT_CO_RANGE if m == CO else FAULT_SMOKE_RANGE)
    )
    stuck_bit = FAULT_TEMP_STUCK if m == TEMPERATURE else FAULT_SMOKE_STUCK
    if code & C_RANGE_ON:
        _fault(ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, range_bit, True, R_IMPLAUSIBLE, t)
    if code & C_RANGE_OFF:
        _fault(ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, range_bit, False, R_RESTORED, t)
    if code & C_STUCK_ON:
        _fault(ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, stuck_bit, True, R_STUCK, t)
    if code & C_STUCK_OFF:
        _fault(ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, stuck_bit, False, R_RESTORED, t)
    if code & (C_ON | C_ON2 | C_OFF) == 0:
        return
    on = (code & (C_ON | C_ON2)) != 0
    if m == SELF_TEST:
        rule = R_SELF_TEST if on else R_RESTORED
        _fault(ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, FAULT_SELF_TEST, on, rule, t)
        return
    kind, rule, score = TAMPER_KIND, R_TAMPER, 1.0
    if m == SMOKE:
        base = dev_f[s, F_S_BASE]
        kind, rule, score = DIRTY, R_BASELINE_DRIFT, base / params[p, P_DIRTY_PCT]
    elif m == TEMPERATURE and code & C_ON:
        kind, rule, score = HEAT, R_HEAT_FIXED, v / params[p, P_HEAT_FIXED_C]
    elif m == TEMPERATURE:
        ror = _heat_now(dev_f, params, s, p, t)[1]
        kind, rule, score = HEAT, R_HEAT_ROR, ror / params[p, P_HEAT_ROR_C_PER_MIN]
    elif m == CO:
        kind, rule, score = CO_ALARM, R_CO_LEVEL, dev_f[s, F_C_A] / params[p, P_CO_ALARM_PPM]
    elif m == BATTERY:
        kind, rule, score = BATTERY_LOW, R_BATTERY, params[p, P_BATTERY_LOW_V] / max(v, 1e-3)
    if on:
        _raise(ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, kind, rule, t, score, t)
    else:
        end_rule = R_RESTORED if m in (BATTERY, TAMPER) else R_CLEARED
        _clear(ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, kind, end_rule, t)


@njit(cache=True)
def _fire_events(code, ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, t):
    """Events the fire rules asked for (code), with their scores."""
    e = dev_f[s, F_S_A] - dev_f[s, F_S_BASE]
    since = _since(dev_f, s, t)
    if code & (F_FIRE_HEAT | F_FIRE_CO | F_FIRE_DENSE):
        rule = R_SMOKE_HEAT if code & F_FIRE_HEAT else R_SMOKE_CO
        if code & F_FIRE_DENSE:
            rule = R_DENSE_SMOKE_HEAT
        _raise(
            ev_i,
            ev_f,
            ev_n,
            dev_f,
            dev_i,
            params,
            row,
            s,
            p,
            FIRE,
            rule,
            t,
            e / params[p, P_SMOKE_FUSED_PCT],
            since,
        )
    if code & F_SMOKE_HIGH:
        _raise(
            ev_i,
            ev_f,
            ev_n,
            dev_f,
            dev_i,
            params,
            row,
            s,
            p,
            SMOKE_ALARM,
            R_SMOKE_HIGH,
            t,
            e / params[p, P_SMOKE_HIGH_PCT],
            since,
        )
    if code & F_SMOKE_RISING:
        score = _smoke_rate(dev_f, params, s, p) / params[p, P_SMOKE_RISE_PCT_PER_MIN]
        _raise(
            ev_i,
            ev_f,
            ev_n,
            dev_f,
            dev_i,
            params,
            row,
            s,
            p,
            SMOKE_ALARM,
            R_SMOKE_RISING,
            t,
            score,
            since,
        )
    if code & F_SMOKE_VERIFIED:
        score = e / params[p, P_SMOKE_VERIFY_PCT]
        _raise(
            ev_i,
            ev_f,
            ev_n,
            dev_f,
            dev_i,
            params,
            row,
            s,
            p,
            SMOKE_ALARM,
            R_SMOKE_VERIFIED,
            t,
            score,
            dev_f[s, F_S_VERIFY_SINCE],
        )
    if code & F_SMOKE_AFTER_HEAT:
        score = _smoke_rate(dev_f, params, s, p) / params[p, P_SMOKE_RISE_PCT_PER_MIN]
        _raise(
            ev_i,
            ev_f,
            ev_n,
            dev_f,
            dev_i,
            params,
            row,
            s,
            p,
            SMOKE_ALARM,
            R_SMOKE_AFTER_HEAT,
            t,
            score,
            since,
        )
    if code & F_SLOW_RISE:
        score = dev_f[s, F_S_CUSUM] / params[p, P_CUSUM_H_PCT_MIN]
        _raise(
            ev_i,
            ev_f,
            ev_n,
            dev_f,
            dev_i,
            params,
            row,
            s,
            p,
            SMOKE_ALARM,
            R_SLOW_RISE,
            t,
            score,
            since,
        )
    if code & F_COOKING:
        _raise(
            ev_i,
            ev_f,
            ev_n,
            dev_f,
            dev_i,
            params,
            row,
            s,
            p,
            COOKING,
            R_COOKING,
            t,
            e / params[p, P_SMOKE_PRE_PCT],
            since,
        )
    if code & F_PRE_SMOKE:
        _raise(
            ev_i,
            ev_f,
            ev_n,
            dev_f,
            dev_i,
            params,
            row,
            s,
            p,
            PRE_ALARM,
            R_SMOKE_PRE,
            t,
            e / params[p, P_SMOKE_PRE_PCT],
            since,
        )
    if code & F_PRE_HEAT:
        trise, ror = _heat_now(dev_f, params, s, p, t)
        score = min(trise / params[p, P_HEAT_RISING_C], ror / params[p, P_HEAT_RISING_C_PER_MIN])
        _raise(
            ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, PRE_ALARM, R_HEAT_PRE, t, score, t
        )
    if code & F_SMOKE_CLEAR:
        _clear(ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, SMOKE_ALARM, R_CLEARED, t)
    if code & F_CLEAR:
        _clear(ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, PRE_ALARM, R_CLEARED, t)
        _clear(ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, COOKING, R_CLEARED, t)
        _clear(ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, FIRE, R_CLEARED, t)


# -- households: activity and inactivity ----------------------------------------------------
@njit(cache=True)
def inactivity_deadline(hh_f, hh_i, params, h):
    """When the silence since the last activity becomes a wellness check (with rule and score):
    the household's learned routine decides (detectors.routine)."""
    hp = hh_i[h, HI_PROW]
    last = hh_f[h, H_LAST_ACT]
    hh_i[h, HI_STALE] = 0
    deadline, rule = np.inf, R_MAX_SILENCE
    if hh_i[h, HI_AWAY] == 0 and not np.isnan(last):
        after_door = hh_i[h, HI_LAST_DOOR] == 1 and hh_i[h, HI_HAS_PIR] == 1
        deadline, rule = routine_deadline(hh_f, params, h, hp, last, after_door)
    hh_f[h, H_DEADLINE] = deadline
    hh_f[h, H_DEADLINE_SCORE] = 1.0
    hh_i[h, HI_DEADLINE_RULE] = rule


@njit(cache=True)
def _inactivity_event(ev_i, ev_f, ev_n, hh_f, hh_i, row, h, action, t):
    nan = np.nan
    rule = hh_i[h, HI_DEADLINE_RULE] if action == RAISE else R_RESTORED
    score = hh_f[h, H_DEADLINE_SCORE] if action == RAISE else 0.0
    # The learned figures behind the check travel in the figure slots (explain_routine).
    raised = action == RAISE
    _emit(
        ev_i,
        ev_f,
        ev_n,
        row,
        hh_i[h, HI_REP_SLOT],
        INACTIVITY,
        action,
        rule,
        t,
        score,
        hh_f[h, R_WHY_REF] if raised else nan,
        hh_f[h, R_WHY_USUAL] if raised else nan,
        hh_f[h, R_WHY_LIMIT] if raised else nan,
        hh_f[h, R_WHY_CAP] if raised else nan,
        nan,
        hh_f[h, H_LAST_ACT],
    )


@njit(cache=True)
def _activity_edge(ev_i, ev_f, ev_n, hh_f, hh_i, params, row, h, t):
    """The uncommon cases of activity: first ever, late, or ending a silence.

    Returns False when the reading is to be ignored: activity older than the household's latest
    says nothing of the silence since, however late (a reading delivered late through another
    gateway, or after an NB-IoT device's sleep). Taken for a clock reset, as a device's filters
    take it, it moved the silence's start back by hours and raised a check at once.
    """
    last = hh_f[h, H_LAST_ACT]
    if np.isnan(last):
        routine_start(hh_f, h, t)
    elif t < last:
        return False
    elif hh_i[h, HI_LATCH] == 1:
        hh_i[h, HI_LATCH] = 0
        _inactivity_event(ev_i, ev_f, ev_n, hh_f, hh_i, row, h, CLEAR, t)
    else:
        if hh_i[h, HI_STALE]:
            inactivity_deadline(hh_f, hh_i, params, h)
        deadline = hh_f[h, H_DEADLINE]
        if t >= deadline:
            _inactivity_event(ev_i, ev_f, ev_n, hh_f, hh_i, row, h, RAISE, deadline)
            _inactivity_event(ev_i, ev_f, ev_n, hh_f, hh_i, row, h, CLEAR, t)
    return True


@njit(cache=True)
def _gateway_event(ev_i, ev_f, ev_n, gw_f, gw_i, row, g, action, t, since):
    """A gateway presumed cut off (every device behind it silent), or back; slot = gateway."""
    gw_i[g, GWI_LATCH] = 1 if action == RAISE else 0
    rule = R_GATEWAY_SILENCE if action == RAISE else R_RESTORED
    nan = np.nan
    _emit(
        ev_i,
        ev_f,
        ev_n,
        row,
        g,
        GATEWAY_OFFLINE,
        action,
        rule,
        t,
        1.0 if action == RAISE else 0.0,
        nan,
        nan,
        nan,
        nan,
        nan,
        since,
    )


# -- batches --------------------------------------------------------------------------------
# The per-reading path below is written out in one function on purpose: numba does not inline
# one compiled function into another without reference-counting every array it is handed, and
# those atomic operations cost more than the detection itself (measured 4-10x). Helpers on this
# path take scalars only; anything that passes arrays runs only when an event is emitted.
@njit(cache=True)
def _process_part(start, stop, rows, batch, dv, hv, gv, index, mrange, ev):
    """Rows rows[start:stop] (or start:stop when `rows` is empty); stops before overflow.

    Returns the position reached: `stop`, or where the event buffer ran full.
    """
    ts, slot, metric, value, rx = batch
    dev_f, dev_i, params, kit, room_f = dv
    prow, hh_of, gw_of, room_of = index
    hh_f, hh_i = hv
    gw_f, gw_i = gv
    ev_i, ev_f, ev_n = ev
    cap = ev_i.shape[0] - MAX_EVENTS_PER_READING
    direct = rows.shape[0] == 0
    for k in range(start, stop):
        if ev_n[0] > cap:
            return k
        ahead = k + PREFETCH_AHEAD
        if ahead < stop:
            # The state rows a reading a few rows on will need: its device's, and for activity
            # its household's (motion is rare but its row is cold).
            row_ahead = ahead if direct else rows[ahead]
            s_ahead = slot[row_ahead]
            m_ahead = metric[row_ahead]
            if m_ahead in (MOTION, DOOR):
                prefetch(dev_f, s_ahead, F_LAST_RX)  # activity: liveness alone, the first line
            else:
                for col in range(0, DEVICE_COLUMNS, 8):
                    prefetch(dev_f, s_ahead, col)
            h_ahead = hh_of[s_ahead]
            if m_ahead in (MOTION, DOOR, BUTTON) and h_ahead >= 0:
                # Only the lines every activity touches (its own figures, two lines, and the
                # period count with its hour-of-week cell): the routine's ~900 columns are read
                # on a long gap alone, and asking for the whole row halved the rate of the
                # readings around it. The device's policy row stands for the household's here:
                # a wrong guess costs a wasted hint, never a result.
                prefetch(hh_f, h_ahead, H_LAST_ACT)
                prefetch(hh_f, h_ahead, HI_STALE)
                prefetch(hh_f, h_ahead, R_PER)
                wh = week_hour(ts[row_ahead], params, prow[s_ahead])
                prefetch(hh_f, h_ahead, R_ACT + wh)
        row = k if direct else rows[k]
        s = slot[row]
        h = hh_of[s]
        p = prow[s]
        t = ts[row]
        m = metric[row]
        v = value[row]
        lo = mrange[m, 0]
        hi = mrange[m, 1]

        # Liveness: judged on arrival; a reading ends an offline alert or an unseen silence.
        # A hub's word that the device is unreachable (availability 0) is no sign of life.
        if not (m == AVAILABILITY and v < 0.5):
            last_rx = dev_f[s, F_LAST_RX]
            if not last_rx >= rx[row]:
                dev_f[s, F_LAST_RX] = rx[row]
            if dev_i[s, I_LATCH] & OFFLINE_BIT:
                _liveness_events(1, ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, t, last_rx)
            elif rx[row] - last_rx > params[p, P_OFFLINE_AFTER_S]:  # False while never seen
                _liveness_events(2, ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, t, last_rx)
        g = gw_of[s]
        gw_last = gw_f[g, GW_LAST_RX]
        if not gw_last >= rx[row]:
            gw_f[g, GW_LAST_RX] = rx[row]
        if gw_i[g, GWI_LATCH]:
            _gateway_event(ev_i, ev_f, ev_n, gw_f, gw_i, row, g, CLEAR, t, gw_last)
        elif rx[row] - gw_last > gw_f[g, GW_SILENCE_S]:
            _gateway_event(
                ev_i,
                ev_f,
                ev_n,
                gw_f,
                gw_i,
                row,
                g,
                RAISE,
                gw_last + gw_f[g, GW_SILENCE_S],
                gw_last,
            )
            _gateway_event(ev_i, ev_f, ev_n, gw_f, gw_i, row, g, CLEAR, t, gw_last)

        code = 0
        act = -1
        if m in (SMOKE, TEMPERATURE, CO):
            # Plausibility: implausible values count towards a sensor fault and are dropped.
            if m == SMOKE:
                bad_n, range_bit, f_ts = I_S_BAD_N, FAULT_SMOKE_RANGE, F_S_TS
            elif m == TEMPERATURE:
                bad_n, range_bit, f_ts = I_T_BAD_N, FAULT_TEMP_RANGE, F_T_TS
            else:
                bad_n, range_bit, f_ts = I_C_BAD_N, FAULT_CO_RANGE, F_C_TS
            if lo <= v <= hi:
                dev_i[s, bad_n] = 0
                code = C_USED | (C_RANGE_OFF if dev_i[s, I_FAULTS] & range_bit else 0)
            else:
                dev_i[s, bad_n] += 1
                fault_due = dev_i[s, bad_n] >= params[p, P_FAULT_COUNT]
                code = C_RANGE_ON if fault_due and (dev_i[s, I_FAULTS] & range_bit) == 0 else 0
            first = np.isnan(dev_f[s, f_ts])
            dt = _step_dt(t, dev_f[s, f_ts], params[p, P_CLOCK_JUMP_S])
            if dt < 0.0:
                code &= ~C_USED  # duplicate or late
            latch = dev_i[s, I_LATCH]
            if code & C_USED and m == SMOKE:
                # Smoke: smoothed and trend averages, clean-air baseline, CUSUM, persistence.
                if first:
                    dev_f[s, F_S_A] = v
                    dev_f[s, F_S_B] = v
                    dev_f[s, F_S_BASE] = min(v, params[p, P_SMOKE_BASE_INIT_MAX_PCT])
                    dev_f[s, F_S_STUCK_V] = v
                    dev_f[s, F_S_STUCK_SINCE] = t
                    dev_i[s, I_S_STUCK_N] = 1
                else:
                    dev_f[s, F_S_A] += _alpha(dt, params[p, P_SMOKE_TAU_S]) * (v - dev_f[s, F_S_A])
                    dev_f[s, F_S_B] += _alpha(dt, params[p, P_SMOKE_TREND_TAU_S]) * (
                        v - dev_f[s, F_S_B]
                    )
                    stuck_s = params[p, P_STUCK_SMOKE_S]
                    if stuck_s > 0.0:
                        if v == dev_f[s, F_S_STUCK_V]:
                            dev_i[s, I_S_STUCK_N] += 1
                            if (
                                (dev_i[s, I_FAULTS] & FAULT_SMOKE_STUCK) == 0
                                and t - dev_f[s, F_S_STUCK_SINCE] >= stuck_s
                                and dev_i[s, I_S_STUCK_N] >= params[p, P_STUCK_COUNT]
                            ):
                                code |= C_STUCK_ON
                        else:
                            dev_f[s, F_S_STUCK_V] = v
                            dev_f[s, F_S_STUCK_SINCE] = t
                            dev_i[s, I_S_STUCK_N] = 1
                            if dev_i[s, I_FAULTS] & FAULT_SMOKE_STUCK:
                                code |= C_STUCK_OFF
                dev_f[s, F_S_TS] = t
                base = dev_f[s, F_S_BASE]
                if dev_f[s, F_S_A] - base < params[p, P_SMOKE_BASE_TRACK_PCT]:
                    step = _alpha(min(dt, BASE_DT_CAP_S), params[p, P_SMOKE_BASE_TAU_S])
                    base += step * (v - base)
                    dev_f[s, F_S_BASE] = base
                if base >= params[p, P_DIRTY_PCT] and (latch & DIRTY_BIT) == 0:
                    code |= C_ON
                elif latch & DIRTY_BIT and base < params[p, P_DIRTY_CLEAR_PCT]:
                    code |= C_OFF
                e = dev_f[s, F_S_A] - base
                cusum = (
                    dev_f[s, F_S_CUSUM]
                    + (e - params[p, P_CUSUM_K_PCT]) * min(dt, CUSUM_DT_CAP_S) / 60.0
                )
                # Capped, so a long fire does not leave a debt that outlives the smoke.
                cap_g = 2.0 * params[p, P_CUSUM_H_PCT_MIN]
                dev_f[s, F_S_CUSUM] = min(max(cusum, 0.0), cap_g)
                pre_n = dev_i[s, I_S_PRE_N] + 1 if e >= params[p, P_SMOKE_PRE_PCT] else 0
                clear_n = dev_i[s, I_S_CLEAR_N] + 1 if e < params[p, P_SMOKE_CLEAR_PCT] else 0
                dev_i[s, I_S_PRE_N] = pre_n
                dev_i[s, I_S_CLEAR_N] = clear_n
                fused = e >= params[p, P_SMOKE_FUSED_PCT]
                dev_i[s, I_S_FUSED_N] = dev_i[s, I_S_FUSED_N] + 1 if fused else 0
                high = e >= params[p, P_SMOKE_HIGH_PCT]
                dev_i[s, I_S_HIGH_N] = dev_i[s, I_S_HIGH_N] + 1 if high else 0
                if pre_n >= params[p, P_SMOKE_PRE_COUNT]:
                    if np.isnan(dev_f[s, F_S_PRE_SINCE]):
                        dev_f[s, F_S_PRE_SINCE] = t
                elif clear_n >= params[p, P_CLEAR_COUNT]:
                    dev_f[s, F_S_PRE_SINCE] = np.nan  # the episode is over
                    dev_f[s, F_S_CUSUM] = 0.0
                srate = _rate_per_min(
                    dev_f[s, F_S_A],
                    dev_f[s, F_S_B],
                    params[p, P_SMOKE_RATE_SCALE],
                )
                if srate >= params[p, P_SMOKE_RISE_PCT_PER_MIN] and e >= params[p, P_SMOKE_PRE_PCT]:
                    if np.isnan(dev_f[s, F_S_RISE_SINCE]):
                        dev_f[s, F_S_RISE_SINCE] = t
                else:
                    dev_f[s, F_S_RISE_SINCE] = np.nan
                fall = params[p, P_SMOKE_VERIFY_FALL_PCT_PER_MIN]
                if e < params[p, P_SMOKE_VERIFY_PCT]:
                    dev_f[s, F_S_VERIFY_SINCE] = np.nan
                elif np.isnan(dev_f[s, F_S_VERIFY_SINCE]) or (fall > 0.0 and srate <= -fall):
                    # Clearing smoke (a cooking plume after the pan is off) restarts the window.
                    dev_f[s, F_S_VERIFY_SINCE] = t
            elif code & C_USED and m == TEMPERATURE:
                # Heat: smoothed and trend averages (rate of rise), baseline, fixed and ROR.
                tau_a = params[p, P_TEMP_TAU_S]
                tau_b = params[p, P_TEMP_TREND_TAU_S]
                if first:
                    dev_f[s, F_T_A] = v
                    dev_f[s, F_T_B] = v
                    dev_f[s, F_T_BASE] = v
                    dev_f[s, F_T_STUCK_V] = v
                    dev_f[s, F_T_STUCK_SINCE] = t
                    dev_i[s, I_T_STUCK_N] = 1
                else:
                    dev_f[s, F_T_A] += _alpha(dt, tau_a) * (v - dev_f[s, F_T_A])
                    dev_f[s, F_T_B] += _alpha(dt, tau_b) * (v - dev_f[s, F_T_B])
                    stuck_s = params[p, P_STUCK_TEMPERATURE_S]
                    if stuck_s > 0.0:
                        if v == dev_f[s, F_T_STUCK_V]:
                            dev_i[s, I_T_STUCK_N] += 1
                            if (
                                (dev_i[s, I_FAULTS] & FAULT_TEMP_STUCK) == 0
                                and t - dev_f[s, F_T_STUCK_SINCE] >= stuck_s
                                and dev_i[s, I_T_STUCK_N] >= params[p, P_STUCK_COUNT]
                            ):
                                code |= C_STUCK_ON
                        else:
                            dev_f[s, F_T_STUCK_V] = v
                            dev_f[s, F_T_STUCK_SINCE] = t
                            dev_i[s, I_T_STUCK_N] = 1
                            if dev_i[s, I_FAULTS] & FAULT_TEMP_STUCK:
                                code |= C_STUCK_OFF
                dev_f[s, F_T_TS] = t
                ror = _rate_per_min(dev_f[s, F_T_A], dev_f[s, F_T_B], params[p, P_TEMP_RATE_SCALE])
                if ror < 0.5 * params[p, P_HEAT_RISING_C_PER_MIN]:
                    base = dev_f[s, F_T_BASE]
                    step = _alpha(min(dt, BASE_DT_CAP_S), params[p, P_TEMP_BASE_TAU_S])
                    dev_f[s, F_T_BASE] = base + step * (v - base)
                trise = dev_f[s, F_T_A] - dev_f[s, F_T_BASE]
                fixed_c = params[p, P_HEAT_FIXED_C]
                ror_c = params[p, P_HEAT_ROR_C_PER_MIN]
                fixed_n = dev_i[s, I_T_FIXED_N] + 1 if v >= fixed_c else 0
                ror_hit = ror >= ror_c and trise >= params[p, P_HEAT_ROR_MIN_RISE_C]
                ror_n = dev_i[s, I_T_ROR_N] + 1 if ror_hit else 0
                cool = v < fixed_c - params[p, P_HEAT_CLEAR_MARGIN_C] and ror < 0.5 * ror_c
                cool_n = dev_i[s, I_T_CLEAR_N] + 1 if cool else 0
                dev_i[s, I_T_FIXED_N] = fixed_n
                dev_i[s, I_T_ROR_N] = ror_n
                dev_i[s, I_T_CLEAR_N] = cool_n
                if (latch & HEAT_BIT) == 0:
                    if fixed_n >= params[p, P_HEAT_FIXED_COUNT]:
                        code |= C_ON
                    elif ror_n >= params[p, P_HEAT_ROR_COUNT]:
                        code |= C_ON2
                elif cool_n >= params[p, P_CLEAR_COUNT]:
                    code |= C_OFF
            elif code & C_USED:
                # CO: smoothed level, baseline, and the CO alarm.
                if first:
                    dev_f[s, F_C_A] = v
                    dev_f[s, F_C_BASE] = min(v, params[p, P_CO_FUSED_PPM])
                else:
                    dev_f[s, F_C_A] += _alpha(dt, params[p, P_CO_TAU_S]) * (v - dev_f[s, F_C_A])
                dev_f[s, F_C_TS] = t
                base = dev_f[s, F_C_BASE]
                if dev_f[s, F_C_A] - base < params[p, P_CO_FUSED_PPM]:
                    step = _alpha(min(dt, BASE_DT_CAP_S), params[p, P_CO_BASE_TAU_S])
                    dev_f[s, F_C_BASE] = base + step * (v - base)
                level = dev_f[s, F_C_A]
                alarm_ppm = params[p, P_CO_ALARM_PPM]
                alarm_n = dev_i[s, I_C_ALARM_N] + 1 if level >= alarm_ppm else 0
                calm_n = dev_i[s, I_C_CLEAR_N] + 1 if level < 0.5 * alarm_ppm else 0
                dev_i[s, I_C_ALARM_N] = alarm_n
                dev_i[s, I_C_CLEAR_N] = calm_n
                if (latch & CO_BIT) == 0:
                    if alarm_n >= params[p, P_CO_ALARM_COUNT]:
                        code |= C_ON
                elif calm_n >= params[p, P_CLEAR_COUNT]:
                    code |= C_OFF
        elif m == BATTERY:
            if lo <= v <= hi:
                low = params[p, P_BATTERY_LOW_V]
                count = params[p, P_BATTERY_COUNT]
                latched = dev_i[s, I_LATCH] & BATTERY_BIT
                if v < low:
                    dev_i[s, I_B_LOW_N] += 1
                    dev_i[s, I_B_OK_N] = 0
                    if not latched and dev_i[s, I_B_LOW_N] >= count:
                        code = C_ON
                elif v >= low + 0.1:
                    dev_i[s, I_B_OK_N] += 1
                    dev_i[s, I_B_LOW_N] = 0
                    if latched and dev_i[s, I_B_OK_N] >= count:
                        code = C_OFF
        elif m == MOTION:
            # Both edges: a bed or seat switch reports "used" lying down and "free" getting up.
            act = 0 if v >= 0.0 else -1
        elif m == DOOR:
            act = 1 if (v == 0.0 or v == 1.0) else -1
        elif m == BUTTON:
            _button(ev_i, ev_f, ev_n, dev_f, params, row, s, p, t, v)
            act = 0
        elif m == TAMPER:
            code = _switch(v >= 0.5, (dev_i[s, I_LATCH] & TAMPER_BIT) != 0)
        elif m == HUSH:
            if v >= 0.5:
                _hush(ev_i, ev_f, ev_n, dev_f, params, room_f, row, s, p, room_of[s], t)
        elif m == SELF_TEST:
            code = _switch(v < 0.5, (dev_i[s, I_FAULTS] & FAULT_SELF_TEST) != 0)
        elif FIRST_DECLARED <= m <= AVAILABILITY and lo <= v <= hi:
            _declared(ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, m, v >= 0.5, t)
        if code & ~C_USED:
            _channel_events(code, m, ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, t, v)

        if code & C_USED:
            # Fire rules: smoke fused with heat or CO; smoke alone; pre-alarms; their ends.
            age = params[p, P_CONFIRM_AGE_S]
            trise = dev_f[s, F_T_A] - dev_f[s, F_T_BASE]
            ror = _rate_per_min(
                dev_f[s, F_T_A],
                dev_f[s, F_T_B],
                params[p, P_TEMP_RATE_SCALE],
            )
            heat_fresh = abs(t - dev_f[s, F_T_TS]) <= age  # False when never read (NaN)
            rising_c = params[p, P_HEAT_RISING_C]
            rising_ror = params[p, P_HEAT_RISING_C_PER_MIN]
            heat_rising = heat_fresh and trise >= rising_c and ror >= rising_ror
            heat_calm = not heat_fresh or trise < 0.5 * rising_c or ror < 0.5 * rising_ror
            co_fresh = abs(t - dev_f[s, F_C_TS]) <= age
            co_excess = dev_f[s, F_C_A] - dev_f[s, F_C_BASE]
            co_rising = co_fresh and co_excess >= params[p, P_CO_FUSED_PPM]
            latch = dev_i[s, I_LATCH]
            fire = 0
            smoke_clear = True
            # A room with a stove (stove_heat_c > 0): the warmth cooking gives the ceiling does
            # not confirm smoke; heat beyond it, heat rising faster than a stove makes it, CO,
            # smoke beyond what cooking makes, or smoke still rising after the heat stopped do.
            stove_c = params[p, P_STOVE_HEAT_C]
            stove = stove_c > 0.0
            heat_confirms = heat_rising
            if stove:
                heat_confirms = (heat_rising and trise >= stove_c) or (
                    heat_fresh and trise >= rising_c and ror >= params[p, P_STOVE_HEAT_C_PER_MIN]
                )
                warm = heat_fresh and trise >= rising_c
                if warm and ror <= 0.0:
                    if np.isnan(kit[s, K_HEAT_STOP]):
                        kit[s, K_HEAT_STOP] = t
                elif not (warm and ror < 0.5 * rising_ror):
                    kit[s, K_HEAT_STOP] = np.nan
            # Hushed (silence button, console): smoke-only alarms wait; dense smoke (the UL 217
            # hush limit, smoke_high_pct), heat and CO never do.
            # Only rooms with a hush read its row (one more cache line per reading there).
            hushed = params[p, P_HUSH_S] > 0.0 and room_f[room_of[s], RM_HUSH_UNTIL] > t
            if not np.isnan(dev_f[s, F_S_TS]):
                e = dev_f[s, F_S_A] - dev_f[s, F_S_BASE]
                fused = dev_i[s, I_S_FUSED_N] >= params[p, P_SMOKE_FUSED_COUNT]
                dense = stove and not hushed and heat_rising and e >= params[p, P_STOVE_SMOKE_PCT]
                if (latch & FIRE_BIT) == 0 and fused and (heat_confirms or co_rising or dense):
                    if heat_confirms:
                        fire |= F_FIRE_HEAT
                    elif co_rising:
                        fire |= F_FIRE_CO
                    else:
                        fire |= F_FIRE_DENSE
                elif (latch & (FIRE_BIT | SMOKE_BIT)) == 0:
                    # Smoke with nothing to confirm it: dense, still rising, or smouldering.
                    # "Keeps rising": rising without a pause for smoke_escalate_s at pre-alarm
                    # level (a cooking puff rises for a minute or so; a pot boiling dry for many).
                    rising_for = t - dev_f[s, F_S_RISE_SINCE]  # NaN when not rising
                    # ... and, where cooking may rise for minutes (a kitchen), has got that far.
                    escalated = e >= params[p, P_SMOKE_ESCALATE_PCT]
                    after_s = params[p, P_SMOKE_AFTER_HEAT_S]
                    if dev_i[s, I_S_HIGH_N] >= params[p, P_SMOKE_HIGH_COUNT]:
                        fire |= F_SMOKE_HIGH
                    elif hushed:
                        pass
                    elif rising_for >= params[p, P_SMOKE_ESCALATE_S] and escalated:
                        fire |= F_SMOKE_RISING
                    elif t - dev_f[s, F_S_VERIFY_SINCE] >= params[p, P_SMOKE_VERIFY_S]:
                        fire |= F_SMOKE_VERIFIED
                    elif dev_f[s, F_S_CUSUM] >= params[p, P_CUSUM_H_PCT_MIN]:
                        fire |= F_SLOW_RISE
                    elif (
                        stove
                        and after_s > 0.0
                        and escalated
                        # Only a room with a stove reads its kit row (a cache line apart).
                        and _after_heat(t, kit[s, K_HEAT_STOP], dev_f[s, F_S_RISE_SINCE]) >= after_s
                    ):
                        fire |= F_SMOKE_AFTER_HEAT
                pre = dev_i[s, I_S_PRE_N] >= params[p, P_SMOKE_PRE_COUNT]
                if stove and not co_rising:
                    # The kitchen's smoke pre-alarm is cooking smoke (supervisory, on the board).
                    if (latch & COOKING_BIT) == 0 and pre:
                        fire |= F_COOKING
                elif (latch & PRE_BIT) == 0 and pre:
                    fire |= F_PRE_SMOKE
                smoke_clear = dev_i[s, I_S_CLEAR_N] >= params[p, P_CLEAR_COUNT]
                if smoke_clear and latch & SMOKE_BIT:
                    fire |= F_SMOKE_CLEAR
            if heat_rising and (latch & PRE_BIT) == 0 and (fire & F_PRE_SMOKE) == 0:
                fire |= F_PRE_HEAT
            if (
                smoke_clear
                and heat_calm
                and not co_rising
                and latch & (PRE_BIT | FIRE_BIT | COOKING_BIT)
            ):
                fire |= F_CLEAR
            if fire:
                _fire_events(fire, ev_i, ev_f, ev_n, dev_f, dev_i, params, row, s, p, t)

        if act >= 0 and h >= 0 and hh_i[h, HI_PROW] >= 0:
            # Activity: learn the pattern and restart the silence. The uncommon cases (first,
            # late, after a long silence) go to _activity_edge; the deadline of the new silence
            # is computed lazily (next tick, or next activity after a long gap) since nothing
            # can raise before last activity + inactivity_min_silence_s.
            hp = hh_i[h, HI_PROW]
            last = hh_f[h, H_LAST_ACT]
            quiet = not (t - last < params[hp, P_INACTIVITY_MIN_SILENCE_S])  # NaN: first
            if (quiet or t < last or hh_i[h, HI_LATCH] == 1) and not _activity_edge(
                ev_i, ev_f, ev_n, hh_f, hh_i, params, row, h, t
            ):
                continue
            if t - last >= LEARN_GAP_S:
                routine_learn(hh_f, params, h, hp, last, t, hh_i[h, HI_LAST_DOOR] == 1, act == 1)
            if not t - hh_f[h, H_LAST_COUNTED] < params[hp, P_INACTIVITY_ACTIVE_PERIOD_S]:
                hh_f[h, H_LAST_COUNTED] = t
                count_period(hh_f, params, h, hp, t)
            hh_f[h, H_LAST_ACT] = t
            hh_i[h, HI_LAST_DOOR] = act
            hh_i[h, HI_REP_SLOT] = s
            hh_i[h, HI_STALE] = 1
    return ts.shape[0]


@njit(cache=True)
def process_rows(start, batch, dv, hv, gv, index, mrange, ev):
    """Fold rows start.. of batch (ts, slot, metric, value, rx) into the state, in row order.

    dv = (dev_f, dev_i, params), hv = (hh_f, hh_i), gv = (gw_f, gw_i), index = (prow, hh_of,
    gw_of) per device slot, ev = (ev_i, ev_f, ev_n). Returns the next row to process: less
    than the batch length when the event buffer is full.
    """
    no_rows = np.empty(0, dtype=np.int64)
    return _process_part(start, batch[0].shape[0], no_rows, batch, dv, hv, gv, index, mrange, ev)


@njit(cache=True)
def partition_rows(slot, cluster_of, nparts):
    """Rows grouped by partition (the device's cluster mod nparts), each in arrival order.

    Returns (rows, offsets): partition p owns rows[offsets[p]:offsets[p + 1]].
    """
    n = slot.shape[0]
    part_of = np.empty(n, dtype=np.int64)
    offsets = np.zeros(nparts + 1, dtype=np.int64)
    for row in range(n):
        part_of[row] = cluster_of[slot[row]] % nparts
        offsets[part_of[row] + 1] += 1
    for part in range(nparts):
        offsets[part + 1] += offsets[part]
    fill = offsets[:-1].copy()
    rows = np.empty(n, dtype=np.int64)
    for row in range(n):
        rows[fill[part_of[row]]] = row
        fill[part_of[row]] += 1
    return rows, offsets


@njit(cache=True, parallel=True)
def process_rows_parallel(starts, stops, rows, batch, dv, hv, gv, index, mrange, ev_i, ev_f, ev_n):
    """As process_rows, one partition of device clusters per thread (see partition_rows).

    starts / stops: each partition's range in `rows`, starts updated in place. ev_i / ev_f /
    ev_n have a leading partition axis (ev_n: (parts, 1)). Clusters share no household and no
    gateway, so the threads touch disjoint state rows and the result equals the sequential one.
    """
    for part in prange(starts.shape[0]):
        ev = (ev_i[part], ev_f[part], ev_n[part])
        starts[part] = _process_part(
            starts[part], stops[part], rows, batch, dv, hv, gv, index, mrange, ev
        )


@njit(cache=True)
def tick_rows(now, first, dv, hv, gv, prow, ev):
    """Raise silences past their deadline at `now`: devices, gateways, households.

    `first` = (slot, gateway, household) to resume from; returns the same, all at their ends
    when done. Alerts carry the deadline as their time, so a late tick reports the same alert.
    """
    first_slot, first_gw, first_hh = first
    dev_f, dev_i, params = dv[0], dv[1], dv[2]
    hh_f, hh_i = hv
    gw_f, gw_i = gv
    ev_i, ev_f, ev_n = ev
    cap = ev_i.shape[0] - 1
    nan = np.nan
    n_dev, n_gw, n_hh = dev_f.shape[0], gw_f.shape[0], hh_f.shape[0]
    for s in range(first_slot, n_dev):
        if ev_n[0] >= cap:
            return s, first_gw, first_hh
        if dev_i[s, I_LATCH] & OFFLINE_BIT:
            continue
        last = dev_f[s, F_LAST_RX]  # NaN (not started yet) never passes the test below
        deadline = last + params[prow[s], P_OFFLINE_AFTER_S]
        if now > deadline:
            dev_i[s, I_LATCH] |= OFFLINE_BIT
            _emit(
                ev_i,
                ev_f,
                ev_n,
                -1,
                s,
                OFFLINE,
                RAISE,
                R_SILENCE,
                deadline,
                1.0,
                nan,
                nan,
                nan,
                nan,
                nan,
                last,
            )
    for g in range(first_gw, n_gw):
        if ev_n[0] >= cap:
            return n_dev, g, first_hh
        last = gw_f[g, GW_LAST_RX]
        if gw_i[g, GWI_LATCH] == 0 and now > last + gw_f[g, GW_SILENCE_S]:
            _gateway_event(
                ev_i, ev_f, ev_n, gw_f, gw_i, -1, g, RAISE, last + gw_f[g, GW_SILENCE_S], last
            )
    for h in range(first_hh, n_hh):
        if ev_n[0] >= cap:
            return n_dev, n_gw, h
        if hh_i[h, HI_LATCH] == 1 or hh_i[h, HI_PROW] < 0 or hh_i[h, HI_REP_SLOT] < 0:
            continue
        if hh_i[h, HI_STALE]:
            inactivity_deadline(hh_f, hh_i, params, h)
        if now >= hh_f[h, H_DEADLINE]:
            hh_i[h, HI_LATCH] = 1
            _inactivity_event(ev_i, ev_f, ev_n, hh_f, hh_i, -1, h, RAISE, hh_f[h, H_DEADLINE])
    return n_dev, n_gw, n_hh


# numba would load kernels compiled from older callees (detectors.jit_cache): drop them first.
def _drop_stale_cache() -> None:
    from detectors.jit_cache import cache_dir, drop_if_stale

    folder = cache_dir(process_rows)
    if folder is not None:
        drop_if_stale(folder, Path(__file__))


_drop_stale_cache()
