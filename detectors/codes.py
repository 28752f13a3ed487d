"""Small integer codes the kernels work with, and the names people and files use for them.

Kernels see only integers; every name↔code mapping lives here so a reader finds it in one place.
The codes are module-level ints so numba folds them into the compiled kernels as constants.
"""

from __future__ import annotations

from vigil.device_types import DEVICE_TYPES as DEVICE_TYPES
from vigil.device_types import METRIC_CODE as METRIC_CODE
from vigil.device_types import METRICS as METRICS
from vigil.device_types import TYPE_CODE as TYPE_CODE

# Metrics and device types: the one vocabulary of `vigil/device_types.toml`, shared with ingest.
SMOKE = METRIC_CODE["smoke_obscuration"]
TEMPERATURE = METRIC_CODE["temperature"]
CO = METRIC_CODE["co"]
BATTERY = METRIC_CODE["battery"]
TAMPER = METRIC_CODE["tamper"]
BUTTON = METRIC_CODE["button"]
MOTION = METRIC_CODE["motion"]
DOOR = METRIC_CODE["door"]
SELF_TEST = METRIC_CODE["self_test"]
HUSH = METRIC_CODE["hush"]  # an event only: the detector's silence button was pressed
PIR_TYPE = TYPE_CODE["pir"]
DOOR_TYPE = TYPE_CODE["door"]
# States a device declares itself (docs/protocol.md, "Devices that declare their own state"):
# 1 = raised, 0 = restored. Foreign sources (zigbee2mqtt, DC-09, NB-IoT platforms) send these.
SMOKE_DECLARED = METRIC_CODE["smoke_alarm"]
HEAT_DECLARED = METRIC_CODE["heat_alarm"]
CO_DECLARED = METRIC_CODE["co_alarm"]
GAS_DECLARED = METRIC_CODE["gas_alarm"]
WATER_DECLARED = METRIC_CODE["water_leak"]
LOW_BATTERY = METRIC_CODE["low_battery"]
FAULT = METRIC_CODE["fault"]
AVAILABILITY = METRIC_CODE["availability"]  # 1 = online, 0 = the hub or platform says unreachable
BATTERY_PCT = METRIC_CODE["battery_pct"]  # telemetry only: a sign of life
LINK_QUALITY = METRIC_CODE["link_quality"]  # telemetry only: a sign of life
FIRST_DECLARED = SMOKE_DECLARED  # metrics FIRST_DECLARED..AVAILABILITY are declared states

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
GAS = 14
WATER_LEAK = 15
COOKING = 16
HUSHED = 17
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
    "gas",
    "water_leak",
    "cooking",
    "hush",
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
R_DECLARED = 28  # the device itself declared the condition (its own alarm, flag or status)
R_DEVICE_RESTORED = 29  # the device (or its hub) declared the condition over: a restoral
R_COOKING = 30
R_SMOKE_AFTER_HEAT = 31
R_DENSE_SMOKE_HEAT = 32
R_HUSH_BUTTON = 33
R_HUSH_CONSOLE = 34
R_NOT_UP = 35
R_SILENT_HOME = 36
R_OUT_NOT_BACK = 37
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
    "device_declared",
    "device_restored",
    "cooking_smoke",
    "smoke_after_heat",
    "dense_smoke_with_heat",
    "hush_button",
    "hush_console",
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
FAULT_DECLARED = 64  # the device reported trouble itself
