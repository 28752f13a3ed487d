"""The detectors' memory: plain arrays indexed by device slot or household index.

A device's state is one row of 40 eight-byte columns (five cache lines, 64-byte aligned), seen
through two views of the same buffer: `dev_f` (float64) for the F_* columns and `dev_i` (int64)
for the I_* columns. Columns a reading of one metric touches sit together, so a frame of smoke,
temperature and battery from one device costs a few adjacent cache lines. Households have rows
of 64 columns the same way, gateways rows of 8. Everything a restart must keep lives here, so
`DetectorEngine.save` / `load` keep duration state (persistence counters, CUSUM, baselines,
latches).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from detectors.routine_columns import ROUTINE_END, ROUTINE_FLOATS

if TYPE_CHECKING:  # annotations only: numpy.typing is slow to import at start-up
    import numpy.typing as npt

# Device row. F_* are float64 (NaN: never seen), I_* are int64.
F_LAST_RX = 0  # last receive time of any reading (liveness is judged on arrival)
I_LATCH = 1  # bit per alert kind (codes.KINDS) currently raised
I_FAULTS = 2  # bit per sensor-fault cause (codes.FAULT_*)
F_S_TS = 3  # smoke: device time of the last accepted reading
F_S_A = 4  # smoke: smoothed (smoke_tau_s)
F_S_B = 5  # smoke: trend average (smoke_trend_tau_s)
F_S_BASE = 6  # smoke: clean-air baseline
F_S_CUSUM = 7  # smoke: CUSUM of excess over cusum_k_pct, %/m·min
F_S_PRE_SINCE = 8  # smoke: when the current pre-alarm-level run began (NaN: none)
I_S_PRE_N = 9  # consecutive smoke readings at or above smoke_pre_pct
I_S_FUSED_N = 10
I_S_HIGH_N = 11
I_S_CLEAR_N = 12
I_S_BAD_N = 13  # consecutive implausible smoke readings
F_T_TS = 14  # temperature: as for smoke
F_T_A = 15
F_T_B = 16
F_T_BASE = 17
I_T_FIXED_N = 18
I_T_ROR_N = 19
I_T_CLEAR_N = 20
I_T_BAD_N = 21
F_T_STUCK_V = 22
F_T_STUCK_SINCE = 23
I_T_STUCK_N = 24
F_C_TS = 25  # CO
F_C_A = 26
F_C_BASE = 27
I_C_ALARM_N = 28
I_C_CLEAR_N = 29
I_C_BAD_N = 30
I_B_LOW_N = 31
I_B_OK_N = 32
F_PRESS_TS = 33  # panic: time of the last press that raised an alarm
F_S_STUCK_V = 34
F_S_STUCK_SINCE = 35
I_S_STUCK_N = 36
F_S_RISE_SINCE = 37  # smoke: since when it has kept rising at pre-alarm level (NaN: it is not)
F_S_VERIFY_SINCE = 38  # smoke: since when it has stayed at smoke_verify_pct (NaN: it has not)
I_UNREACHABLE = 39  # 1 while the device's hub declares it unreachable (availability 0)
DEVICE_COLUMNS = 40
# Every F_* column starts as NaN ("never seen"); derived from the names so none is forgotten.
DEVICE_FLOATS = tuple(v for k, v in dict(globals()).items() if k.startswith("F_"))

# Household row.
H_LAST_ACT = 0  # last activity (device time); NaN: none yet
H_LAST_COUNTED = 1  # start of the last counted active period
H_DEADLINE = 3  # when the current silence becomes an inactivity alert
H_DEADLINE_SCORE = 4  # expected active periods in the silence at the deadline / threshold
HI_LATCH = 5  # 1 while an inactivity alert is raised
HI_LAST_DOOR = 6  # 1 if the last activity was a door event
HI_AWAY = 7  # 1 while the household is explicitly away
HI_HAS_PIR = 8  # set by the registry
HI_REP_SLOT = 9  # device slot that carries the household's inactivity alert
HI_PROW = 10  # policy row for the household's inactivity parameters (-1: no activity devices)
HI_DEADLINE_RULE = 11
HI_STALE = 12  # 1 when activity moved the silence start and the deadline is not recomputed
HOUSEHOLD_COLUMNS = -(-ROUTINE_END // 8) * 8  # 64, the learned routine, whole cache lines
HOUSEHOLD_FLOATS = tuple(v for k, v in dict(globals()).items() if k.startswith("H_"))

# Gateway row (one cache line): what arrives from any device behind a gateway.
GW_LAST_RX = 0  # float: last receive time of any of its devices' readings
GW_SILENCE_S = 1  # float: silence after which the gateway is presumed cut off
GWI_LATCH = 2  # int: 1 while a gateway_offline (silence) alert is raised
GATEWAY_COLUMNS = 8

# Room context (issue 16), kept apart from the device row: one row per device (`kit`) and one per
# room of a household (`room`, indexed by `Registry.room_groups`), both float64, NaN: none.
K_HEAT_STOP = 0  # when the heat stopped rising after it had warmed the ceiling (NaN: it has not)
KIT_COLUMNS = 8
RM_HUSH_UNTIL = 0  # smoke-only alarms of the room are hushed until then
RM_HUSH_TS = 1  # when the current hush began
ROOM_COLUMNS = 8

_LINE = 64


def _aligned_rows(n: int, columns: int) -> npt.NDArray[np.int64]:
    """An int64 (n, columns) buffer starting on a cache-line boundary."""
    raw = np.zeros(n * columns + _LINE // 8, dtype=np.int64)
    skip = (-raw.ctypes.data % _LINE) // 8
    return raw[skip : skip + n * columns].reshape(n, columns)


@dataclass
class EngineState:
    """The buffers a `DetectorEngine` owns; saved and loaded as one .npz file."""

    dev: npt.NDArray[np.int64]
    hh: npt.NDArray[np.int64]
    gw: npt.NDArray[np.int64]
    kit: npt.NDArray[np.float64]
    room: npt.NDArray[np.float64]

    @classmethod
    def empty(
        cls, n_devices: int, n_households: int, n_gateways: int, n_rooms: int = 0
    ) -> EngineState:
        dev = _aligned_rows(n_devices, DEVICE_COLUMNS)
        dev.view(np.float64)[:, list(DEVICE_FLOATS)] = np.nan
        dev.view(np.float64)[:, F_S_CUSUM] = 0.0
        hh = _aligned_rows(n_households, HOUSEHOLD_COLUMNS)
        hh_f = hh.view(np.float64)
        hh_f[:, list(HOUSEHOLD_FLOATS)] = np.nan
        hh_f[:, H_DEADLINE] = np.inf
        hh_f[:, list(ROUTINE_FLOATS)] = np.nan
        hh[:, HI_REP_SLOT] = -1
        hh[:, HI_PROW] = -1
        gw = _aligned_rows(n_gateways, GATEWAY_COLUMNS)
        gw.view(np.float64)[:, [GW_LAST_RX, GW_SILENCE_S]] = np.nan
        kit = np.full((n_devices, KIT_COLUMNS), np.nan)
        room = np.full((n_rooms, ROOM_COLUMNS), np.nan)
        return cls(dev, hh, gw, kit, room)

    @property
    def dev_f(self) -> npt.NDArray[np.float64]:
        return self.dev.view(np.float64)

    @property
    def dev_i(self) -> npt.NDArray[np.int64]:
        return self.dev

    @property
    def hh_f(self) -> npt.NDArray[np.float64]:
        return self.hh.view(np.float64)

    @property
    def hh_i(self) -> npt.NDArray[np.int64]:
        return self.hh

    @property
    def gw_f(self) -> npt.NDArray[np.float64]:
        return self.gw.view(np.float64)

    @property
    def gw_i(self) -> npt.NDArray[np.int64]:
        return self.gw

    def grown(
        self, n_devices: int, n_households: int, n_gateways: int, n_rooms: int = 0
    ) -> EngineState:
        """A copy with room for more devices, households, gateways and rooms; rows are kept."""
        bigger = EngineState.empty(n_devices, n_households, n_gateways, n_rooms)
        bigger.dev[: self.dev.shape[0]] = self.dev
        bigger.hh[: self.hh.shape[0]] = self.hh
        bigger.gw[: self.gw.shape[0]] = self.gw
        bigger.kit[: self.kit.shape[0]] = self.kit
        bigger.room[: self.room.shape[0]] = self.room
        return bigger

    def widened(self) -> EngineState:
        """Household rows saved before the routine columns existed get them, still learning
        (a checkpoint from an older version loads instead of being read past its rows' end)."""
        if self.hh.shape[1] >= HOUSEHOLD_COLUMNS:
            return self
        wide = EngineState.empty(0, self.hh.shape[0], 0).hh
        wide[:, : self.hh.shape[1]] = self.hh
        return EngineState(self.dev, wide, self.gw, self.kit, self.room)

    def arrays(self) -> dict[str, npt.NDArray[np.generic]]:
        return {"dev": self.dev, "hh": self.hh, "gw": self.gw, "kit": self.kit, "room": self.room}
