"""Households of several kinds, 60 days each, for evaluating the wellness checks.

Calibrated to published figures of recorded homes (issue 15): sleep of 7-10 h beginning 21:30 to
02:30 and ending 05:30 to 11:30, moving by up to 1.5 h from night to night, 0-3 toilet trips a
night, afternoon naps; absences of 20 minutes to 10 hours, some every weekday at the same hours,
weekends away up to 48 h; visitors (in and out by the front door); the front door opened while
at home; sensor density from hundreds of events a day (a PIR in every room) down to 30-60 (door
and appliance switches only); a sensor that goes silent; a bedroom PIR that sees the sleeper
turn over (then no silence of the night lasts a rest).

A household is simulated minute by minute as a sequence of states (asleep, active at home, still
at home, out, visitor only); each state has a chance per minute of an event from the home's
presence sensors. Every presence sensor is a `pir` device reporting `motion` 1 when used, the
front door a `door` device reporting 1 (open) and 0 (closed), as recorded homes are replayed.
Collapses cut the stream: at home by day (activity stops), at night (never gets up) and outside
(goes out and never comes back). Pure numpy, seeded: the same seed gives the same household.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

MIN = 60.0
DAY = 86400.0
ASLEEP, ACTIVE, STILL, OUT, VISITOR = 0, 1, 2, 3, 4
UTC_OFFSET_S = 8 * 3600.0  # local time of the district (as the replay's default utc_offset_h)
T0 = 1_767_225_600.0 - UTC_OFFSET_S  # 2026-01-01 00:00 local (a Thursday)
KINDS = (
    "late_sleeper",
    "weekday_worker",
    "switches_only",
    "weekend_away",
    "many_visitors",
    "night_shift",
    "restless_sleeper",
)


@dataclass(frozen=True)
class Kind:
    """What differs between household kinds."""

    bed_h: float  # mean local hour sleep begins (may exceed 24)
    wake_h: float  # mean local hour of the first activity
    sparse: bool  # switches only (30-60 events a day) instead of a PIR in every room
    work: tuple[float, float, float] | None = None  # weekdays: leave h, back from h, back to h
    weekend_away: bool = False
    visitors: float = 0.0  # visits a day
    night_shift: bool = False
    nap: float = 0.3  # chance of an afternoon nap
    sensor_loss_day: int | None = None  # a PIR goes silent from this day
    stirs: float = 0.0  # asleep, events a minute from a bedroom PIR that sees her turn over


SPEC: dict[str, Kind] = {
    "late_sleeper": Kind(bed_h=25.5, wake_h=10.5, sparse=False),
    "weekday_worker": Kind(bed_h=23.0, wake_h=7.0, sparse=False, work=(10.0, 17.0, 20.0)),
    "switches_only": Kind(bed_h=22.0, wake_h=6.5, sparse=True, nap=0.4),
    "weekend_away": Kind(bed_h=22.5, wake_h=6.5, sparse=False, weekend_away=True),
    "many_visitors": Kind(bed_h=22.0, wake_h=6.0, sparse=False, visitors=1.5, sensor_loss_day=30),
    "night_shift": Kind(bed_h=32.5, wake_h=15.5, sparse=False, night_shift=True, nap=0.0),
    # A guess, not a published figure: a ceiling PIR over the bed sees a turn about every 50 min.
    "restless_sleeper": Kind(bed_h=23.0, wake_h=7.0, sparse=False, stirs=0.02),
}

# Chance of an event per minute from the presence sensors, per state (dense, sparse).
RATE = {
    ACTIVE: (0.45, 0.055),
    STILL: (0.012, 0.0),
    ASLEEP: (0.001, 0.0),
    OUT: (0.0, 0.0),
    VISITOR: (0.3, 0.04),
}


@dataclass
class Household:
    """One simulated household: its events and what really happened."""

    kind: str
    seed: int
    days: int
    ts: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    device: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    value: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    n_presence: int = 4
    wakes: list[float] = field(default_factory=list)  # first activity of each day (epoch s)
    sleeps: list[tuple[float, float]] = field(default_factory=list)  # main sleep begin, end
    absences: list[tuple[float, float, bool]] = field(default_factory=list)  # leave, back, habit
    home_day: list[tuple[float, float]] = field(default_factory=list)  # at home, awake spans

    @property
    def door(self) -> int:
        """Device index of the front door (presence sensors are 0..n_presence-1)."""
        return self.n_presence

    def cut(self, at: float) -> tuple[npt.NDArray[np.float64], ...]:
        """The events before `at` (a collapse: nothing after it)."""
        keep = self.ts < at
        return self.ts[keep], self.device[keep].astype(np.float64), self.value[keep]


def _h(day: int, hour: float) -> float:
    return T0 + day * DAY + hour * 3600.0


def _weekend(day: int) -> bool:
    return (day + 3) % 7 >= 5  # day 0 is a Thursday


def generate(kind: str, seed: int, days: int = 60) -> Household:
    """A household of this kind, `days` long."""
    sim = _Sim(kind, seed, days)
    sim.nights()
    sim.days()
    return sim.events()


class _Sim:
    """One household minute by minute: the state of each minute, then its events."""

    def __init__(self, kind: str, seed: int, days: int) -> None:
        self.spec = spec = SPEC[kind]
        self.rng = np.random.default_rng([seed, KINDS.index(kind)])
        self.n = days * 1440
        self.state = np.full(self.n, ACTIVE, dtype=np.int8)
        self.hh = Household(kind, seed, days, n_presence=3 if spec.sparse else 5)
        self.door: list[float] = []
        # Weekends away (every other one): Friday evening to Sunday, up to 48 h.
        self.trips: list[tuple[float, float]] = []
        for d in range(days):
            if spec.weekend_away and (d + 3) % 7 == 4 and (d // 7) % 2 == 1:
                leave = _h(d, self.rng.uniform(16.0, 19.0))
                self.trips.append((leave, leave + self.rng.uniform(44.0, 48.0) * 3600.0))

    def minute(self, t: float) -> int:
        return int((t - T0) // MIN)

    def put(self, a: float, b: float, s: int) -> None:
        self.state[max(self.minute(a), 0) : max(min(self.minute(b), self.n), 0)] = s

    def free(self, start: float, length: float) -> bool:
        """Is the resident up and about at home all through start..start + length?"""
        i, j = self.minute(start), self.minute(start + length)
        return i >= 0 and j < self.n and bool(np.all(self.state[i:j] == ACTIVE))

    def out(self, leave: float, back: float, habit: bool) -> None:
        self.put(leave, back, OUT)
        self.door += [leave, back]
        self.hh.absences.append((leave, back, habit))

    def nights(self) -> None:
        """Sleep, night by night: sleep of night d begins on day d (hours may exceed 24)."""
        spec, rng = self.spec, self.rng
        for d in range(-1, self.hh.days):
            shift_night = spec.night_shift and (d + 3) % 7 in (6, 0, 1, 2, 3)  # Sun-Thu nights
            jitter = float(np.clip(rng.normal(0.0, 0.5), -1.5, 1.5))
            if spec.night_shift and not shift_night:
                bed = 25.0 + jitter
                wake = 9.5 + 24.0 + float(np.clip(rng.normal(0, 0.5), -1.5, 1.5))
            else:
                late = 0.75 if _weekend(d + 1) and not spec.night_shift else 0.0
                bed = spec.bed_h + jitter + late * 0.5
                wake = spec.wake_h + 24.0 + late + float(np.clip(rng.normal(0.0, 0.5), -1.5, 1.5))
                wake = max(wake, bed + 7.0)
            if spec.night_shift and shift_night:
                # Out at work 21:30-07:30, then sleeps 08:30-15:30 the next day.
                self.out(_h(d, 21.5 + rng.normal(0, 0.15)), _h(d, 31.5 + rng.normal(0, 0.2)), True)
                bed, wake = 32.5 + abs(jitter) * 0.5, spec.wake_h + 24.0 + jitter
            a, b = _h(d, bed), _h(d, wake)
            if any(lo - 3600.0 < b and a < hi + 3600.0 for lo, hi in self.trips):
                continue
            self.put(a, b, ASLEEP)
            self.hh.sleeps.append((a, b))
            self.hh.wakes.append(b)
            for _ in range(int(rng.integers(0, 4))):  # toilet trips
                t = a + rng.uniform(0.15, 0.85) * (b - a)
                self.put(t, t + rng.uniform(3, 8) * MIN, ACTIVE)

    def days(self) -> None:
        for leave, back in self.trips:
            self.out(leave, back, True)
        for d in range(self.hh.days):
            if not any(lo - DAY < _h(d, 12.0) < hi + DAY / 2 for lo, hi in self.trips):
                self.day(d)

    def day(self, d: int) -> None:
        """Work, errands, still spells, naps and visitors of one day."""
        spec, rng = self.spec, self.rng
        if spec.work and not _weekend(d):
            self.out(
                _h(d, spec.work[0] + rng.normal(0, 0.25)),
                _h(d, rng.uniform(spec.work[1], spec.work[2])),
                True,
            )
        # Errands: 20 min to 3 h mostly, sometimes a day out of up to 10 h.
        for _ in range(int(rng.poisson(0.8))):
            long = rng.random() < 0.08  # a day out begins in the morning
            start = _h(d, rng.uniform(8.0, 12.0) if long else rng.uniform(9.0, 19.0))
            dur = rng.uniform(5.0, 10.0) * 3600.0 if long else rng.uniform(20.0, 180.0) * MIN
            if self.free(start, dur):
                self.out(start, start + dur, False)
        # Still spells (television, reading) and naps.
        for _ in range(int(rng.integers(1, 4))):
            start = _h(d, rng.uniform(9.0, 21.0))
            if self.free(start, 80 * MIN):
                self.put(start, start + rng.uniform(15.0, 70.0) * MIN, STILL)
        if rng.random() < spec.nap:
            start = _h(d, rng.uniform(13.0, 15.0))
            if self.free(start, 110 * MIN):
                self.put(start, start + rng.uniform(30.0, 100.0) * MIN, ASLEEP)
        # Visitors come in and leave by the front door, for an hour: while the resident is out
        # they move about the home; while the resident is at home both are up and about.
        for _ in range(int(rng.poisson(spec.visitors))):
            start = _h(d, rng.uniform(9.0, 20.0))
            i, j = self.minute(start), self.minute(start + 60 * MIN)
            if i >= 0 and j < self.n:
                span = self.state[i:j]
                span[span == OUT] = VISITOR
                span[span == STILL] = ACTIVE
                self.door += [start, start + 60 * MIN]
        # The resident opens the front door now and then while at home (the post, a parcel,
        # the rubbish) and carries on (a recorded home: 15 of 100 front-door events so).
        for _ in range(int(rng.poisson(0.7))):
            t = _h(d, rng.uniform(8.0, 20.0))
            if self.free(t - 10 * MIN, 20 * MIN):
                self.door.append(t)
        # At night now and then: awake for a while.
        if spec.visitors and rng.random() < 0.1:
            t = _h(d, rng.uniform(23.0, 28.0))
            self.put(t, t + 20 * MIN, ACTIVE)

    def events(self) -> Household:
        """Per minute, by state, an event from one of the presence sensors; the door's."""
        spec, rng, state, n, hh = self.spec, self.rng, self.state, self.n, self.hh
        dense = 1 if spec.sparse else 0
        p = np.zeros(n)
        for s, rates in RATE.items():
            p[state == s] = rates[dense]
        if spec.stirs:
            p[state == ASLEEP] = spec.stirs
        # The first minutes after getting up, after coming home and toilet trips always show.
        edges = np.flatnonzero((state[1:] == ACTIVE) & (state[:-1] != ACTIVE)) + 1
        for k in range(3):
            p[np.minimum(edges + k, n - 1)] = max(0.7, RATE[ACTIVE][dense] * 4)
        hit = np.flatnonzero(rng.random(n) < p)
        ts = T0 + hit * MIN + rng.uniform(0, MIN, hit.size)
        dev = rng.integers(0, hh.n_presence, hit.size)
        if spec.sensor_loss_day is not None:
            lost = (dev == 0) & (ts >= T0 + spec.sensor_loss_day * DAY)
            ts, dev = ts[~lost], dev[~lost]
        # Nothing moves between leaving and coming back (the door reports first).
        for lo, hi, _ in hh.absences:
            inside = (ts > lo) & (ts < hi + 30.0)
            visitor = state[np.clip(((ts - T0) // MIN).astype(np.int64), 0, n - 1)] == VISITOR
            ts, dev = ts[~inside | visitor], dev[~inside | visitor]
        door_t = np.array(sorted(self.door))
        door_ts = np.concatenate([door_t, door_t + 20.0])
        door_v = np.concatenate([np.ones(door_t.size), np.zeros(door_t.size)])
        all_ts = np.concatenate([ts, door_ts])
        order = np.argsort(all_ts, kind="stable")
        hh.ts = all_ts[order]
        hh.device = np.concatenate([dev, np.full(door_ts.size, hh.door)])[order]
        hh.value = np.concatenate([np.ones(ts.size), door_v])[order]
        # Spans awake at home, where a daytime collapse may be placed.
        awake = (state == ACTIVE) | (state == STILL)
        starts = np.flatnonzero(awake[1:] & ~awake[:-1]) + 1
        stops = np.flatnonzero(~awake[1:] & awake[:-1]) + 1
        for i in starts:
            j = stops[stops > i]
            if j.size:
                hh.home_day.append((T0 + i * MIN, T0 + j[0] * MIN))
        return hh
