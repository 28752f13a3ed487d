"""Small integer codes the kernels work with, and the names people and files use for them.

Kernels see only integers; every name↔code mapping lives here so a reader finds it in one place.
The codes are module-level ints so numba folds them into the compiled kernels as constants.
"""

from __future__ import annotations

# Metrics, in the order of the readings' `metric` code (int8).
SMOKE = 0
TEMPERATURE = 1
CO = 2
BATTERY = 3
TAMPER = 4
BUTTON = 5
MOTION = 6
DOOR = 7
SELF_TEST = 8
METRICS: tuple[str, ...] = (
    "smoke_obscuration",
    "temperature",
    "co",
    "battery",
    "tamper",
    "button",
    "motion",
    "door",
    "self_test",
)
METRIC_CODE: dict[str, int] = {name: code for code, name in enumerate(METRICS)}

# Device types, in the order of the registry's `type` code (int8).
DEVICE_TYPES: tuple[str, ...] = ("smoke", "heat", "multi", "panic", "pir", "door")
TYPE_CODE: dict[str, int] = {name: code for code, name in enumerate(DEVICE_TYPES)}
PIR_TYPE = 4
DOOR_TYPE = 5

# Alert kinds; the code is also the kind's bit in a device's latch mask.
FIRE = 0
SMOKE_ALARM = 1
HEAT = 2
PANIC = 3
INACTIVITY = 4
PRE_ALARM = 5
OFFLINE = 6
BATTERY_LOW = 7
TAMPER_KIND = 8
SENSOR_FAULT = 9
DIRTY = 10
FALSE_PRESS = 11
CO_ALARM = 12
GATEWAY_OFFLINE = 13
KINDS: tuple[str, ...] = (
    "fire",
    "smoke",
    "heat",
    "panic",
    "inactivity",
    "pre_alarm",
    "offline",
    "battery_low",
    "tamper",
    "sensor_fault",
    "dirty",
    "false_press",
    "co",
    "gateway_offline",
)
KIND_CODE: dict[str, int] = {name: code for code, name in enumerate(KINDS)}

# What a kernel event says about its kind: the condition began, or it ended.
RAISE = 1
CLEAR = 0

# Rules: why a kind was raised or cleared. Names are what an operator reads in `rule`.
R_SMOKE_HEAT = 0
R_SMOKE_CO = 1
R_SMOKE_HIGH = 2
R_SMOKE_RISING = 3
R_SLOW_RISE = 4
R_SMOKE_PRE = 5
R_HEAT_PRE = 6
R_HEAT_FIXED = 7
R_HEAT_ROR = 8
R_CO_LEVEL = 9
R_PANIC_PRESS = 10
R_CANCEL_IN_GRACE = 11
R_BATTERY = 12
R_TAMPER = 13
R_IMPLAUSIBLE = 14
R_STUCK = 15
R_SELF_TEST = 16
R_BASELINE_DRIFT = 17
R_SILENCE = 18
R_PATTERN = 19  # activity_pattern, away_too_long: the earlier inactivity model; names kept
R_MAX_SILENCE = 20
R_AWAY_SILENCE = 21
R_CLEARED = 22
R_RESTORED = 23
R_COINCIDENCE = 24
R_GATEWAY = 25
R_GATEWAY_SILENCE = 26
R_SMOKE_VERIFIED = 27
R_NOT_UP = 28
R_SILENT_HOME = 29
R_OUT_NOT_BACK = 30
RULES: tuple[str, ...] = (
    "smoke_with_heat",
    "smoke_with_co",
    "smoke_high",
    "smoke_keeps_rising",
    "slow_rise_cusum",
    "smoke_pre_alarm",
    "heat_rising",
    "heat_fixed_temperature",
    "heat_rate_of_rise",
    "co_level",
    "panic_press",
    "cancel_within_grace",
    "battery_low",
    "tamper",
    "implausible_value",
    "stuck_value",
    "self_test_failed",
    "baseline_drift",
    "silence",
    "activity_pattern",
    "max_silence",
    "away_too_long",
    "cleared",
    "restored",
    "coincidence",
    "gateway_status",
    "gateway_silence",
    "smoke_verified",
    "not_up",
    "silent_at_home",
    "out_not_back",
)

# Sensor-fault causes, bits of a device's fault mask: sensor_fault is raised while any is set.
FAULT_SMOKE_RANGE = 1
FAULT_TEMP_RANGE = 2
FAULT_CO_RANGE = 4
FAULT_TEMP_STUCK = 8
FAULT_SMOKE_STUCK = 16
FAULT_SELF_TEST = 32
