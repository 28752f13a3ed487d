"""The detector stage inside ingest: decoded batches in, rows in the `alerts` table out.

Ingest's decoding threads (one per lane: telemetry, events) call `submit` with each accepted
message (the queue is thread-safe; each lane's messages keep their order, and events may
overtake telemetry, as they do at the gateway); the stage translates it to
the engine's slots (its metric codes are ingest's: one vocabulary) and queues it.
One thread owns the engine: it processes batches in arrival order, ticks every `tick_s` for
silences, and writes each alert as an `alerts` row (`ingest.detection.alerts`: a row and its
`pg_notify('vigil_alert', id)` in one transaction), so the alerting service picks it up within a
round trip. The queue is bounded: when the engine falls behind, `submit` waits (backpressure
through ingest to the broker) instead of dropping. Batches with events go ahead of queued
telemetry (`StageQueue`), as they do in ingest.

Gateway status comes from the worker's one status follower (`ingest.gateway_status`).
The engine's state is checkpointed every `checkpoint_s` and at a clean stop
(`ingest.detection.checkpoint`) and loaded at start; after a crash the readings committed since
the checkpoint are read back (`ingest.detection.catchup`), so duration state (silences, slow
rises, inactivity) survives even kill -9.
Households' `away_until` and their alarm panels' arming reach the engine through
`ingest.detection.away`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
import numpy.typing as npt
import psycopg

from detectors.alert import Alert
from detectors.codes import METRIC_CODE, TYPE_CODE
from detectors.engine import Batch, DetectorEngine
from detectors.policy import Policy
from detectors.registry import Device
from ingest.columns import Readings
from ingest.detection.alerts import write_alerts
from ingest.detection.away import AwayFollower, away_households, panel_presence
from ingest.detection.catchup import (
    MARGIN_S,
    AlertKey,
    alert_key,
    committed_since,
    on_micro_grid,
    written_alerts,
)
from ingest.detection.checkpoint import Checkpointer
from ingest.detection.hushes import HushFollower, active_hushes
from ingest.gateway_status import GatewayStatus
from ingest.partition import Partition
from ingest.registry import RegistrySnapshot
from ingest.sink import ReadingBatch

log = logging.getLogger(__name__)

TICK_S = 0.5
QUEUE_MAX = 1024
RUN_MAX = 32  # telemetry messages queued one behind another scored as one batch (an event
# that arrives meanwhile waits for that batch: 32 messages, some 4 000 readings, bound the wait)
SUBMIT_WAIT_S = 0.5  # how long one wait for room lasts before it is logged and retried
RETRY_S = 1.0
CHECKPOINT_S = 30.0

_LOAD_DEVICES = """
select d.id, d.device_type, d.household_id, coalesce(d.room, ''), h.building_id, d.gateway_id,
       g.site_id, d.supervision_s
from devices d join households h on h.id = d.household_id join gateways g on g.id = d.gateway_id
where d.retired_at is null
order by d.id
"""
_SITES = "select id from sites"


@dataclass(frozen=True)
class GatewayStatusChange:
    gateway: str
    online: bool
    ts: float


@dataclass(frozen=True)
class Decided:
    """An alert with what the stage adds: the gateway's receive time of its reading."""

    alert: Alert
    gateway_rx: float | None = None


Item = ReadingBatch | GatewayStatusChange


class StageQueue:
    """The stage's queue: batches carrying events (alarms, presses) go ahead of the rest, so an
    alarm does not wait behind queued telemetry; each kind keeps its order, and each is bounded
    by `maxsize` (past it, `put` waits: backpressure)."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._urgent: deque[Item] = deque()
        self._rest: deque[Item] = deque()
        self._cond = threading.Condition()

    def put(self, item: Item, timeout: float) -> bool:
        """Queue `item`; False if no room came within `timeout` seconds."""
        line = self._urgent if isinstance(item, ReadingBatch) and item.events else self._rest
        with self._cond:
            if not self._cond.wait_for(lambda: len(line) < self.maxsize, timeout):
                return False
            line.append(item)
            self._cond.notify_all()
            return True

    def get(self, timeout: float) -> Item | None:
        """The next item (urgent ones first), or None if none came within `timeout` seconds."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._urgent or self._rest, timeout):
                return None
            item = (self._urgent or self._rest).popleft()
            self._cond.notify_all()
            return item

    def following(self, first: Item, limit: int) -> list[Item]:
        """`first` and the telemetry messages queued right behind it that share its registry
        snapshot (at most `limit` in all), taken without waiting, so the engine scores them as
        one batch; just `first` if it is not such a message or an urgent one waits."""
        run = [first]
        if not _telemetry(first):
            return run
        with self._cond:
            while len(run) < limit and self._rest and not self._urgent:
                item = self._rest[0]
                if not (_telemetry(item) and item.registry is first.registry):
                    break
                run.append(self._rest.popleft())
            if len(run) > 1:
                self._cond.notify_all()
        return run

    def empty(self) -> bool:
        with self._cond:
            return not (self._urgent or self._rest)


def _telemetry(item: Item) -> TypeGuard[ReadingBatch]:
    return isinstance(item, ReadingBatch) and not item.events


def load_devices(
    conn: psycopg.Connection[Any], sites: Callable[[str], bool] | None = None
) -> list[Device]:
    """The provisioned devices the engine can watch: known type, a household, and (given
    `sites`) behind a gateway of a site this worker's partition owns."""
    devices = []
    for dev, dtype, household, room, building, gateway, site, sup in conn.execute(_LOAD_DEVICES):
        if dtype in TYPE_CODE and (sites is None or sites(site)):
            devices.append(Device(dev, dtype, household, room, building, gateway, sup))
    return devices


def slot_map(engine: DetectorEngine, device_ids: Sequence[str]) -> npt.NDArray[np.int32]:
    """Ingest slot -> engine slot (-1 for devices the engine does not watch)."""
    if not device_ids:
        return np.zeros(0, dtype=np.int32)
    return engine.slots(device_ids)


def translate(
    batch: ReadingBatch, slots: npt.NDArray[np.int32]
) -> tuple[Batch, npt.NDArray[np.float64]]:
    """The engine's batch for one ingest message (readings, then events such as a button
    press), and each row's gateway receive time. Ingest and the engine share one metric
    vocabulary (`vigil.device_types`), so readings pass as they are. Device times are put on
    the database's microsecond grid, so a reading read back after a restart is the same
    reading."""
    r = batch.readings
    ev = [e for e in batch.events if e.kind in METRIC_CODE]
    slot, metric, ts, value, rx = slots[r.device], r.metric, r.ts, r.value, r.rx
    if ev:  # telemetry messages have none: their columns pass without a copy
        event_slots = [slots[e.slot] if e.slot < len(slots) else -1 for e in ev]
        slot = np.concatenate([slot, np.array(event_slots, np.int32)])
        metric = np.concatenate([metric, np.array([METRIC_CODE[e.kind] for e in ev], np.int32)])
        ts = np.concatenate([ts, np.array([e.ts for e in ev], np.float64)])
        value = np.concatenate([value, np.array([e.value for e in ev], np.float64)])
        rx = np.concatenate([rx, np.array([e.rx for e in ev], np.float64)])
    return _engine_rows(slot, metric, ts, value, rx, received=np.full(len(slot), batch.received))


def translate_run(
    batches: Sequence[ReadingBatch], slots: npt.NDArray[np.int32]
) -> tuple[Batch, npt.NDArray[np.float64]]:
    """`translate` of telemetry messages (no events) queued one after another, as one engine
    batch: one set of array operations for all of them rather than one for each message."""
    if any(b.events for b in batches):
        raise ValueError("a run of messages to translate at once holds no events")
    r = Readings.concat([b.readings for b in batches])
    received = np.repeat(
        np.array([b.received for b in batches], np.float64), [len(b.readings) for b in batches]
    )
    return _engine_rows(slots[r.device], r.metric, r.ts, r.value, r.rx, received=received)


def _engine_rows(
    slot: npt.NDArray[np.int32],
    metric: npt.NDArray[np.int32],
    ts: npt.NDArray[np.float64],
    value: npt.NDArray[np.float64],
    rx: npt.NDArray[np.float64],
    *,
    received: npt.NDArray[np.float64],
) -> tuple[Batch, npt.NDArray[np.float64]]:
    """Rows of devices the engine watches, as its batch, and their gateway receive times."""
    keep = slot >= 0
    if not keep.all():
        slot, metric, ts, value = slot[keep], metric[keep], ts[keep], value[keep]
        rx, received = rx[keep], received[keep]
    out = Batch.of(on_micro_grid(ts), slot, metric.astype(np.int8), value, received)
    return out, rx


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such figures become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        return _finite(value.item())
    return value


def write_decided(conn: psycopg.Connection[Any], decided: Sequence[Decided]) -> list[int]:
    """Rows in `alerts` and their NOTIFY, in one transaction (`ingest.detection.alerts`)."""
    alerts = [replace(d.alert, evidence=_finite(d.alert.evidence)) for d in decided]
    gateway_ts = {d.alert.device_id: d.gateway_rx for d in decided if d.gateway_rx is not None}
    return write_alerts(conn, alerts, gateway_ts=gateway_ts)


class DetectorStage:
    """A `BatchSink` that runs the detector engine on its own thread."""

    def __init__(
        self,
        dsn: str,
        state_path: Path | None = None,
        *,
        queue_max: int = QUEUE_MAX,
        tick_s: float = TICK_S,
        checkpoint_s: float = CHECKPOINT_S,
        partition: Partition | None = None,
        policy: Policy | None = None,
        sites: Callable[[str], bool] | None = None,
    ) -> None:
        self.dsn = dsn
        self.partition = partition or Partition()
        # Which sites' devices this stage watches (None: all; default: its partition's). With
        # several workers each stage must watch only its partition's, or it would raise the
        # others' devices (whose readings it never sees) as offline, and every gateway alert
        # once per stage.
        if sites is None and self.partition.count > 1:
            sites = self.partition.owns
        self.sites = sites
        self.state_path = state_path
        self.tick_s = tick_s
        self.checkpoint_s = checkpoint_s
        self.policy = policy
        self.engine = DetectorEngine(policy=policy)
        self.caught_up = 0  # rows read back from the database after a restart
        self.alerts_written = 0
        self._queue = StageQueue(queue_max)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="detector-stage", daemon=True)
        self._version = -2
        self._slots = np.zeros(0, dtype=np.int32)
        self._pending: list[Decided] = []
        self._retry_at = 0.0
        self._conn: psycopg.Connection[Any] | None = None
        # Per engine slot, the newest device time fed to the engine (saved with the state).
        self._seen = np.zeros(0, dtype=np.float64)
        self._restored_at: float | None = None  # wall time of the checkpoint loaded at start
        self._written: set[AlertKey] = set()  # alerts written before the restart
        self._away = AwayFollower()
        self._hushes = HushFollower()
        self._checkpointer: Checkpointer | None = None

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Load the saved state (if any), then start the engine thread (which loads the
        registry and catches up with what was committed since the state was saved)."""
        if self.state_path is not None:
            if self.state_path.exists():
                self._restore(self.state_path)
            self._checkpointer = Checkpointer(self.state_path)
        self._thread.start()

    def stop(self) -> None:
        """Process what is queued, write the last alerts, save the state."""
        self._stop.set()
        self._thread.join(30.0)
        if self._checkpointer is not None:
            self._checkpointer.offer(self._snapshot())
            self._checkpointer.close()
            log.info("detector state saved to %s", self._checkpointer.path)
        if self._conn is not None:
            self._conn.close()

    # ---- BatchSink ---------------------------------------------------------------------
    def submit(self, batch: ReadingBatch) -> None:
        """Queue a batch; wait while the queue is full (backpressure), unless stopping."""
        while not self._stop.is_set():
            if self._queue.put(batch, timeout=SUBMIT_WAIT_S):
                return
            log.warning("detector stage is behind: ingest waits for room")

    def on_gateway_status(self, status: GatewayStatus) -> None:
        """From the worker's status follower: a gateway of this stage's sites went on or off."""
        if self.sites is not None and not self.sites(status.site):
            return
        self.gateway_status(GatewayStatusChange(status.gateway, status.online, status.ts))

    def gateway_status(self, change: GatewayStatusChange) -> None:
        if not math.isfinite(change.ts):  # the engine's clocks would never recover from it
            raise ValueError(f"gateway {change.gateway}: status time {change.ts} is not finite")
        while not self._stop.is_set():
            if self._queue.put(change, timeout=SUBMIT_WAIT_S):
                return

    # ---- engine thread -----------------------------------------------------------------
    def _restore(self, path: Path) -> None:
        try:
            self.engine = DetectorEngine.load(path, self.policy)
            with np.load(path, allow_pickle=False) as data:
                if "seen" in data:
                    self._seen = data["seen"].copy()
                    self._restored_at = float(data["saved_at"])
            log.info("detector state loaded from %s", path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self.engine = DetectorEngine(policy=self.policy)
            log.warning("cannot load detector state %s (%s): starting fresh", path, exc)

    def _snapshot(self) -> dict[str, Any]:
        """Everything a checkpoint holds; a copy, taken on the engine thread."""
        return {
            **self.engine.snapshot(),
            "seen": self._seen.copy(),
            "saved_at": np.array(time.time()),
        }

    def _run(self) -> None:
        self._load_devices()  # silences start now, even for devices that never report
        self._catch_up()
        next_tick = time.monotonic()
        next_checkpoint = time.monotonic() + self.checkpoint_s
        while True:
            stopping = self._stop.is_set()
            item = self._queue.get(timeout=max(0.0, next_tick - time.monotonic()))
            if item is not None:
                self._handle(self._queue.following(item, RUN_MAX))
            if time.monotonic() >= next_tick:
                now = time.time()
                self._away.expire(self.engine, now)
                self._decided(self.engine.tick(now))
                next_tick = time.monotonic() + self.tick_s
            if self._checkpointer is not None and time.monotonic() >= next_checkpoint:
                self._checkpointer.offer(self._snapshot())
                next_checkpoint = time.monotonic() + self.checkpoint_s
            if self._pending:  # alerts are rare: each is written at once
                self._flush()
            if stopping and self._queue.empty():
                self._flush(final=True)
                return

    def _handle(self, items: list[Item]) -> None:
        """One item, or a run of telemetry messages (`StageQueue.following`)."""
        item = items[0]
        try:
            if len(items) > 1:
                self._process_run([b for b in items if isinstance(b, ReadingBatch)])
            elif isinstance(item, GatewayStatusChange):
                # A gateway none of this stage's devices is behind (another district's, a
                # retired one whose last will the broker still retains) is not its to report.
                if item.gateway in self.engine.registry.gateway_index:
                    self._decided(self.engine.gateway_status(item.gateway, item.online, item.ts))
            else:
                self._process(item)
        except Exception:  # one bad batch must not stop the detectors
            log.exception("the detector stage failed on an item")

    def _process(self, batch: ReadingBatch, run: Sequence[ReadingBatch] = ()) -> None:
        """One message, or (`run`) telemetry messages that share `batch`'s registry."""
        # Ingest's two lanes submit from two threads, so a batch decoded under an older
        # registry may arrive after a newer one: only a newer version is followed.
        if batch.registry.version > self._version:
            self._follow_registry(batch.registry)
        if len(self._slots) < len(batch.registry.device_ids):
            self._slots = slot_map(self.engine, batch.registry.device_ids)
        self._presence(batch)
        rows, rx = translate_run(run, self._slots) if run else translate(batch, self._slots)
        if not len(rows):
            return
        self._feed(rows, rx)

    def _process_run(self, batches: list[ReadingBatch]) -> None:
        """Telemetry messages of one registry snapshot (no events: nothing for `_presence`)."""
        self._process(batches[0], batches)

    def _presence(self, batch: ReadingBatch) -> None:
        """A panel's arming and disarming reach the household's away state (issue 18)."""
        registry = self.engine.registry
        for event in batch.events:
            if event.kind != "presence" or event.device not in registry.slot_of:
                continue
            household = registry.devices[registry.slot_of[event.device]].household_id
            if household:
                home = event.value != 0.0
                self._away.on_presence(self.engine, household, home, event.ts, time.time())

    def _feed(self, rows: Batch, rx: npt.NDArray[np.float64]) -> None:
        alerts = self.engine.process(rows)
        np.fmax.at(self._seen, rows.slot, rows.ts)
        if alerts:
            self._decided(alerts, rows, rx)

    def _catch_up(self) -> None:
        """After a restart from a checkpoint: feed the rows committed since, before anything
        the broker redelivers (docs/detectors.md, "After a crash")."""
        if self._restored_at is None:
            return
        since = self._restored_at - MARGIN_S
        rows = None
        while rows is None and not self._stop.is_set():
            rows = self._with_db(lambda conn: self._committed_since(conn, since))
            if rows is None:
                self._stop.wait(RETRY_S)
        if rows is None or not len(rows):
            return
        self.caught_up = len(rows)
        log.info("detectors caught up with %d rows committed since the checkpoint", len(rows))
        self._feed(rows, rows.received_at)

    def _committed_since(self, conn: psycopg.Connection[Any], since: float) -> Batch:
        self._written = written_alerts(conn, since)
        sites = None
        if self.partition.count > 1:
            sites = [str(s) for (s,) in conn.execute(_SITES) if self.partition.owns(str(s))]
        return committed_since(conn, self.engine, self._seen, since, sites)

    def _follow_registry(self, snapshot: RegistrySnapshot) -> None:
        """Commissioning reaches the engine: add the devices it does not watch yet."""
        if self._load_devices():
            self._version = snapshot.version
            self._slots = slot_map(self.engine, snapshot.device_ids)

    def _load_devices(self) -> bool:
        """The devices and the away households, from one read of the registry."""
        loaded = self._with_db(
            lambda conn: (
                load_devices(conn, self.sites),
                away_households(conn),
                panel_presence(conn),
                active_hushes(conn),
            )
        )
        if loaded is None:
            return False
        devices, away, presence, hushes = loaded
        known = self.engine.registry.slot_of
        new = [d for d in devices if d.device_id not in known]
        if new:
            self.engine.add_devices(new)
            log.info("detectors watch %d devices (%d new)", len(self.engine.registry), len(new))
        grown = len(self.engine.registry) - len(self._seen)
        if grown > 0:
            self._seen = np.concatenate([self._seen, np.full(grown, np.nan)])
        self._away.apply(self.engine, away, time.time(), presence)
        self._hushes.apply(self.engine, hushes)
        return True

    def _decided(
        self,
        alerts: list[Alert],
        rows: Batch | None = None,
        rx: npt.NDArray[np.float64] | None = None,
    ) -> None:
        for alert in alerts:
            if self._written and alert_key(alert) in self._written:
                log.info("not writing %s %s again", alert.kind, alert.device_id)
                continue
            gateway_rx = None
            if rows is not None and rx is not None:
                slot = self.engine.registry.slot_of.get(alert.device_id, -1)
                match = np.flatnonzero((rows.slot == slot) & (rows.ts == alert.ts))
                if match.size:
                    gateway_rx = float(rx[match[-1]])
            self._pending.append(Decided(alert, gateway_rx))

    def _flush(self, *, final: bool = False) -> None:
        """Write pending alerts; on a database failure keep them for the next try."""
        if not self._pending:
            return
        if final:
            self._retry_at = 0.0
        ids = self._with_db(self._write_pending)
        if ids is not None:
            self.alerts_written += len(ids)
            self._pending = []
        elif final:
            log.error(
                "stopping with %d alerts unwritten: %s",
                len(self._pending),
                "; ".join(f"{d.alert.kind} {d.alert.device_id}" for d in self._pending),
            )

    def _write_pending(self, conn: psycopg.Connection[Any]) -> list[int]:
        """All pending alerts in one transaction; if the database refuses one (not a lost
        connection), each on its own, so one bad row costs only itself."""
        try:
            return write_decided(conn, self._pending)
        except psycopg.OperationalError:
            raise
        except (psycopg.Error, ValueError):
            ids = []
            for decided in self._pending:
                try:
                    ids += write_decided(conn, [decided])
                except psycopg.OperationalError:
                    raise
                except (psycopg.Error, ValueError) as exc:
                    log.error("the database refused alert %s: %s", decided.alert.to_json(), exc)
            return ids

    def _with_db(self, work: Any) -> Any:
        """`work(conn)`, or None while the database is unavailable (retried after RETRY_S,
        without holding up the engine)."""
        if time.monotonic() < self._retry_at:
            return None
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=5)
            return work(self._conn)
        except psycopg.Error as exc:
            log.warning("detector stage: database unavailable (%s)", exc)
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            self._retry_at = time.monotonic() + RETRY_S
            return None


def state_path_for(var_dir: Path, worker: str = "0of1") -> Path:
    """One state file per ingest worker: each owns its sites' devices."""
    return var_dir / "detectors" / f"engine-{worker}.npz"
