"""The streaming detector engine: per-device state, batches in, alerts out.

Usage (ingest, or anything else that has readings)::

    engine = DetectorEngine(devices)              # Device rows: id, type, household, room, ...
    batch, rejected = engine.encode(device_ids, metrics, ts, values, received_at)
    alerts = engine.process(batch)                # columnar numpy batch, in arrival order
    alerts += engine.tick(now)                    # call often (e.g. every 0.5 s): silences
    engine.gateway_status("gw-1", online=False, ts=now)
    engine.set_away("hh-12", away=True, ts=now)
    engine.hush("hh-12", "kitchen", ts=now)       # cooking confirmed by phone (bounded)
    engine.save(path); engine = DetectorEngine.load(path)   # restart keeps all duration state

`Batch` holds numpy arrays of equal length: ts (float64, device time, epoch s), slot (int32,
from `engine.slots(ids)` or `encode`), metric (int8, codes.METRICS), value (float64, NaN allowed:
it counts as implausible) and received_at (float64, when the reading reached the platform).
Rows are processed in order; feeding the same rows in batches of any size gives the same alerts.
`tick(now)` raises offline and inactivity alerts whose deadline has passed; their `ts` is the
deadline, not `now`, so how often it is called changes only latency. A reading from a device
that was silent too long raises the offline alert itself if no tick did.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from detectors.alert import Alert
from detectors.aot import kernels
from detectors.codes import METRIC_CODE, METRICS, PIR_TYPE, TYPE_CODE
from detectors.errors import DetectorError
from detectors.events import MAX_EVENTS_PER_READING, NEVF, NEVI
from detectors.explain import Event, Reading
from detectors.fusion import Fusion, FusionState
from detectors.params import P_AWAY_MAX_S, PARAMS
from detectors.policy import Policy
from detectors.registry import Device, Registry
from detectors.rooms import room_class
from detectors.state import (
    F_LAST_RX,
    GW_LAST_RX,
    GW_SILENCE_S,
    GWI_LATCH,
    H_LAST_ACT,
    HI_AWAY,
    HI_HAS_PIR,
    HI_LAST_DOOR,
    HI_LATCH,
    HI_PROW,
    I_LATCH,
    I_UNREACHABLE,
    RM_HUSH_TS,
    RM_HUSH_UNTIL,
    EngineState,
)
from vigil.device_types import metrics as metric_table

if TYPE_CHECKING:  # annotations only: numpy.typing is slow to import at start-up
    import numpy.typing as npt

EVENT_CAPACITY = 4096
OFFLINE_BIT = 1 << 6  # codes.OFFLINE


@dataclass(frozen=True)
class Batch:
    """Readings as columns; build with `Batch.of` (checks) or `DetectorEngine.encode`."""

    ts: npt.NDArray[np.float64]
    slot: npt.NDArray[np.int32]
    metric: npt.NDArray[np.int8]
    value: npt.NDArray[np.float64]
    received_at: npt.NDArray[np.float64]

    @classmethod
    def of(
        cls,
        ts: npt.ArrayLike,
        slot: npt.ArrayLike,
        metric: npt.ArrayLike,
        value: npt.ArrayLike,
        received_at: npt.ArrayLike | None = None,
    ) -> Batch:
        """Check and convert columns; received_at defaults to ts."""
        cols = {
            "ts": _floats("ts", ts),
            "slot": _ints("slot", slot, np.int32),
            "metric": _ints("metric", metric, np.int8),
            "value": _floats("value", value),
            "received_at": _floats("received_at", ts if received_at is None else received_at),
        }
        lengths = {name: col.shape[0] for name, col in cols.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"batch columns differ in length: {lengths}")
        for name in ("ts", "received_at"):
            bad = np.flatnonzero(~np.isfinite(cols[name]))
            if bad.size:
                raise ValueError(
                    f"{name} must be finite; row {int(bad[0])} is {cols[name][bad[0]]}"
                )
        metric_col = cols["metric"]
        bad = np.flatnonzero((metric_col < 0) | (metric_col >= len(METRICS)))
        if bad.size:
            raise ValueError(f"unknown metric code {int(metric_col[bad[0]])} at row {int(bad[0])}")
        return cls(**cols)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def columns(self) -> tuple[npt.NDArray[np.generic], ...]:
        return (self.ts, self.slot, self.metric, self.value, self.received_at)


def _floats(name: str, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, not {arr.ndim}-d")
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be numeric, not {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def _ints(name: str, values: npt.ArrayLike, dtype: type[np.integer]) -> npt.NDArray[np.integer]:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, not {arr.ndim}-d")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integers, not {arr.dtype}")
    info = np.iinfo(dtype)
    if arr.size and (arr.min() < info.min or arr.max() > info.max):
        raise ValueError(f"{name} values do not fit {np.dtype(dtype).name}")
    return np.ascontiguousarray(arr, dtype=dtype)


def _metric_ranges() -> npt.NDArray[np.float64]:
    """Plausible range per metric code; event-only codes (hush: a press) take 0..1."""
    table = metric_table()
    return np.array(
        [[table[m].min, table[m].max] if m in table else [0.0, 1.0] for m in METRICS],
        dtype=np.float64,
    )


class DetectorEngine:
    """Holds every device's state and turns batches of readings into alerts."""

    def __init__(
        self,
        devices: Iterable[Device] = (),
        policy: Policy | None = None,
        *,
        threads: int = 1,
        event_capacity: int = EVENT_CAPACITY,
    ) -> None:
        if threads < 1:
            raise ValueError("threads must be at least 1")
        if event_capacity <= MAX_EVENTS_PER_READING:
            raise ValueError(f"event_capacity must exceed {MAX_EVENTS_PER_READING}")
        self.policy = policy or Policy.load()
        self.registry = Registry()
        self.threads = threads
        self.state = EngineState.empty(0, 0, 0)
        self.clock = math.nan
        self.mrange = _metric_ranges()
        self.fusion = Fusion(self.policy, self.registry, self._figures_of)
        self._figures: dict[int, Mapping[str, float]] = {}
        self._device_json: list[str] = []
        self._ev_i = np.zeros((threads, event_capacity, NEVI), dtype=np.int64)
        self._ev_f = np.zeros((threads, event_capacity, NEVF), dtype=np.float64)
        self._ev_n = np.zeros((threads, 1), dtype=np.int64)
        self.add_devices(devices)

    # -- registry ---------------------------------------------------------------------------
    def add_devices(self, devices: Iterable[Device]) -> None:
        """Register devices (commissioning); existing state is kept."""
        reg = self.registry
        known_gateways = len(reg.gateways)
        added = reg.add(devices)
        sizes = (len(reg), len(reg.households), len(reg.gateways), len(reg.room_groups))
        st = self.state
        if sizes != (st.dev.shape[0], st.hh.shape[0], st.gw.shape[0], st.room.shape[0]):
            self.state = self.state.grown(*sizes)
        # New devices and gateways start their silence now (or when the engine starts).
        self.state.dev_f[added, F_LAST_RX] = self.clock
        self.state.gw_f[known_gateways:, GW_LAST_RX] = self.clock
        self.params, self.prow = self.policy.table(
            reg.types(), reg.household_ids(), reg.rooms(), reg.supervision()
        )
        self.hh_of = reg.household_of()
        self.room_of = reg.room_of()
        self.gw_of = reg.gateway_of()
        self.cluster_of = reg.clusters()
        self._figures.clear()
        hh_i = self.state.hh_i
        for h, slots in reg.activity_devices().items():
            hh_i[h, HI_PROW] = self.prow[slots[0]]
            types = {TYPE_CODE[reg.devices[s].type] for s in slots}
            hh_i[h, HI_HAS_PIR] = int(PIR_TYPE in types)
        for g, name in enumerate(reg.gateways):
            self.state.gw_f[g, GW_SILENCE_S] = min(
                self._figures_of(s)["gateway_silence_periods"] * reg.devices[s].period
                for s in reg.gateway_members[name]
            )

    def slots(self, device_ids: Sequence[str]) -> npt.NDArray[np.int32]:
        """Slots of device ids (-1 for unknown ids)."""
        return self.registry.slots(device_ids)

    def encode(
        self,
        device_ids: Sequence[str],
        metrics: Sequence[str],
        ts: npt.ArrayLike,
        values: npt.ArrayLike,
        received_at: npt.ArrayLike | None = None,
    ) -> tuple[Batch, list[tuple[int, str]]]:
        """A batch from ids and metric names; rows with unknown ones are left out and reported."""
        slots = self.registry.slots(device_ids)
        codes = np.array([METRIC_CODE.get(m, -1) for m in metrics], dtype=np.int16)
        rejected = [
            (i, f"unknown device {device_ids[i]!r}") for i in np.flatnonzero(slots < 0).tolist()
        ] + [(i, f"unknown metric {metrics[i]!r}") for i in np.flatnonzero(codes < 0).tolist()]
        keep = (slots >= 0) & (codes >= 0)
        ts_arr = np.asarray(ts, dtype=np.float64)
        rx = ts_arr if received_at is None else np.asarray(received_at, dtype=np.float64)
        batch = Batch.of(
            ts_arr[keep],
            slots[keep],
            codes[keep].astype(np.int8),
            np.asarray(values, dtype=np.float64)[keep],
            rx[keep],
        )
        return batch, sorted(rejected)

    # -- streaming --------------------------------------------------------------------------
    def process(self, batch: Batch) -> list[Alert]:
        """Score a batch of readings (in arrival order) and return the alerts it raises."""
        return self.fusion.apply(self.score(batch), _RowReader(batch), math.nan)

    def tick(self, now: float) -> list[Alert]:
        """Raise the silences (offline devices, inactive households) whose deadline is past."""
        return self.fusion.apply(self.silences(now), _no_reading, now)

    def score(self, batch: Batch) -> list[Event]:
        """The kernels' raise/clear events for a batch, in row order, before fusion and policy."""
        if len(batch) == 0:
            return []
        bad = np.flatnonzero((batch.slot < 0) | (batch.slot >= len(self.registry)))
        if bad.size:
            raise ValueError(f"unknown device slot {int(batch.slot[bad[0]])} at row {int(bad[0])}")
        self._advance(float(batch.received_at[0]))
        events = self._score_sequential(batch) if self.threads == 1 else self._score_parallel(batch)
        self._advance(float(batch.received_at.max()))
        return events

    def silences(self, now: float) -> list[Event]:
        """The tick kernel's events at `now`: offline devices and gateways, inactive households."""
        if not math.isfinite(now):
            raise ValueError(f"now must be finite, not {now}")
        self._advance(now)
        ev = (self._ev_i[0], self._ev_f[0], self._ev_n[0])
        reg = self.registry
        done = (len(reg), len(reg.gateways), len(reg.households))
        position = (0, 0, 0)
        events: list[Event] = []
        while position != done:
            self._ev_n[0, 0] = 0
            position = tuple(
                kernels().tick_rows(
                    now, position, self._dv(), self._hv(), self._gv(), self.prow, ev
                )
            )
            events += self._take(0)
        return events

    def _advance(self, t: float) -> None:
        """Move the engine clock (latest arrival or tick). The first time sets every device's
        silence to start now: a device that never reports goes offline one allowance later."""
        if math.isnan(self.clock):
            for last in (self.state.dev_f[:, F_LAST_RX], self.state.gw_f[:, GW_LAST_RX]):
                last[np.isnan(last)] = t
        self.clock = t if math.isnan(self.clock) else max(self.clock, t)

    def _dv(self) -> tuple[npt.NDArray[np.generic], ...]:
        st = self.state
        return (st.dev_f, st.dev_i, self.params, st.kit, st.room)

    def _hv(self) -> tuple[npt.NDArray[np.generic], ...]:
        return (self.state.hh_f, self.state.hh_i)

    def _gv(self) -> tuple[npt.NDArray[np.generic], ...]:
        return (self.state.gw_f, self.state.gw_i)

    def _index(self) -> tuple[npt.NDArray[np.int32], ...]:
        return (self.prow, self.hh_of, self.gw_of, self.room_of)

    def _take(self, part: int) -> list[Event]:
        count = int(self._ev_n[part, 0])
        return Event.unpack(self._ev_i[part, :count], self._ev_f[part, :count])

    def _score_sequential(self, batch: Batch) -> list[Event]:
        cols = batch.columns()
        ev = (self._ev_i[0], self._ev_f[0], self._ev_n[0])
        events: list[Event] = []
        start = 0
        while start < len(batch):
            self._ev_n[0, 0] = 0
            start = kernels().process_rows(
                start, cols, self._dv(), self._hv(), self._gv(), self._index(), self.mrange, ev
            )
            events += self._take(0)
        return events

    def _score_parallel(self, batch: Batch) -> list[Event]:
        from detectors.kernels import partition_rows, process_rows_parallel

        cols = batch.columns()
        rows, offsets = partition_rows(batch.slot, self.cluster_of, self.threads)
        starts, stops = offsets[:-1].copy(), offsets[1:].copy()
        pending: list[Event] = []
        events: list[Event] = []
        while True:
            self._ev_n[:, 0] = 0
            process_rows_parallel(
                starts,
                stops,
                rows,
                cols,
                self._dv(),
                self._hv(),
                self._gv(),
                self._index(),
                self.mrange,
                self._ev_i,
                self._ev_f,
                self._ev_n,
            )
            for part in range(self.threads):
                pending += self._take(part)
            # A row belongs to one partition, so a stable sort by row restores arrival order;
            # rows before every partition's next row are final, later ones wait for the rest.
            pending.sort(key=lambda e: e.row)
            frontier = min(
                (
                    int(rows[start])
                    for start, stop in zip(starts, stops, strict=True)
                    if start < stop
                ),
                default=len(batch),
            )
            done = sum(1 for e in pending if e.row < frontier)
            events += pending[:done]
            pending = pending[done:]
            if frontier >= len(batch):
                return events

    def gateway_status(self, gateway_id: str, online: bool, ts: float) -> list[Alert]:
        """A gateway's status (its retained message or last will).

        Offline: one gateway alert instead of one per device behind it. Online again: its
        devices get a fresh heartbeat allowance from `ts`, as their buffered data follows. A
        gateway repeats its online status periodically; only the change from offline resets its
        devices (a device a hub declared unreachable stays offline until it is back).
        """
        if online:
            g = self.registry.gateway_index.get(gateway_id)
            was_offline = gateway_id in self.fusion.state.gateways_offline
            if g is not None:
                was_offline = was_offline or bool(self.state.gw_i[g, GWI_LATCH])
                self.state.gw_i[g, GWI_LATCH] = 0
                self.state.gw_f[g, GW_LAST_RX] = np.fmax(self.state.gw_f[g, GW_LAST_RX], ts)
            if not was_offline:
                return self.fusion.gateway(gateway_id, online, ts)
            dev_f, dev_i = self.state.dev_f, self.state.dev_i
            for slot, device in enumerate(self.registry.devices):
                # A device its hub declared unreachable stays offline until it is back.
                if device.gateway_id == gateway_id and not dev_i[slot, I_UNREACHABLE]:
                    dev_i[slot, I_LATCH] &= ~OFFLINE_BIT
                    last = dev_f[slot, F_LAST_RX]
                    dev_f[slot, F_LAST_RX] = ts if math.isnan(last) else max(last, ts)
        return self.fusion.gateway(gateway_id, online, ts)

    def set_away(self, household_id: str, away: bool, ts: float) -> None:
        """The resident is out (no inactivity checks) or back (the silence restarts at ts)."""
        try:
            h = self.registry.household_index[household_id]
        except KeyError:
            raise DetectorError(f"unknown household {household_id!r}") from None
        st = self.state
        st.hh_i[h, HI_AWAY] = int(away)
        if not away and not math.isnan(st.hh_f[h, H_LAST_ACT]):
            st.hh_f[h, H_LAST_ACT] = max(st.hh_f[h, H_LAST_ACT], ts)
            st.hh_i[h, HI_LAST_DOOR] = 0
            st.hh_i[h, HI_LATCH] = 0
        if st.hh_i[h, HI_PROW] >= 0:
            kernels().inactivity_deadline(st.hh_f, st.hh_i, self.params, h)

    def away_max_s(self, household_id: str) -> float | None:
        """The household's longest absence (policy `away_max_s`); None if it has no activity
        sensor, so nothing of it is checked for inactivity."""
        h = self.registry.household_index.get(household_id)
        if h is None or self.state.hh_i[h, HI_PROW] < 0:
            return None
        return float(self.params[self.state.hh_i[h, HI_PROW], P_AWAY_MAX_S])

    def hush(
        self,
        household_id: str,
        room: str,
        ts: float,
        *,
        until: float | None = None,
        by: str = "console",
    ) -> list[Alert]:
        """The console's "cooking, confirmed by phone": hush a household's room (its smoke-only
        alarms) from `ts` until `until`, at most the room's hush_s, as the detector's silence
        button does.

        Returns the hush alert for the incident's timeline. A room without a hush (hush_s 0:
        not a kitchen) or unknown to the registry is refused.
        """
        if not math.isfinite(ts):
            raise DetectorError(f"ts must be finite, not {ts}")
        klass = room_class(room)
        group = self.registry.room_groups.get((household_id, klass))
        if group is None:
            raise DetectorError(f"household {household_id!r} has no detector in a {klass} room")
        slots = [
            s
            for s, d in enumerate(self.registry.devices)
            if d.household_id == household_id and room_class(d.room) == klass
        ]
        hush_s = max(self._figures_of(s)["hush_s"] for s in slots)
        if hush_s <= 0.0:
            raise DetectorError(f"a {klass} room has no hush (policy hush_s is 0 there)")
        end = ts + hush_s if until is None else min(until, ts + hush_s)
        if not end > ts:
            raise DetectorError(f"a hush must end after it starts ({end} <= {ts})")
        room_f = self.state.room
        if not room_f[group, RM_HUSH_UNTIL] > ts:
            room_f[group, RM_HUSH_TS] = ts
        if not room_f[group, RM_HUSH_UNTIL] >= end:
            room_f[group, RM_HUSH_UNTIL] = end
        return self.fusion.hushed(slots[0], ts, end, by)

    def _figures_of(self, slot: int) -> Mapping[str, float]:
        row = int(self.prow[slot])
        figures = self._figures.get(row)
        if figures is None:
            figures = dict(zip(PARAMS, self.params[row].tolist(), strict=True))
            self._figures[row] = figures
        return figures

    # -- restart ----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """A copy of all state (arrays, fusion, registry) that `save` writes; later processing
        does not change it, so another thread may write it out."""
        devices = self.registry.devices
        # Devices are only ever added: each is serialised once, the list joined per snapshot.
        self._device_json += [json.dumps(vars(d)) for d in devices[len(self._device_json) :]]
        text = "[" + ",".join(self._device_json) + "]"
        return {
            **{name: array.copy() for name, array in self.state.arrays().items()},
            "clock": np.array(self.clock),
            "fusion": np.array(self.fusion.state.dumps()),
            "devices": np.frombuffer(text.encode(), dtype=np.uint8),  # UTF-8, not numpy's UTF-32
        }

    def save(self, path: Path) -> None:
        """Write all state to an .npz file."""
        with path.open("wb") as fh:
            np.savez(fh, **self.snapshot())

    @classmethod
    def load(cls, path: Path, policy: Policy | None = None, *, threads: int = 1) -> DetectorEngine:
        """An engine continuing exactly where `save` left off."""
        with np.load(path, allow_pickle=False) as data:
            raw = data["devices"]
            text = raw.tobytes().decode() if raw.dtype == np.uint8 else str(raw)
            devices = [Device(**row) for row in json.loads(text)]
            engine = cls(devices, policy, threads=threads)
            # A checkpoint written before the room arrays existed starts them empty.
            fresh = engine.state.arrays()
            engine.state = EngineState(
                **{name: data[name].copy() if name in data else fresh[name] for name in fresh}  # type: ignore[arg-type]
            ).widened()
            engine.clock = float(data["clock"])
            engine.fusion.state = FusionState.loads(str(data["fusion"]))
        engine.add_devices(())
        return engine


def _no_reading(row: int) -> Reading | None:
    return None


class _RowReader:
    """The reading behind an event, looked up lazily (alerts are rare)."""

    def __init__(self, batch: Batch) -> None:
        self.batch = batch

    def __call__(self, row: int) -> Reading | None:
        b = self.batch
        return Reading(
            float(b.ts[row]), int(b.metric[row]), float(b.value[row]), float(b.received_at[row])
        )


def set_threads(threads: int) -> None:
    """Numba's thread count for the parallel kernel (at most what numba was started with)."""
    import numba

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
