"""Column indices of the policy parameter table the kernels read (`params[row, P_*]`).

One row per distinct (device type, household overrides); `policy.py` fills it from policy.toml.
The names are the keys of policy.toml; DERIVED ones are computed from them (policy.figures).
"""

from __future__ import annotations

P_OFFLINE_MISSED_HEARTBEATS = 0
P_OFFLINE_GRACE_S = 1
P_GATEWAY_SILENCE_PERIODS = 2
P_CLOCK_JUMP_S = 3
P_FAULT_COUNT = 4
P_STUCK_TEMPERATURE_S = 5
P_STUCK_SMOKE_S = 6
P_STUCK_COUNT = 7
P_CONFIRM_AGE_S = 8
P_CLEAR_COUNT = 9
P_SMOKE_TAU_S = 10
P_SMOKE_TREND_TAU_S = 11
P_SMOKE_BASE_TAU_S = 12
P_SMOKE_BASE_TRACK_PCT = 13
P_SMOKE_BASE_INIT_MAX_PCT = 14
P_SMOKE_PRE_PCT = 15
P_SMOKE_PRE_COUNT = 16
P_SMOKE_CLEAR_PCT = 17
P_SMOKE_FUSED_PCT = 18
P_SMOKE_FUSED_COUNT = 19
P_SMOKE_HIGH_PCT = 20
P_SMOKE_HIGH_COUNT = 21
P_SMOKE_ESCALATE_S = 22
P_SMOKE_RISE_PCT_PER_MIN = 23
P_SMOKE_VERIFY_PCT = 24
P_SMOKE_VERIFY_S = 25
P_CUSUM_K_PCT = 26
P_CUSUM_H_PCT_MIN = 27
P_DIRTY_PCT = 28
P_DIRTY_CLEAR_PCT = 29
P_TEMP_TAU_S = 30
P_TEMP_TREND_TAU_S = 31
P_TEMP_BASE_TAU_S = 32
P_TEMP_BASE_TRACK_C = 33
P_HEAT_FIXED_C = 34
P_HEAT_FIXED_COUNT = 35
P_HEAT_ROR_C_PER_MIN = 36
P_HEAT_ROR_MIN_RISE_C = 37
P_HEAT_ROR_COUNT = 38
P_HEAT_CLEAR_MARGIN_C = 39
P_HEAT_RISING_C = 40
P_HEAT_RISING_C_PER_MIN = 41
P_CO_TAU_S = 42
P_CO_BASE_TAU_S = 43
P_CO_FUSED_PPM = 44
P_CO_ALARM_PPM = 45
P_CO_ALARM_COUNT = 46
P_BATTERY_LOW_V = 47
P_BATTERY_COUNT = 48
P_PANIC_DEBOUNCE_S = 49
P_CANCEL_GRACE_S = 50
P_INACTIVITY_MIN_SILENCE_S = 51
P_INACTIVITY_MAX_SILENCE_S = 52
P_INACTIVITY_ACTIVE_PERIOD_S = 53
P_INFER_AWAY = 54
P_AWAY_MAX_S = 55
P_UTC_OFFSET_H = 56
P_OFFLINE_AFTER_S = 57
P_SMOKE_RATE_SCALE = 58
P_TEMP_RATE_SCALE = 59
P_ROUTINE_LEARN_DAYS = 60
P_ROUTINE_BUCKET_DAYS = 61
P_ROUTINE_CAP_DENSE_S = 62
P_ROUTINE_CAP_SPARSE_S = 63
P_ROUTINE_DENSE_PER_DAY = 64
P_ROUTINE_GAP_FACTOR = 65
P_ROUTINE_GAP_MARGIN_S = 66
P_ROUTINE_REST_MARGIN_S = 67
P_ROUTINE_OUT_MARGIN_S = 68
P_ROUTINE_OUT_FLOOR_S = 69
P_ROUTINE_NIGHT_H = 70
P_ROUTINE_PRIOR_BED_H = 71
P_ROUTINE_PRIOR_WAKE_H = 72
# Room context (issue 16): a room with a stove, and the hush.
P_STOVE_HEAT_C = 73
P_STOVE_HEAT_C_PER_MIN = 74
P_STOVE_SMOKE_PCT = 75
P_SMOKE_AFTER_HEAT_S = 76
P_SMOKE_VERIFY_FALL_PCT_PER_MIN = 77
P_HUSH_S = 78
P_SMOKE_ESCALATE_PCT = 79
# Inactivity again (issue 15): the shortest daytime limit in a home of switches only.
P_ROUTINE_FLOOR_SPARSE_S = 80

PARAMS: tuple[str, ...] = (
    "offline_missed_heartbeats",
    "offline_grace_s",
    "gateway_silence_periods",
    "clock_jump_s",
    "fault_count",
    "stuck_temperature_s",
    "stuck_smoke_s",
    "stuck_count",
    "confirm_age_s",
    "clear_count",
    "smoke_tau_s",
    "smoke_trend_tau_s",
    "smoke_base_tau_s",
    "smoke_base_track_pct",
    "smoke_base_init_max_pct",
    "smoke_pre_pct",
    "smoke_pre_count",
    "smoke_clear_pct",
    "smoke_fused_pct",
    "smoke_fused_count",
    "smoke_high_pct",
    "smoke_high_count",
    "smoke_escalate_s",
    "smoke_rise_pct_per_min",
    "smoke_verify_pct",
    "smoke_verify_s",
    "cusum_k_pct",
    "cusum_h_pct_min",
    "dirty_pct",
    "dirty_clear_pct",
    "temp_tau_s",
    "temp_trend_tau_s",
    "temp_base_tau_s",
    "temp_base_track_c",
    "heat_fixed_c",
    "heat_fixed_count",
    "heat_ror_c_per_min",
    "heat_ror_min_rise_c",
    "heat_ror_count",
    "heat_clear_margin_c",
    "heat_rising_c",
    "heat_rising_c_per_min",
    "co_tau_s",
    "co_base_tau_s",
    "co_fused_ppm",
    "co_alarm_ppm",
    "co_alarm_count",
    "battery_low_v",
    "battery_count",
    "panic_debounce_s",
    "cancel_grace_s",
    "inactivity_min_silence_s",
    "inactivity_max_silence_s",
    "inactivity_active_period_s",
    "infer_away",
    "away_max_s",
    "utc_offset_h",
    "offline_after_s",
    "smoke_rate_scale",
    "temp_rate_scale",
    "routine_learn_days",
    "routine_bucket_days",
    "routine_cap_dense_s",
    "routine_cap_sparse_s",
    "routine_dense_per_day",
    "routine_gap_factor",
    "routine_gap_margin_s",
    "routine_rest_margin_s",
    "routine_out_margin_s",
    "routine_out_floor_s",
    "routine_night_h",
    "routine_prior_bed_h",
    "routine_prior_wake_h",
    "stove_heat_c",
    "stove_heat_c_per_min",
    "stove_smoke_pct",
    "smoke_after_heat_s",
    "smoke_verify_fall_pct_per_min",
    "hush_s",
    "smoke_escalate_pct",
    "routine_floor_sparse_s",
)
DERIVED: tuple[str, ...] = ("offline_after_s", "smoke_rate_scale", "temp_rate_scale")
