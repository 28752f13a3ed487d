"""Every device of the district going about its ordinary day, vectorised: periodic reports and
heartbeats with noise, dust and battery decay, daily self-tests, and the elderly residents'
motion and door activity.

Noise comes from a counter-based generator keyed by (seed, device, report number), so a frame's
values do not depend on how the run is cut into ticks: the same seed gives the same frames at
any speed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from firmware_sim.device import (
    Ambient,
    measure,
    periodic_metrics,
    report_period,
)
from firmware_sim.district import Device
from firmware_sim.routine import DAY_S, Resident, day_activity, local_midnight
from firmware_sim.wire import EVENT, REPORT, Frame
from vigil.device_types import device_type

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
JITTER_S = 0.05  # firmware clock jitter around each report period
_JITTER_STREAM = 99


def _mix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: a well-spread 64-bit hash."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return np.asarray(x ^ (x >> np.uint64(31)))


def hashed_normals(seed: int, dev: np.ndarray, counter: np.ndarray, stream: int) -> np.ndarray:
    """Standard normal draws, one per (dev, counter), fixed by (seed, stream)."""
    base = np.uint64((seed * 0x9E3779B97F4A7C15 + stream) & 0xFFFFFFFFFFFFFFFF)
    key = _mix(base + dev.astype(np.uint64) * _GOLDEN)
    key = _mix(key ^ (counter.astype(np.uint64) * _M1 + _GOLDEN))
    u1 = (key >> np.uint64(11)).astype(np.float64) * 2.0**-53
    u2 = (_mix(key ^ _GOLDEN) >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return np.asarray(np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2))


class Fleet:
    """The background behaviour of `devices` from sim time `start` on."""

    def __init__(self, devices: Sequence[Device], seed: int, start: float) -> None:
        self.seed = seed
        n = len(devices)
        rng = np.random.default_rng([seed, 1])
        self.ambient = Ambient.draw(rng, n, start)
        self.type_names = sorted({d.type for d in devices})
        self.type_code = np.array([self.type_names.index(d.type) for d in devices], dtype=np.int64)
        self._metrics = [periodic_metrics(device_type(t)) for t in self.type_names]
        self.period = np.array([report_period(device_type(d.type)) for d in devices])
        self.next_due = start + rng.uniform(0.0, 1.0, n) * self.period
        self.count = np.zeros(n, dtype=np.int64)
        # Daily self-test at a fixed local time per device, in the small hours.
        self.self_test_at = rng.uniform(2.0, 5.0, n) * 3600.0
        self.self_tests = np.array([device_type(d.type).metrics.count("self_test") > 0
                                    for d in devices])  # fmt: skip
        self._homes = self._elderly_homes(devices, seed)
        self._day: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._day_start = local_midnight(start)
        self._cursor = 0
        self._load_day()
        self._cursor = int(np.searchsorted(self._day_arrays()[0], start, side="left"))

    @staticmethod
    def _elderly_homes(devices: Sequence[Device], seed: int) -> list[tuple[int, int, Resident]]:
        """(PIR index, door index, resident) of every household with both sensors."""
        pir: dict[str, int] = {}
        door: dict[str, int] = {}
        for i, d in enumerate(devices):
            if d.household_id is not None and d.type in ("pir", "door"):
                (pir if d.type == "pir" else door)[d.household_id] = i
        rng = np.random.default_rng([seed, 4])
        return [(pir[h], door[h], Resident.draw(rng)) for h in pir if h in door]

    # ------------------------------------------------------------ periodic reports

    def periodic(self, t1: float, busy: np.ndarray) -> list[Frame]:
        """Periodic frames due before `t1`, skipping (but keeping the clock of) busy devices."""
        frames: list[Frame] = []
        while True:
            due = np.flatnonzero(self.next_due < t1)
            if due.size == 0:
                return frames
            ts = self.next_due[due]
            k = self.count[due]
            jitter = JITTER_S * hashed_normals(self.seed, due, k, _JITTER_STREAM)
            self.next_due[due] += self.period[due] + jitter
            self.count[due] += 1
            live = ~busy[due]
            frames.extend(self._reports(due[live], ts[live], k[live]))

    def _reports(self, dev: np.ndarray, ts: np.ndarray, k: np.ndarray) -> list[Frame]:
        frames: list[Frame] = []
        codes = self.type_code[dev]
        for code, names in enumerate(self._metrics):
            sel = codes == code
            if not sel.any():
                continue
            d, t, kk = dev[sel], ts[sel], k[sel]
            columns = [
                measure(m, self.ambient.true(m, d, t), hashed_normals(self.seed, d, kk, j))
                for j, m in enumerate(names)
            ]
            rows = np.column_stack(columns).tolist()
            frames.extend(
                (tt, dd, REPORT, dict(zip(names, row, strict=True)))
                for tt, dd, row in zip(t.tolist(), d.tolist(), rows, strict=True)
            )
        return frames

    # ------------------------------------------------------------ the day's activity

    def _day_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        assert self._day is not None
        return self._day

    def _load_day(self) -> None:
        """Activity and self-tests of the local day starting at `_day_start`."""
        midnight = self._day_start
        rng = np.random.default_rng([self.seed, 3, round((midnight + 8 * 3600) / DAY_S)])
        ts: list[np.ndarray] = []
        dev: list[np.ndarray] = []
        metric: list[np.ndarray] = []
        value: list[np.ndarray] = []
        for pir, door, resident in self._homes:
            act = day_activity(rng, resident, midnight)
            ts += [act.motion, act.door_ts]
            dev += [np.full(act.motion.size, pir), np.full(act.door_ts.size, door)]
            metric += [np.zeros(act.motion.size, np.int64), np.ones(act.door_ts.size, np.int64)]
            value += [np.ones(act.motion.size), act.door_value]
        testers = np.flatnonzero(self.self_tests)
        ts.append(midnight + self.self_test_at[testers])
        dev.append(testers)
        metric.append(np.full(testers.size, 2, np.int64))
        value.append(np.ones(testers.size))
        all_ts = np.concatenate(ts)
        order = np.argsort(all_ts, kind="stable")
        self._day = (
            all_ts[order],
            np.concatenate(dev)[order],
            np.concatenate(metric)[order],
            np.concatenate(value)[order],
        )
        self._cursor = 0

    def activity(self, t1: float, busy: np.ndarray) -> list[Frame]:
        """Motion, door and self-test frames before `t1`."""
        frames: list[Frame] = []
        while True:
            ts, dev, metric, value = self._day_arrays()
            end = int(np.searchsorted(ts, t1, side="left"))
            for t, d, m, v in zip(
                ts[self._cursor : end].tolist(),
                dev[self._cursor : end].tolist(),
                metric[self._cursor : end].tolist(),
                value[self._cursor : end].tolist(),
                strict=True,
            ):
                if busy[d]:
                    continue
                if m == 2:
                    frames.append((t, d, EVENT, ("self_test", v)))
                else:
                    frames.append((t, d, REPORT, {"motion" if m == 0 else "door": v}))
            self._cursor = end
            if t1 < self._day_start + DAY_S:
                return frames
            self._day_start += DAY_S
            self._load_day()
