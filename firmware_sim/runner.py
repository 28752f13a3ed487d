"""Plays a district on a simulated clock: the fleet's ordinary frames, scenarios injected into
households at seeded times, every frame sent to its gateway's socket, and one ground-truth line
per scenario played.

Time advances in stretches cut at every scenario boundary (start, end, uplink cut), never per
frame: each stretch's frames are made in bulk, sorted by (time, device) and sent per gateway.
The frames depend only on the seed and the start time, not on the speed or on how wall-clock
ticks fall.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol, TextIO

import numpy as np

from firmware_sim.device import Ambient, measure
from firmware_sim.district import District
from firmware_sim.fleet import Fleet
from firmware_sim.link import GatewayLink
from firmware_sim.scenarios import PRE_ROLLED, SCENARIOS, ScenarioRun, play
from firmware_sim.wire import EVENT, REPORT, Frame, FrameEncoder
from vigil.codec import Encoding

EVENT_METRICS = frozenset({"button", "tamper", "self_test"})
UNPACED_STEP_S = 60.0  # sim seconds per step when running as fast as possible
UPLINK_LOSS = "gateway_uplink_loss"
_FIRST_INJECTION_S = 60.0


class UplinkSwitch(Protocol):
    """Cuts and restores one gateway's connection to the broker."""

    def cut(self) -> None: ...

    def restore(self) -> None: ...


@dataclass(frozen=True)
class Opening:
    """A scenario started with the run, its onset `pre_roll_s` in: a demo's first alarms come
    within a minute, not after the usual minutes of ordinary readings. `seed` None: drawn."""

    name: str
    pre_roll_s: float
    seed: int | None = None

    @classmethod
    def parse(cls, text: str) -> Opening:
        """NAME:PRE_ROLL_S or NAME:PRE_ROLL_S:SEED, e.g. `panic_press:20`."""
        parts = text.split(":")
        try:
            if len(parts) not in (2, 3):
                raise ValueError
            seed = int(parts[2]) if len(parts) == 3 else None
            return cls(parts[0], float(parts[1]), seed)
        except ValueError as exc:
            raise ValueError(
                f"{text!r} is not NAME:PRE_ROLL_S[:SEED], e.g. panic_press:20"
            ) from exc


@dataclass(frozen=True)
class RunConfig:
    seed: int
    speed: float = 1.0  # simulated seconds per wall second; 0 = as fast as possible
    duration_s: float | None = None  # simulated seconds; None = until stopped
    scenarios: tuple[str, ...] = tuple(SCENARIOS)
    scenarios_per_hour: float = 6.0  # per simulated hour, across the district
    sim_start: float | None = None  # epoch s of the start; None = the wall clock at start
    tick_s: float = 0.02
    encoding: Encoding = Encoding.MSGPACK
    opening: tuple[Opening, ...] = ()  # started with the run, before the random ones
    pre_roll_s: float | None = None  # replaces the drawn pre-roll of the random ones (PRE_ROLLED)

    def __post_init__(self) -> None:
        if self.speed < 0:
            raise ValueError(f"speed must be >= 0 (0 = as fast as possible), got {self.speed}")
        if self.duration_s is not None and self.duration_s <= 0:
            raise ValueError(f"duration must be positive, got {self.duration_s}")
        if self.scenarios_per_hour < 0:
            raise ValueError("scenarios per hour must be >= 0")
        unknown = [n for n in self.scenarios if n not in SCENARIOS]
        if unknown:
            raise ValueError(f"unknown scenarios {unknown} (known: {', '.join(SCENARIOS)})")
        if self.speed == 0 and self.duration_s is None:
            raise ValueError("an unpaced run (speed 0) needs a duration")
        bad = [o.name for o in self.opening if o.name not in PRE_ROLLED or o.pre_roll_s < 0]
        bad += [o.name for o in self.opening if o.seed is not None and o.seed < 0]
        if bad:
            raise ValueError(
                f"opening scenarios {bad}: each needs a pre-roll >= 0 s, a seed >= 0 and a "
                f"scenario that has a pre-roll ({', '.join(sorted(PRE_ROLLED))})"
            )
        if self.pre_roll_s is not None and self.pre_roll_s < 0:
            raise ValueError(f"pre-roll must be >= 0 s, got {self.pre_roll_s}")


@dataclass
class RunStats:
    frames: int = 0
    readings: int = 0
    bytes: int = 0
    sim_s: float = 0.0
    wall_s: float = 0.0
    max_late_s: float = 0.0  # how far behind its wall-clock due time a frame was sent, at worst
    scenarios: Counter[str] = field(default_factory=Counter)

    @property
    def readings_per_s(self) -> float:
        return self.readings / self.wall_s if self.wall_s > 0 else 0.0


@dataclass
class _Active:
    """A scenario playing in one household."""

    name: str
    seed: int
    run: ScenarioRun
    household_id: str
    gateway_id: str
    devices: list[int]  # district device indices, in the scenario's device order
    start: float
    end: float
    frames: list[Frame]
    cursor: int = 0
    outage_s: float | None = None
    announced: bool = False


def scenario_frames(
    run: ScenarioRun, index_of: dict[str, int], values: np.ndarray | None = None
) -> list[Frame]:
    """A scenario's rows as frames (with `values` instead of the run's, if given): rows of one
    device at one instant form one report; event metrics (button, tamper, self-test) are events
    of their own."""
    frames: list[Frame] = []
    last_key: tuple[float, int] | None = None
    values = run.value if values is None else values
    for t, dev_id, metric, value in zip(
        run.ts.tolist(), run.device_id.tolist(), run.metric.tolist(), values.tolist(),
        strict=True,
    ):  # fmt: skip
        dev = index_of[dev_id]
        if metric in EVENT_METRICS:
            frames.append((t, dev, EVENT, (metric, value)))
            last_key = None
        elif last_key == (t, dev):
            frames[-1][3][metric] = value
        else:
            frames.append((t, dev, REPORT, {metric: value}))
            last_key = (t, dev)
    return frames


def in_the_fleets_room(
    run: ScenarioRun, index_of: dict[str, int], ambient: Ambient, at: float
) -> np.ndarray:
    """The run's values with each device's temperature moved onto the room temperature the
    fleet device it stands in for reports at `at`. The scenario draws a room of its own (16 to
    26 °C); a step of several degrees at the takeover would read as rising heat to the
    detectors (a pre-alarm where nothing happens). Rises keep their size; the rest is as
    played."""
    values = run.value.copy()
    for device_id, index in index_of.items():
        sel = (run.device_id == device_id) & (run.metric == "temperature")
        if not sel.any():
            continue
        room = ambient.true("temperature", np.array([index]), np.array([at]))[0]
        shifted = values[sel] + (room - values[sel][0])
        values[sel] = measure("temperature", shifted, np.zeros(shifted.size))
    return values


def uplink_outage(run: ScenarioRun) -> float:
    """How long the scenario's devices are cut off after the onset: until the first row after."""
    onset = run.truth.onset_ts
    assert onset is not None
    after = run.ts[run.ts > onset]
    return float(after[0] - onset) if after.size else run.truth.duration_s


class _Injector:
    """Plans scenarios at seeded times into households that have the devices they need."""

    def __init__(
        self, district: District, config: RunConfig, start: float, switches: set[str]
    ) -> None:
        self.rng = np.random.default_rng([config.seed, 0x5CE])
        self.opening_rng = np.random.default_rng([config.seed, 0x0BE])
        self.pre_roll_s = config.pre_roll_s
        self.names = config.scenarios
        self.mean_gap = 3600.0 / config.scenarios_per_hour if config.scenarios_per_hour else 0.0
        self.next_at = start + _FIRST_INJECTION_S if self.names and self.mean_gap else np.inf
        self.switches = switches
        self.households = [h.id for h in district.households]
        self.members: dict[str, list[int]] = {h: [] for h in self.households}
        for i, d in enumerate(district.devices):
            if d.household_id is not None:
                self.members[d.household_id].append(i)
        self.types = [d.type for d in district.devices]
        self.gateway_of = {d.household_id: d.gateway_id for d in district.devices}

    def advance(self) -> None:
        self.next_at += float(self.rng.exponential(self.mean_gap))

    def pick(self, busy_households: set[str], cut_gateways: set[str]) -> _Active | None:
        """The next scenario and the household it plays in; None when no household fits."""
        at = self.next_at
        name = self.names[int(self.rng.integers(len(self.names)))]
        seed = int(self.rng.integers(2**31))
        pre_roll = self.pre_roll_s if name in PRE_ROLLED else None
        run = play(name, seed, at, pre_roll)
        return self._place(
            name, seed, run, at=at, busy_households=busy_households,
            cut_gateways=cut_gateways, rng=self.rng,
        )  # fmt: skip

    def opening(self, opening: Opening, at: float, busy_households: set[str]) -> _Active:
        """An opening scenario and its household; it must fit one."""
        drawn = int(self.opening_rng.integers(2**31))
        seed = drawn if opening.seed is None else opening.seed
        run = play(opening.name, seed, at, opening.pre_roll_s)
        a = self._place(
            opening.name, seed, run, at=at, busy_households=busy_households,
            cut_gateways=set(), rng=self.opening_rng,
        )  # fmt: skip
        if a is None:
            raise ValueError(f"no free household has the devices of opening {opening.name!r}")
        return a

    def _place(
        self,
        name: str,
        seed: int,
        run: ScenarioRun,
        *,
        at: float,
        busy_households: set[str],
        cut_gateways: set[str],
        rng: np.random.Generator,
    ) -> _Active | None:
        need = Counter(d.type for d in run.devices)
        first = int(rng.integers(len(self.households)))
        for k in range(len(self.households)):
            hh = self.households[(first + k) % len(self.households)]
            gw = self.gateway_of.get(hh)
            if hh in busy_households or gw is None:
                continue
            if name == UPLINK_LOSS and (gw not in self.switches or gw in cut_gateways):
                continue
            have = Counter(self.types[i] for i in self.members[hh])
            if any(have[t] < c for t, c in need.items()):
                continue
            pool = list(self.members[hh])
            devices = []
            for d in run.devices:
                match = next(i for i in pool if self.types[i] == d.type)
                pool.remove(match)
                devices.append(match)
            return _Active(name, seed, run, hh, gw, devices, at, at + run.truth.duration_s, [])
        return None


class Runner:
    """Runs the district until the duration is played or `stop` is set."""

    def __init__(
        self,
        district: District,
        config: RunConfig,
        links: dict[str, GatewayLink],
        truth: TextIO,
        uplinks: dict[str, UplinkSwitch] | None = None,
    ) -> None:
        missing = {g.id for g in district.gateways} - set(links)
        if missing:
            raise ValueError(f"no link for gateways {sorted(missing)}")
        self.district = district
        self.config = config
        self.links = links
        self.truth = truth
        self.uplinks = uplinks or {}
        self.stats = RunStats()
        devices = district.devices
        self.index_of = {d.id: i for i, d in enumerate(devices)}
        self.gateway_of = [d.gateway_id for d in devices]
        self.encoder = FrameEncoder(
            [d.id for d in devices], [d.type for d in devices], config.encoding
        )
        self.seq = [0] * len(devices)
        self.busy = np.zeros(len(devices), dtype=bool)
        self.active: list[_Active] = []
        self.cuts: list[tuple[float, bool, str]] = []  # (time, cut?, gateway)
        self.cut_gateways: set[str] = set()

    # ------------------------------------------------------------ the clock

    def run(self, stop: threading.Event | None = None) -> RunStats:
        stop = stop or threading.Event()
        cfg = self.config
        self.start = cfg.sim_start if cfg.sim_start is not None else time.time()
        self.fleet = Fleet(self.district.devices, cfg.seed, self.start)
        self.injector = _Injector(self.district, cfg, self.start, set(self.uplinks))
        self.now = self.start
        for opening in cfg.opening:  # before any frame: their devices never report as idle ones
            busy_households = {a.household_id for a in self.active}
            self._take_over(self.injector.opening(opening, self.start, busy_households))
        end = self.start + cfg.duration_s if cfg.duration_s is not None else np.inf
        wall0 = time.monotonic()
        try:
            while not stop.is_set() and self.now < end:
                if cfg.speed > 0:
                    target = self.start + (time.monotonic() - wall0) * cfg.speed
                else:
                    target = self.now + UNPACED_STEP_S
                self._advance(min(target, end))
                if cfg.speed > 0:
                    due_wall = wall0 + (self.now - self.start) / cfg.speed
                    late = time.monotonic() - due_wall
                    self.stats.max_late_s = max(self.stats.max_late_s, late)
                    stop.wait(cfg.tick_s)
        finally:
            for gw in list(self.cut_gateways):
                self.uplinks[gw].restore()
            self.stats.sim_s = self.now - self.start
            self.stats.wall_s = time.monotonic() - wall0
        return self.stats

    def _advance(self, target: float) -> None:
        """Play [now, target) in stretches cut at scenario boundaries."""
        while self.now < target:
            boundary = min(target, self._next_boundary())
            frames = self.fleet.periodic(boundary, self.busy)
            frames += self.fleet.activity(boundary, self.busy)
            for a in self.active:
                stop_at = a.cursor
                while stop_at < len(a.frames) and a.frames[stop_at][0] < boundary:
                    stop_at += 1
                frames += a.frames[a.cursor : stop_at]
                a.cursor = stop_at
            self._send(frames)
            self.now = boundary
            self._at_boundary()

    def _next_boundary(self) -> float:
        times = [self.injector.next_at]
        times += [a.end for a in self.active]
        times += [t for t, _, _ in self.cuts]
        return float(min(times))

    # ------------------------------------------------------------ scenarios

    def _at_boundary(self) -> None:
        now = self.now
        for a in [a for a in self.active if a.end <= now]:
            self.active.remove(a)
            self.busy[a.devices] = False
        while self.cuts and self.cuts[0][0] <= now:
            _, cut, gw = self.cuts.pop(0)
            if cut:
                self.uplinks[gw].cut()
                self.cut_gateways.add(gw)
            else:
                self.uplinks[gw].restore()
                self.cut_gateways.discard(gw)
        while self.injector.next_at <= now:
            self._inject()
            self.injector.advance()
        for a in self.active:
            onset = a.run.truth.onset_ts
            if not a.announced and (onset is None or onset <= now):
                self._write_truth(a)

    def _inject(self) -> None:
        busy_households = {a.household_id for a in self.active}
        a = self.injector.pick(busy_households, self.cut_gateways)
        if a is not None:
            self._take_over(a)

    def _take_over(self, a: _Active) -> None:
        """The scenario's devices leave the fleet and play the scenario's frames instead."""
        if a.name == UPLINK_LOSS:
            onset = a.run.truth.onset_ts
            assert onset is not None
            a.outage_s = uplink_outage(a.run)
            self.cuts += [(onset, True, a.gateway_id), (onset + a.outage_s, False, a.gateway_id)]
            self.cuts.sort()
            a.devices = []  # the devices carry on; only the gateway's uplink goes
        else:
            index_of = {d.device_id: a.devices[k] for k, d in enumerate(a.run.devices)}
            values = in_the_fleets_room(a.run, index_of, self.fleet.ambient, a.start)
            a.frames = scenario_frames(a.run, index_of, values)
            self.busy[a.devices] = True
        self.active.append(a)

    def _write_truth(self, a: _Active) -> None:
        a.announced = True
        t = a.run.truth
        ids = [self.district.devices[i].id for i in a.devices]
        line = {
            "name": t.name,
            "klass": t.klass,
            "seed": a.seed,
            "household": a.household_id,
            "gateway": a.gateway_id,
            "devices": ids,
            "onset_ts": t.onset_ts,
            "onset_wall": time.time() if t.onset_ts is not None else None,
            "start_ts": a.start,
            "end_ts": a.end,
            "expected_kinds": sorted(t.expected_kinds),
            "forbidden_signals": sorted(t.forbidden_signals),
        }
        if a.outage_s is not None:
            line["outage_s"] = a.outage_s
        self.truth.write(json.dumps(line, ensure_ascii=False) + "\n")
        self.truth.flush()
        self.stats.scenarios[t.name] += 1

    # ------------------------------------------------------------ sending

    def _send(self, frames: list[Frame]) -> None:
        if not frames:
            return
        frames.sort(key=lambda f: (f[0], f[1], f[2]))
        out: dict[str, list[bytes]] = {}
        seq = self.seq
        encode = self.encoder.encode
        readings = 0
        for f in frames:
            dev = f[1]
            seq[dev] += 1
            out.setdefault(self.gateway_of[dev], []).append(encode(f, seq[dev]))
            readings += len(f[3]) if f[2] == REPORT else 1
        for gw, packets in out.items():
            link = self.links[gw]
            before = link.bytes
            link.send(packets)
            self.stats.bytes += link.bytes - before
        self.stats.frames += len(frames)
        self.stats.readings += readings
