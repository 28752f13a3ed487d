"""The detectors' memory: plain arrays indexed by device slot or household index.

A device's state is one row of `dev_f` (float64) and one of `dev_i` (int64), so a reading touches
two or three cache lines; households (activity pattern, inactivity) have rows of their own.
Everything a restart must keep is in these arrays, so `DetectorEngine.save` / `load` keep
duration state (persistence counters, CUSUM, baselines, latches) across restarts.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

# Device floats. NaN means "never seen".
F_LAST_RX = 0  # last receive time of any reading (liveness is judged on arrival, not device clock)
F_S_TS = 1  # smoke: device time of the last accepted reading
F_S_A = 2  # smoke: smoothed (smoke_tau_s)
F_S_B = 3  # smoke: trend average (smoke_trend_tau_s)
F_S_BASE = 4  # smoke: clean-air baseline
F_S_CUSUM = 5  # smoke: CUSUM of excess over cusum_k_pct, %/m·min
F_S_PRE_SINCE = 6  # smoke: when the current pre-alarm-level run began (NaN: none)
F_S_STUCK_V = 7
F_S_STUCK_SINCE = 8
F_T_TS = 9  # temperature: as for smoke
F_T_A = 10
F_T_B = 11
F_T_BASE = 12
F_T_STUCK_V = 13
F_T_STUCK_SINCE = 14
F_C_TS = 15  # CO
F_C_A = 16
F_C_BASE = 17
F_PRESS_TS = 18  # panic: time of the last press that raised an alarm
NF = 19

# Device ints.
I_LATCH = 0  # bit per alert kind (codes.KINDS) currently raised
I_FAULTS = 1  # bit per sensor-fault cause (codes.FAULT_*)
I_S_PRE_N = 2  # consecutive smoke readings at or above smoke_pre_pct
I_S_FUSED_N = 3
I_S_HIGH_N = 4
I_S_CLEAR_N = 5
I_S_BAD_N = 6  # consecutive implausible smoke readings
I_S_STUCK_N = 7
I_T_FIXED_N = 8
I_T_ROR_N = 9
I_T_CLEAR_N = 10
I_T_BAD_N = 11
I_T_STUCK_N = 12
I_C_ALARM_N = 13
I_C_CLEAR_N = 14
I_C_BAD_N = 15
I_B_LOW_N = 16
I_B_OK_N = 17
NI = 20  # padded so a row is 160 bytes

# Household floats.
H_LAST_ACT = 0  # last activity (device time); NaN: none yet
H_LAST_COUNTED = 1  # start of the last counted active period
H_EXPO_TS = 2  # exposure of the hour-of-day bins is accounted up to here
H_DEADLINE = 3  # when the current silence becomes an inactivity alert
H_DEADLINE_SCORE = 4  # expected active periods in the silence at the deadline / threshold
NHF = 5

# Household ints.
HI_LATCH = 0  # 1 while an inactivity alert is raised
HI_LAST_DOOR = 1  # 1 if the last activity was a door event
HI_AWAY = 2  # 1 while the household is explicitly away
HI_HAS_PIR = 3  # set by the registry
HI_REP_SLOT = 4  # device slot that carries the household's inactivity alert
HI_PROW = 5  # policy row for the household's inactivity parameters (-1: no activity devices)
HI_DEADLINE_RULE = 6
NHI = 7

HOURS = 24


@dataclass
class EngineState:
    """All arrays a `DetectorEngine` owns; saved and loaded as one .npz file."""

    dev_f: npt.NDArray[np.float64]
    dev_i: npt.NDArray[np.int64]
    hh_f: npt.NDArray[np.float64]
    hh_i: npt.NDArray[np.int64]
    hh_cnt: npt.NDArray[np.float64]
    hh_expo: npt.NDArray[np.float64]

    @classmethod
    def empty(cls, n_devices: int, n_households: int) -> EngineState:
        dev_f = np.full((n_devices, NF), np.nan)
        dev_f[:, F_S_CUSUM] = 0.0
        hh_f = np.full((n_households, NHF), np.nan)
        hh_f[:, H_DEADLINE] = np.inf
        hh_i = np.zeros((n_households, NHI), dtype=np.int64)
        hh_i[:, HI_REP_SLOT] = -1
        hh_i[:, HI_PROW] = -1
        return cls(
            dev_f=dev_f,
            dev_i=np.zeros((n_devices, NI), dtype=np.int64),
            hh_f=hh_f,
            hh_i=hh_i,
            hh_cnt=np.zeros((n_households, HOURS)),
            hh_expo=np.zeros((n_households, HOURS)),
        )

    def grown(self, n_devices: int, n_households: int) -> EngineState:
        """A copy with room for more devices and households; existing rows are kept."""
        bigger = EngineState.empty(n_devices, n_households)
        for f in fields(self):
            old = getattr(self, f.name)
            getattr(bigger, f.name)[: old.shape[0]] = old
        return bigger

    def arrays(self) -> dict[str, npt.NDArray[np.generic]]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
