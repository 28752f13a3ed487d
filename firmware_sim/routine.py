"""The daily routine of an elderly resident as the PIR and door contact see it.

Piecewise-constant activity rates (awake, asleep, out of the house), so motion is a Poisson
process drawn exactly per segment. Rates are design targets, loosely shaped on telecare
practice (a resident moves around the flat many times an hour by day, gets up once or twice
at night, goes out once or twice a day); none is a measured figure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from firmware_sim.device import LOCAL_UTC_OFFSET_S

PIR_HOLDOFF_S = 30.0  # a PIR reports movement at most this often (device_types: pir fast interval)
DAY_S = 86400.0


@dataclass(frozen=True)
class Resident:
    wake_h: float  # local hour of getting up
    sleep_h: float  # local hour of going to bed
    awake_rate: float  # PIR reports per hour while at home and awake
    night_rate: float  # per hour while asleep (getting up at night)
    outings_per_day: float
    door_checks_per_h: float  # door opened without going out (deliveries, neighbours)

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Resident:
        return cls(
            wake_h=float(rng.uniform(5.5, 7.5)),
            sleep_h=float(rng.uniform(20.5, 22.5)),
            awake_rate=float(rng.uniform(6.0, 20.0)),
            night_rate=float(rng.uniform(0.2, 0.6)),
            outings_per_day=float(rng.uniform(0.5, 2.0)),
            door_checks_per_h=float(rng.uniform(0.05, 0.2)),
        )


@dataclass(frozen=True)
class Activity:
    """Sorted PIR motion times, and door changes (time, 1 open / 0 closed)."""

    motion: np.ndarray
    door_ts: np.ndarray
    door_value: np.ndarray

    def until(self, t: float) -> Activity:
        """The activity strictly before `t`."""
        keep = self.door_ts < t
        return Activity(self.motion[self.motion < t], self.door_ts[keep], self.door_value[keep])


def local_midnight(t: float) -> float:
    """Epoch seconds of the local midnight starting the day that contains `t`."""
    return float(t - (t + LOCAL_UTC_OFFSET_S) % DAY_S)


def _poisson_times(rng: np.random.Generator, a: float, b: float, per_hour: float) -> np.ndarray:
    if b <= a or per_hour <= 0:
        return np.empty(0)
    n = rng.poisson(per_hour * (b - a) / 3600.0)
    return np.sort(rng.uniform(a, b, n))


def _holdoff(times: np.ndarray, gap: float) -> np.ndarray:
    """Drop reports closer than `gap` to the previous kept one, as the PIR's hold-off does."""
    kept: list[float] = []
    last = -np.inf
    for t in times.tolist():
        if t - last >= gap:
            kept.append(t)
            last = t
    return np.asarray(kept, dtype=np.float64)


def _outings(rng: np.random.Generator, r: Resident, midnight: float) -> list[tuple[float, float]]:
    n = rng.poisson(r.outings_per_day)
    first = midnight + 3600.0 * max(r.wake_h + 1.0, 8.0)
    last = midnight + 3600.0 * 17.0
    spans = sorted(
        (float(s), float(s + rng.uniform(1800.0, 10800.0))) for s in rng.uniform(first, last, n)
    )
    merged: list[tuple[float, float]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1] + 600.0:
            continue  # still out, or just back: one outing
        merged.append((start, end))
    return merged


def day_activity(rng: np.random.Generator, r: Resident, midnight: float) -> Activity:
    """One local day, starting at `midnight` (epoch s of a local midnight)."""
    wake = midnight + 3600.0 * r.wake_h
    sleep = midnight + 3600.0 * r.sleep_h
    outings = _outings(rng, r, midnight)
    home: list[tuple[float, float]] = []  # awake and at home
    cursor = wake
    for start, end in outings:
        home.append((cursor, start))
        cursor = end
    home.append((cursor, sleep))
    motion = [
        _poisson_times(rng, midnight, wake, r.night_rate),
        _poisson_times(rng, sleep, midnight + DAY_S, r.night_rate),
    ]
    door_open = [s for span in outings for s in span]
    for a, b in home:
        motion.append(_poisson_times(rng, a, b, r.awake_rate))
        door_open.extend(_poisson_times(rng, a, b, r.door_checks_per_h).tolist())
    opens = np.sort(np.asarray(door_open, dtype=np.float64))
    closes = opens + rng.uniform(4.0, 20.0, opens.size)
    door_ts = np.concatenate((opens, closes))
    door_value = np.concatenate((np.ones(opens.size), np.zeros(closes.size)))
    order = np.argsort(door_ts, kind="stable")
    all_motion = _holdoff(np.sort(np.concatenate(motion)), PIR_HOLDOFF_S)
    return Activity(all_motion, door_ts[order], door_value[order])


def activity(rng: np.random.Generator, r: Resident, t0: float, t1: float) -> Activity:
    """The resident's activity in [t0, t1), day by day."""
    parts: list[Activity] = []
    midnight = local_midnight(t0)
    while midnight < t1:
        parts.append(day_activity(rng, r, midnight))
        midnight += DAY_S
    motion = np.concatenate([p.motion for p in parts])
    door_ts = np.concatenate([p.door_ts for p in parts])
    door_value = np.concatenate([p.door_value for p in parts])
    keep = (door_ts >= t0) & (door_ts < t1)
    return Activity(motion[(motion >= t0) & (motion < t1)], door_ts[keep], door_value[keep])
