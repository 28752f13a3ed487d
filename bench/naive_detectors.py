"""Slow, plain-Python reference of the detector kernels: one dict per device, one reading at a time.

Written for reading, not speed: every rule is spelt out where it applies. Tests feed the same
readings to this and to the numba kernels and require the same events (row, device, kind,
action, rule, time) and scores.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bench import naive_routine
from detectors.codes import (
    AVAILABILITY,
    BATTERY,
    BATTERY_LOW,
    BUTTON,
    CO,
    CO_ALARM,
    COOKING,
    DIRTY,
    DOOR,
    FALSE_PRESS,
    FIRE,
    GAS,
    GATEWAY_OFFLINE,
    HEAT,
    HUSH,
    HUSHED,
    INACTIVITY,
    METRICS,
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
    SELF_TEST,
    SENSOR_FAULT,
    SMOKE,
    SMOKE_ALARM,
    TAMPER,
    TAMPER_KIND,
    TEMPERATURE,
    WATER_LEAK,
)
from detectors.policy import Policy
from detectors.registry import Device
from detectors.rooms import room_class
from vigil.device_types import metrics as metric_table

NAN = math.nan
# Declared-state metrics (1 raised, 0 restored) and the alert kind each raises; availability is
# the other way round (0 = offline) and `fault` is a sensor-fault cause.
DECLARED_KIND = {
    "smoke_alarm": SMOKE_ALARM,
    "heat_alarm": HEAT,
    "co_alarm": CO_ALARM,
    "gas_alarm": GAS,
    "water_leak": WATER_LEAK,
    "low_battery": BATTERY_LOW,
    "availability": OFFLINE,
}
RESTART_DT = 1.0e12
BASE_DT_CAP_S = 600.0
CUSUM_DT_CAP_S = 120.0
RAISE, CLEAR = 1, 0


@dataclass(frozen=True)
class NaiveEvent:
    row: int
    slot: int
    kind: int
    action: int
    rule: int
    ts: float
    score: float


@dataclass
class Channel:
    """Smoke, temperature or CO of one device."""

    ts: float = NAN
    fast: float = NAN
    slow: float = NAN
    base: float = NAN
    bad_run: int = 0
    stuck_value: float = NAN
    stuck_since: float = NAN
    stuck_run: int = 0


@dataclass
class DeviceState:
    last_rx: float = NAN
    latched: set[int] = field(default_factory=set)
    faults: set[str] = field(default_factory=set)
    smoke: Channel = field(default_factory=Channel)
    temp: Channel = field(default_factory=Channel)
    co: Channel = field(default_factory=Channel)
    cusum: float = 0.0
    pre_since: float = NAN
    rise_since: float = NAN
    verify_since: float = NAN
    pre_run: int = 0
    fused_run: int = 0
    high_run: int = 0
    smoke_clear_run: int = 0
    fixed_run: int = 0
    ror_run: int = 0
    cool_run: int = 0
    co_alarm_run: int = 0
    co_calm_run: int = 0
    battery_low_run: int = 0
    battery_ok_run: int = 0
    press: float = NAN
    heat_stop: float = NAN


@dataclass
class GatewayState:
    silence_s: float
    last_rx: float = NAN
    latched: bool = False


@dataclass
class HouseholdState:
    figures: Mapping[str, float] | None  # None: no PIR or door sensor, not watched
    has_pir: bool
    last_act: float = NAN
    last_counted: float = NAN
    deadline: float = math.inf
    deadline_score: float = 1.0
    deadline_rule: int = R_MAX_SILENCE
    stale: bool = False
    latched: bool = False
    last_was_door: bool = False
    away: bool = False
    rep_slot: int = -1
    routine: naive_routine.Routine = field(default_factory=naive_routine.Routine)


def _step(t: float, last: float, clock_jump: float) -> float:
    if math.isnan(last):
        return 0.0
    dt = t - last
    if dt > 0.0:
        return dt
    if dt == 0.0 or dt > -clock_jump:
        return -1.0
    return RESTART_DT


def _alpha(dt: float, tau: float) -> float:
    return dt / (tau + dt)


def _rate(fast: float, slow: float, scale: float) -> float:
    """Per minute; scale = 60 / (tau_slow - tau_fast), from policy.figures."""
    return (fast - slow) * scale


class NaiveDetectors:
    def __init__(self, devices: Sequence[Device], policy: Policy) -> None:
        self.devices = list(devices)
        self.figures = [
            policy.figures(d.type, d.household_id, d.room, d.supervision_s) for d in devices
        ]
        # A household's room (its class) -> smoke-only alarms hushed until then.
        self.room_key = [(d.household_id, room_class(d.room)) for d in devices]
        self.hush_until: dict[tuple[str, str], float] = {}
        self.state = [DeviceState() for _ in devices]
        self.households: dict[str, HouseholdState] = {}
        for d, figures in zip(devices, self.figures, strict=True):
            hh = self.households.setdefault(d.household_id, HouseholdState(None, False))
            if d.type in ("pir", "door") and hh.figures is None:
                hh.figures = figures
            hh.has_pir = hh.has_pir or d.type == "pir"
        self.gateways: dict[str, GatewayState] = {}
        for d, figures in zip(devices, self.figures, strict=True):
            silence = figures["gateway_silence_periods"] * d.period
            gw = self.gateways.setdefault(d.gateway, GatewayState(silence))
            gw.silence_s = min(gw.silence_s, silence)
        self.gateway_slot = {name: i for i, name in enumerate(self.gateways)}
        table = metric_table()
        self.ranges = [(table[n].min, table[n].max) for n in METRICS]
        self.start_rx = NAN
        self.events: list[NaiveEvent] = []

    # -- events ---------------------------------------------------------------------------
    def _emit(
        self, row: int, slot: int, kind: int, action: int, rule: int, ts: float, score: float
    ) -> None:
        self.events.append(NaiveEvent(row, slot, kind, action, rule, ts, score))

    def _raise(self, row: int, slot: int, kind: int, rule: int, ts: float, score: float) -> None:
        if kind not in self.state[slot].latched:
            self.state[slot].latched.add(kind)
            self._emit(row, slot, kind, RAISE, rule, ts, score)

    def _clear(self, row: int, slot: int, kind: int, rule: int, ts: float) -> None:
        if kind in self.state[slot].latched:
            self.state[slot].latched.discard(kind)
            self._emit(row, slot, kind, CLEAR, rule, ts, 0.0)

    def _fault(self, row: int, slot: int, cause: str, on: bool, rule: int, t: float) -> None:
        faults = self.state[slot].faults
        before = bool(faults)
        if on:
            faults.add(cause)
        else:
            faults.discard(cause)
        if faults and not before:
            self._raise(row, slot, SENSOR_FAULT, rule, t, 1.0)
        elif not faults and before:
            self._clear(row, slot, SENSOR_FAULT, R_RESTORED, t)

    def _start(self, t: float) -> None:
        """The first reading or tick: every device's silence starts then."""
        if math.isnan(self.start_rx):
            self.start_rx = t
            for dev in self.state:
                dev.last_rx = t
            for gw in self.gateways.values():
                gw.last_rx = t

    # -- readings -------------------------------------------------------------------------
    def process(self, rows: Sequence[tuple[float, int, int, float, float]]) -> list[NaiveEvent]:
        """rows: (ts, slot, metric, value, received_at) in arrival order."""
        self.events = []
        for row, (t, slot, metric, value, rx) in enumerate(rows):
            self._start(rx)
            self._reading(row, t, slot, metric, value, rx)
        return self.events

    def _reading(self, row: int, t: float, s: int, m: int, v: float, rx: float) -> None:
        dev = self.state[s]
        f = self.figures[s]
        last_rx = dev.last_rx
        if m == AVAILABILITY and v < 0.5:
            pass  # the hub says the device is unreachable: no sign of life
        elif OFFLINE in dev.latched:
            self._clear(row, s, OFFLINE, R_RESTORED, t)
        elif not math.isnan(last_rx) and rx - last_rx > f["offline_after_s"]:
            self._raise(row, s, OFFLINE, R_SILENCE, last_rx + f["offline_after_s"], 1.0)
            self._clear(row, s, OFFLINE, R_RESTORED, t)
        if not (m == AVAILABILITY and v < 0.5) and (math.isnan(last_rx) or rx > last_rx):
            dev.last_rx = rx
        name = self.devices[s].gateway
        gw, g = self.gateways[name], self.gateway_slot[name]
        gw_last = gw.last_rx
        gw.last_rx = max(gw.last_rx, rx)
        if gw.latched:
            gw.latched = False
            self._emit(row, g, GATEWAY_OFFLINE, CLEAR, R_RESTORED, t, 0.0)
        elif rx - gw_last > gw.silence_s:
            self._emit(
                row, g, GATEWAY_OFFLINE, RAISE, R_GATEWAY_SILENCE, gw_last + gw.silence_s, 1.0
            )
            self._emit(row, g, GATEWAY_OFFLINE, CLEAR, R_RESTORED, t, 0.0)
        lo, hi = self.ranges[m]
        if m in (SMOKE, TEMPERATURE, CO):
            if self._channel(row, t, s, m, v, lo, hi):
                self._fire_rules(row, t, s)
        elif m == BATTERY:
            self._battery(row, t, s, v, lo, hi)
        elif m == MOTION:
            if v >= 0.0:  # both edges: a bed switch's "free" is someone getting up
                self._activity(row, t, s, is_door=False)
        elif m == DOOR:
            if v in (0.0, 1.0):
                self._activity(row, t, s, is_door=True)
        elif m == BUTTON:
            self._button(row, t, s, v)
            self._activity(row, t, s, is_door=False)
        elif m == TAMPER:
            if v >= 0.5:
                self._raise(row, s, TAMPER_KIND, R_TAMPER, t, 1.0)
            else:
                self._clear(row, s, TAMPER_KIND, R_RESTORED, t)
        elif m == HUSH:
            if v >= 0.5:
                hush_s = f["hush_s"]
                if hush_s > 0.0:
                    key = self.room_key[s]
                    self.hush_until[key] = max(self.hush_until.get(key, -math.inf), t + hush_s)
                self._emit(row, s, HUSHED, RAISE, R_HUSH_BUTTON, t, hush_s)
        elif m == SELF_TEST:
            failed = "self_test" in dev.faults
            if (v < 0.5) != failed:
                self._fault(row, s, "self_test", v < 0.5, R_SELF_TEST if v < 0.5 else R_RESTORED, t)
        elif METRICS[m] == "fault":
            if lo <= v <= hi:
                on = v >= 0.5
                self._fault(row, s, "declared", on, R_DECLARED if on else R_DEVICE_RESTORED, t)
        elif METRICS[m] in DECLARED_KIND and lo <= v <= hi:
            kind = DECLARED_KIND[METRICS[m]]
            on = (v < 0.5) if m == AVAILABILITY else (v >= 0.5)
            if on:
                self._raise(row, s, kind, R_DECLARED, t, 1.0)
            else:
                self._clear(row, s, kind, R_DEVICE_RESTORED, t)

    def _channel(self, row: int, t: float, s: int, m: int, v: float, lo: float, hi: float) -> bool:
        """Update one channel; True when the reading was used (then the fire rules run)."""
        dev = self.state[s]
        f = self.figures[s]
        ch = {SMOKE: dev.smoke, TEMPERATURE: dev.temp, CO: dev.co}[m]
        name = {SMOKE: "smoke", TEMPERATURE: "temp", CO: "co"}[m]
        if not lo <= v <= hi:  # NaN included
            ch.bad_run += 1
            if ch.bad_run >= f["fault_count"] and f"{name}_range" not in dev.faults:
                self._fault(row, s, f"{name}_range", True, R_IMPLAUSIBLE, t)
            return False
        ch.bad_run = 0
        if f"{name}_range" in dev.faults:
            self._fault(row, s, f"{name}_range", False, R_RESTORED, t)
        dt = _step(t, ch.ts, f["clock_jump_s"])
        if dt < 0.0:
            return False
        if m == SMOKE:
            self._smoke(row, t, s, v, dt)
        elif m == TEMPERATURE:
            self._temperature(row, t, s, v, dt)
        else:
            self._co(row, t, s, v, dt)
        return True

    def _stuck(
        self, row: int, t: float, s: int, ch: Channel, v: float, cause: str, stuck_s: float
    ) -> None:
        dev = self.state[s]
        if v == ch.stuck_value:
            ch.stuck_run += 1
            if (
                cause not in dev.faults
                and t - ch.stuck_since >= stuck_s
                and ch.stuck_run >= self.figures[s]["stuck_count"]
            ):
                self._fault(row, s, cause, True, R_STUCK, t)
        else:
            ch.stuck_value, ch.stuck_since, ch.stuck_run = v, t, 1
            if cause in dev.faults:
                self._fault(row, s, cause, False, R_RESTORED, t)

    def _smoke(self, row: int, t: float, s: int, v: float, dt: float) -> None:
        dev = self.state[s]
        f = self.figures[s]
        ch = dev.smoke
        if math.isnan(ch.ts):
            ch.fast = ch.slow = v
            ch.base = min(v, f["smoke_base_init_max_pct"])
            ch.stuck_value, ch.stuck_since, ch.stuck_run = v, t, 1
        else:
            ch.fast += _alpha(dt, f["smoke_tau_s"]) * (v - ch.fast)
            ch.slow += _alpha(dt, f["smoke_trend_tau_s"]) * (v - ch.slow)
            if f["stuck_smoke_s"] > 0.0:
                self._stuck(row, t, s, ch, v, "smoke_stuck", f["stuck_smoke_s"])
        ch.ts = t
        if ch.fast - ch.base < f["smoke_base_track_pct"]:
            ch.base += _alpha(min(dt, BASE_DT_CAP_S), f["smoke_base_tau_s"]) * (v - ch.base)
        if ch.base >= f["dirty_pct"]:
            self._raise(row, s, DIRTY, R_BASELINE_DRIFT, t, ch.base / f["dirty_pct"])
        elif ch.base < f["dirty_clear_pct"]:
            self._clear(row, s, DIRTY, R_CLEARED, t)
        e = ch.fast - ch.base
        dev.cusum = dev.cusum + (e - f["cusum_k_pct"]) * min(dt, CUSUM_DT_CAP_S) / 60.0
        dev.cusum = min(max(dev.cusum, 0.0), 2.0 * f["cusum_h_pct_min"])
        dev.pre_run = dev.pre_run + 1 if e >= f["smoke_pre_pct"] else 0
        dev.smoke_clear_run = dev.smoke_clear_run + 1 if e < f["smoke_clear_pct"] else 0
        dev.fused_run = dev.fused_run + 1 if e >= f["smoke_fused_pct"] else 0
        dev.high_run = dev.high_run + 1 if e >= f["smoke_high_pct"] else 0
        if dev.pre_run >= f["smoke_pre_count"]:
            if math.isnan(dev.pre_since):
                dev.pre_since = t
        elif dev.smoke_clear_run >= f["clear_count"]:
            dev.pre_since = NAN
            dev.cusum = 0.0
        srate = _rate(ch.fast, ch.slow, f["smoke_rate_scale"])
        if srate >= f["smoke_rise_pct_per_min"] and e >= f["smoke_pre_pct"]:
            if math.isnan(dev.rise_since):
                dev.rise_since = t
        else:
            dev.rise_since = NAN
        fall = f["smoke_verify_fall_pct_per_min"]
        if e < f["smoke_verify_pct"]:
            dev.verify_since = NAN
        elif math.isnan(dev.verify_since) or (fall > 0.0 and srate <= -fall):
            dev.verify_since = t

    def _temperature(self, row: int, t: float, s: int, v: float, dt: float) -> None:
        dev = self.state[s]
        f = self.figures[s]
        ch = dev.temp
        if math.isnan(ch.ts):
            ch.fast = ch.slow = ch.base = v
            ch.stuck_value, ch.stuck_since, ch.stuck_run = v, t, 1
        else:
            ch.fast += _alpha(dt, f["temp_tau_s"]) * (v - ch.fast)
            ch.slow += _alpha(dt, f["temp_trend_tau_s"]) * (v - ch.slow)
            if f["stuck_temperature_s"] > 0.0:
                self._stuck(row, t, s, ch, v, "temp_stuck", f["stuck_temperature_s"])
        ch.ts = t
        ror = _rate(ch.fast, ch.slow, f["temp_rate_scale"])
        if ror < 0.5 * f["heat_rising_c_per_min"]:
            ch.base = ch.base + _alpha(min(dt, BASE_DT_CAP_S), f["temp_base_tau_s"]) * (v - ch.base)
        trise = ch.fast - ch.base
        dev.fixed_run = dev.fixed_run + 1 if v >= f["heat_fixed_c"] else 0
        ror_hit = ror >= f["heat_ror_c_per_min"] and trise >= f["heat_ror_min_rise_c"]
        dev.ror_run = dev.ror_run + 1 if ror_hit else 0
        cool = (
            v < f["heat_fixed_c"] - f["heat_clear_margin_c"] and ror < 0.5 * f["heat_ror_c_per_min"]
        )
        dev.cool_run = dev.cool_run + 1 if cool else 0
        if HEAT not in dev.latched:
            if dev.fixed_run >= f["heat_fixed_count"]:
                self._raise(row, s, HEAT, R_HEAT_FIXED, t, v / f["heat_fixed_c"])
            elif dev.ror_run >= f["heat_ror_count"]:
                self._raise(row, s, HEAT, R_HEAT_ROR, t, ror / f["heat_ror_c_per_min"])
        elif dev.cool_run >= f["clear_count"]:
            self._clear(row, s, HEAT, R_CLEARED, t)

    def _co(self, row: int, t: float, s: int, v: float, dt: float) -> None:
        dev = self.state[s]
        f = self.figures[s]
        ch = dev.co
        if math.isnan(ch.ts):
            ch.fast = v
            ch.base = min(v, f["co_fused_ppm"])
        else:
            ch.fast += _alpha(dt, f["co_tau_s"]) * (v - ch.fast)
        ch.ts = t
        if ch.fast - ch.base < f["co_fused_ppm"]:
            ch.base = ch.base + _alpha(min(dt, BASE_DT_CAP_S), f["co_base_tau_s"]) * (v - ch.base)
        dev.co_alarm_run = dev.co_alarm_run + 1 if ch.fast >= f["co_alarm_ppm"] else 0
        dev.co_calm_run = dev.co_calm_run + 1 if ch.fast < 0.5 * f["co_alarm_ppm"] else 0
        if CO_ALARM not in dev.latched:
            if dev.co_alarm_run >= f["co_alarm_count"]:
                self._raise(row, s, CO_ALARM, R_CO_LEVEL, t, ch.fast / f["co_alarm_ppm"])
        elif dev.co_calm_run >= f["clear_count"]:
            self._clear(row, s, CO_ALARM, R_CLEARED, t)

    def _fire_rules(self, row: int, t: float, s: int) -> None:
        dev = self.state[s]
        f = self.figures[s]
        temp, smoke, co = dev.temp, dev.smoke, dev.co
        trise = temp.fast - temp.base
        ror = _rate(temp.fast, temp.slow, f["temp_rate_scale"])
        heat_fresh = not math.isnan(temp.ts) and abs(t - temp.ts) <= f["confirm_age_s"]
        heat_rising = (
            heat_fresh and trise >= f["heat_rising_c"] and ror >= f["heat_rising_c_per_min"]
        )
        heat_calm = (
            not heat_fresh
            or trise < 0.5 * f["heat_rising_c"]
            or ror < 0.5 * f["heat_rising_c_per_min"]
        )
        co_fresh = not math.isnan(co.ts) and abs(t - co.ts) <= f["confirm_age_s"]
        co_rising = co_fresh and co.fast - co.base >= f["co_fused_ppm"]
        smoke_clear = True
        stove = f["stove_heat_c"] > 0.0
        confirms = heat_rising
        if stove:
            confirms = (heat_rising and trise >= f["stove_heat_c"]) or (
                heat_fresh and trise >= f["heat_rising_c"] and ror >= f["stove_heat_c_per_min"]
            )
            warm = heat_fresh and trise >= f["heat_rising_c"]
            if warm and ror <= 0.0:
                if math.isnan(dev.heat_stop):
                    dev.heat_stop = t
            elif not (warm and ror < 0.5 * f["heat_rising_c_per_min"]):
                dev.heat_stop = NAN
        hushed = self.hush_until.get(self.room_key[s], -math.inf) > t
        if not math.isnan(smoke.ts):
            e = smoke.fast - smoke.base
            fused = dev.fused_run >= f["smoke_fused_count"]
            dense = stove and not hushed and heat_rising and e >= f["stove_smoke_pct"]
            if FIRE not in dev.latched and fused and (confirms or co_rising or dense):
                rule = (
                    R_SMOKE_HEAT if confirms else (R_SMOKE_CO if co_rising else R_DENSE_SMOKE_HEAT)
                )
                self._raise(row, s, FIRE, rule, t, e / f["smoke_fused_pct"])
            elif FIRE not in dev.latched and SMOKE_ALARM not in dev.latched:
                escalated = e >= f["smoke_escalate_pct"]
                after = NAN
                if not (math.isnan(dev.heat_stop) or math.isnan(dev.rise_since)):
                    after = t - max(dev.heat_stop, dev.rise_since)
                if dev.high_run >= f["smoke_high_count"]:
                    self._raise(row, s, SMOKE_ALARM, R_SMOKE_HIGH, t, e / f["smoke_high_pct"])
                elif hushed:
                    pass
                elif t - dev.rise_since >= f["smoke_escalate_s"] and escalated:  # NaN: False
                    srate = _rate(smoke.fast, smoke.slow, f["smoke_rate_scale"])
                    self._raise(
                        row, s, SMOKE_ALARM, R_SMOKE_RISING, t, srate / f["smoke_rise_pct_per_min"]
                    )
                elif t - dev.verify_since >= f["smoke_verify_s"]:  # False while NaN
                    self._raise(row, s, SMOKE_ALARM, R_SMOKE_VERIFIED, t, e / f["smoke_verify_pct"])
                elif dev.cusum >= f["cusum_h_pct_min"]:
                    self._raise(
                        row, s, SMOKE_ALARM, R_SLOW_RISE, t, dev.cusum / f["cusum_h_pct_min"]
                    )
                elif (
                    stove
                    and f["smoke_after_heat_s"] > 0.0
                    and after >= f["smoke_after_heat_s"]
                    and escalated
                ):
                    srate = _rate(smoke.fast, smoke.slow, f["smoke_rate_scale"])
                    score = srate / f["smoke_rise_pct_per_min"]
                    self._raise(row, s, SMOKE_ALARM, R_SMOKE_AFTER_HEAT, t, score)
            if dev.pre_run >= f["smoke_pre_count"]:
                if stove and not co_rising:
                    self._raise(row, s, COOKING, R_COOKING, t, e / f["smoke_pre_pct"])
                elif not stove or PRE_ALARM not in dev.latched:
                    self._raise(row, s, PRE_ALARM, R_SMOKE_PRE, t, e / f["smoke_pre_pct"])
            smoke_clear = dev.smoke_clear_run >= f["clear_count"]
        if heat_rising:
            score = min(trise / f["heat_rising_c"], ror / f["heat_rising_c_per_min"])
            self._raise(row, s, PRE_ALARM, R_HEAT_PRE, t, score)
        if smoke_clear and not math.isnan(smoke.ts):  # a declared smoke alarm ends on its own
            self._clear(row, s, SMOKE_ALARM, R_CLEARED, t)
        if smoke_clear and heat_calm and not co_rising:
            self._clear(row, s, PRE_ALARM, R_CLEARED, t)
            self._clear(row, s, COOKING, R_CLEARED, t)
            self._clear(row, s, FIRE, R_CLEARED, t)

    def _battery(self, row: int, t: float, s: int, v: float, lo: float, hi: float) -> None:
        if not lo <= v <= hi:
            return
        dev = self.state[s]
        f = self.figures[s]
        if v < f["battery_low_v"]:
            dev.battery_low_run += 1
            dev.battery_ok_run = 0
            if dev.battery_low_run >= f["battery_count"]:
                self._raise(row, s, BATTERY_LOW, R_BATTERY, t, f["battery_low_v"] / max(v, 1e-3))
        elif v >= f["battery_low_v"] + 0.1:
            dev.battery_ok_run += 1
            dev.battery_low_run = 0
            if dev.battery_ok_run >= f["battery_count"]:
                self._clear(row, s, BATTERY_LOW, R_RESTORED, t)

    def _button(self, row: int, t: float, s: int, v: float) -> None:
        dev = self.state[s]
        f = self.figures[s]
        if v == 1.0:
            if math.isnan(dev.press) or t - dev.press >= f["panic_debounce_s"]:
                dev.press = t
                self._emit(row, s, PANIC, RAISE, R_PANIC_PRESS, t, 1.0)
        elif v == 2.0 and not math.isnan(dev.press) and 0.0 <= t - dev.press <= f["cancel_grace_s"]:
            score = (t - dev.press) / f["cancel_grace_s"]
            dev.press = NAN
            self._emit(row, s, FALSE_PRESS, RAISE, R_CANCEL_IN_GRACE, t, score)

    # -- households -----------------------------------------------------------------------
    def _deadline(self, hh: HouseholdState) -> None:
        f = hh.figures
        assert f is not None
        hh.stale = False
        hh.deadline, hh.deadline_score, hh.deadline_rule = math.inf, 1.0, R_MAX_SILENCE
        if hh.away or math.isnan(hh.last_act):
            return
        after_door = hh.last_was_door and hh.has_pir
        hh.deadline, hh.deadline_rule = naive_routine.deadline(
            hh.routine, hh.last_act, after_door, f
        )

    def _activity(self, row: int, t: float, s: int, is_door: bool) -> None:
        hh = self.households[self.devices[s].household_id]
        f = hh.figures
        if f is None:
            return
        last = hh.last_act
        if math.isnan(last):
            naive_routine.start(hh.routine, t)
        elif t < last:
            return  # older than the latest activity: nothing about the silence since
        elif hh.latched:
            hh.latched = False
            self._emit(row, hh.rep_slot, INACTIVITY, CLEAR, R_RESTORED, t, 0.0)
        elif t - last >= f["inactivity_min_silence_s"]:
            if hh.stale:
                self._deadline(hh)
            if t >= hh.deadline:
                self._emit(
                    row,
                    hh.rep_slot,
                    INACTIVITY,
                    RAISE,
                    hh.deadline_rule,
                    hh.deadline,
                    hh.deadline_score,
                )
                self._emit(row, hh.rep_slot, INACTIVITY, CLEAR, R_RESTORED, t, 0.0)
        if t - last >= naive_routine.LEARN_GAP_S:
            naive_routine.learn(hh.routine, last, t, hh.last_was_door, is_door, f)
        # Count the activity in active periods (the routine's sensor density).
        if math.isnan(hh.last_counted) or t - hh.last_counted >= f["inactivity_active_period_s"]:
            hh.last_counted = t
            naive_routine.count_period(hh.routine, t, f)
        hh.last_act = t
        hh.last_was_door = is_door
        hh.rep_slot = s
        hh.stale = True

    # -- time -----------------------------------------------------------------------------
    def tick(self, now: float) -> list[NaiveEvent]:
        self.events = []
        self._start(now)
        for s, dev in enumerate(self.state):
            if OFFLINE in dev.latched:
                continue
            last = dev.last_rx
            deadline = last + self.figures[s]["offline_after_s"]
            if now > deadline:
                dev.latched.add(OFFLINE)
                self._emit(-1, s, OFFLINE, RAISE, R_SILENCE, deadline, 1.0)
        for name, gw in self.gateways.items():
            if not gw.latched and now > gw.last_rx + gw.silence_s:
                gw.latched = True
                self._emit(
                    -1,
                    self.gateway_slot[name],
                    GATEWAY_OFFLINE,
                    RAISE,
                    R_GATEWAY_SILENCE,
                    gw.last_rx + gw.silence_s,
                    1.0,
                )
        for hh in self.households.values():
            if hh.latched or hh.figures is None or hh.rep_slot < 0:
                continue
            if hh.stale:
                self._deadline(hh)
            if now >= hh.deadline:
                hh.latched = True
                self._emit(
                    -1,
                    hh.rep_slot,
                    INACTIVITY,
                    RAISE,
                    hh.deadline_rule,
                    hh.deadline,
                    hh.deadline_score,
                )
        return self.events
