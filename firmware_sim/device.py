"""How simulated firmware measures and reports: sensor noise and resolution, the ambient signal a
quiet device sees (room temperature, dust, battery), and when it sends a frame.

Everything here is pure and vectorised over numpy arrays, so the scenario library (one household)
and the fleet (a whole district) share the same firmware rules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vigil.device_types import DeviceType, device_type, metrics

# Metrics sent as device events (frame field "e"), not readings.
EVENT_METRICS = frozenset({"button", "tamper", "self_test"})
# Readings sent the moment they change (PIR motion, door contact), never periodically.
ON_CHANGE_METRICS = frozenset({"motion", "door"})

# (noise standard deviation, resolution) of each periodically measured metric. Smoke and
# temperature resolutions are those of common wireless detectors; noise is a design target.
SENSOR = {
    "smoke_obscuration": (0.03, 0.01),
    "temperature": (0.08, 0.1),
    "co": (1.0, 1.0),
    "battery": (0.004, 0.01),
}

# Fast reporting: the firmware samples every fast interval and reports at that pace while a
# metric changes by more than `delta` within `CHANGE_WINDOW_S`, or stands above `level`
# (near alarm), and for `FAST_HOLD_S` after. Values: design targets, not from a standard.
CHANGE_WINDOW_S = 10.0
FAST_HOLD_S = 60.0
FAST_TRIGGER = {
    "smoke_obscuration": (0.2, 4.0),
    "temperature": (1.0, 50.0),
    "co": (10.0, 50.0),
}

# Near end of life (V): the 3 V lithium cell of a detector, and the coin cells of the small
# devices that run lower under their lighter load. Design targets (unconfirmed), the same
# figures as detectors/policy.toml.
LOW_BATTERY_V = {"smoke": 2.6, "heat": 2.6, "multi": 2.6, "panic": 2.4, "pir": 2.4, "door": 2.4}
LOCAL_UTC_OFFSET_S = 8 * 3600  # the district's local time (China Standard Time)


def periodic_metrics(dtype: DeviceType) -> tuple[str, ...]:
    """What a periodic report of this type carries (battery last)."""
    skip = EVENT_METRICS | ON_CHANGE_METRICS
    return tuple(m for m in dtype.metrics if m not in skip and not metrics()[m].foreign)


def report_period(dtype: DeviceType) -> float:
    """Seconds between periodic frames: the report interval, or the heartbeat for types that
    only report battery periodically (panic, PIR, door)."""
    if periodic_metrics(dtype) == ("battery",):
        return min(dtype.report_interval_s, dtype.heartbeat_interval_s)
    return dtype.report_interval_s


def measure(metric: str, true: np.ndarray, z: np.ndarray) -> np.ndarray:
    """What the sensor reports for true values, given standard normal draws `z` (same shape):
    noise, resolution, then its measuring range (the sensor saturates; it never reports
    outside what the device type allows)."""
    noise, resolution = SENSOR[metric]
    m = metrics()[metric]
    values = true + noise * z
    # Round twice: the second drops binary noise (22.200000000000003) from the frames.
    values = np.round(np.round(values / resolution) * resolution, 6)
    return np.clip(values, m.min, m.max)


def local_hour(t: np.ndarray | float) -> np.ndarray:
    """Hour of the local day (0..24) of epoch seconds."""
    return np.asarray((np.asarray(t) + LOCAL_UTC_OFFSET_S) % 86400.0 / 3600.0)


@dataclass(frozen=True)
class Ambient:
    """The quiet signal each device sees, one array element per device: room temperature with a
    daily swing, smoke baseline that creeps as dust settles, a slowly draining battery."""

    epoch: float  # when the batteries were at `battery_v0` and the baselines at `smoke_base`
    temp_base: np.ndarray
    smoke_base: np.ndarray
    dust_per_day: np.ndarray  # %/m per day
    co_base: np.ndarray
    battery_v0: np.ndarray
    battery_per_day: np.ndarray  # V per day

    @classmethod
    def draw(cls, rng: np.random.Generator, n: int, epoch: float) -> Ambient:
        return cls(
            epoch=epoch,
            temp_base=rng.uniform(16.0, 26.0, n),
            smoke_base=rng.uniform(0.05, 0.4, n),
            dust_per_day=np.minimum(rng.exponential(5e-4, n), 3e-3),  # ~1 %/m in 5 years
            co_base=rng.uniform(0.0, 3.0, n),
            battery_v0=rng.uniform(2.85, 3.1, n),
            battery_per_day=rng.uniform(1e-4, 5e-4, n),
        )

    def true(self, metric: str, idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        """True value of `metric` for devices `idx` at times `t` (same shape)."""
        days = (t - self.epoch) / 86400.0
        if metric == "temperature":
            swing = 1.5 * np.sin(2 * np.pi * (local_hour(t) - 9.0) / 24.0)
            return np.asarray(self.temp_base[idx] + swing)
        if metric == "smoke_obscuration":
            return np.asarray(self.smoke_base[idx] + self.dust_per_day[idx] * days)
        if metric == "co":
            return np.asarray(self.co_base[idx] + np.zeros_like(days))
        if metric == "battery":
            return np.asarray(self.battery_v0[idx] - self.battery_per_day[idx] * days)
        raise ValueError(f"no ambient model for metric {metric!r}")


def report_times(
    type_name: str,
    t_start: float,
    t_end: float,
    phase: float,
    traces: dict[str, tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """Times in [t_start, t_end) at which a device of `type_name` sends a periodic frame.

    `traces` maps metrics to (times, true values) the firmware samples; while any of them
    changes fast or stands near alarm, the device reports every fast interval. `phase` (s,
    0 <= phase < period) places the device's periodic reports on its own clock.
    """
    dtype = device_type(type_name)
    period = report_period(dtype)
    if not 0.0 <= phase < period:
        raise ValueError(f"phase {phase} outside 0..{period}")
    periodic = np.arange(t_start + phase, t_end, period)
    fast = dtype.fast_report_interval_s
    grid = np.arange(t_start + phase % fast, t_end, fast)
    if grid.size == 0:
        return periodic
    active = np.zeros(grid.size, dtype=bool)
    lag = max(1, round(CHANGE_WINDOW_S / fast))
    for metric, (tt, vv) in traces.items():
        if metric not in FAST_TRIGGER or metric not in dtype.metrics:
            continue
        delta, level = FAST_TRIGGER[metric]
        v = np.interp(grid, tt, vv)
        change = np.zeros(grid.size, dtype=bool)
        change[lag:] = np.abs(v[lag:] - v[:-lag]) >= delta
        active |= change | (v >= level)
    hold = max(1, round(FAST_HOLD_S / fast))
    counts = np.cumsum(np.concatenate(([0], active.astype(np.int64))))
    recent = counts[1:] - counts[np.maximum(np.arange(1, grid.size + 1) - hold, 0)]
    return np.union1d(periodic, grid[recent > 0])
