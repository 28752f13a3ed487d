"""Live status in the registry: `devices.last_seen` / `battery_v` from what ingest commits,
`gateways.status` / `status_since` / `last_seen` from the gateways' status messages.

Cheap by construction. The committer only appends the committed messages to a list
(`committed`, O(1)); this module's own thread folds them into per-slot arrays (newest device
time, newest battery reading) once `FOLD_BATCHES` are waiting, and at the latest every
`interval_s`, when it writes the gateways that changed with one `UPDATE … FROM unnest(…)`,
and every `device_interval_s` the devices that changed with another: a device row is updated
at most once per `device_interval_s` (about 8 µs of PostgreSQL CPU each, a HOT update with
migration 0010's fill factor), however often it reports.
While the database is down the arrays keep the newest values and the next write catches up;
nothing here holds up a commit. The registry-change triggers ignore these columns (migration
0010), so the writes do not make every worker reload its registry.

Gateway status: retained `online` messages and the last will (`offline`), from the worker's
one status follower (`ingest.gateway_status`), for the gateways of this worker's sites.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from numba import njit

from ingest import broker_watch
from ingest.columns import Readings
from ingest.gateway_status import GatewayStatus
from ingest.registry import Registry
from ingest.validate import Checked
from vigil.backoff import Backoff
from vigil.device_types import METRIC_CODE

log = logging.getLogger(__name__)

BATTERY = METRIC_CODE["battery"]
# Committed batches held for the fold at most (with their messages' payloads and readings,
# about 20 MB at full load): waiting `interval_s` for them held 5 s of the stream, about 130 MB
# at 200 000 readings/s, and the worker's RSS swung and crept (docs/performance.md, "RSS").
FOLD_BATCHES = 4

_DEVICES = """
update devices d
set last_seen = greatest(d.last_seen, v.seen),
    battery_v = coalesce(v.battery, d.battery_v)
from unnest(%s::text[], %s::float8[], %s::float8[]) as u(id, seen_s, battery),
     lateral (select to_timestamp(u.seen_s) as seen, u.battery::real as battery) as v
where d.id = u.id and (d.last_seen is distinct from greatest(d.last_seen, v.seen)
                       or v.battery is not null and d.battery_v is distinct from v.battery)
"""

# A gateway whose status changed is announced on `vigil_device_health`, which the console's live
# stream carries (console/live.py); `before` reads the statement's snapshot, so it holds the
# status as it was before the update.
_GATEWAYS = """
with u as (
    select * from unnest(%s::text[], %s::text[], %s::float8[], %s::float8[])
        as u(id, status, since_s, seen_s)
), before as (
    select g.id, g.status from gateways g join u on u.id = g.id
), changed as (
    update gateways g
    set status = coalesce(u.status, g.status),
        status_since = case when u.status is not null and u.status is distinct from g.status
                            then to_timestamp(u.since_s) else g.status_since end,
        last_seen = greatest(g.last_seen, to_timestamp(u.seen_s))
    from u
    where g.id = u.id
    returning g.id, g.status, g.status_since
)
select pg_notify('vigil_device_health', json_build_object(
           'kind', 'gateway', 'gateway_id', c.id, 'status', c.status,
           'since', extract(epoch from c.status_since))::text)
from changed c join before b on b.id = c.id
where c.status is distinct from b.status
"""


@dataclass(frozen=True)
class GatewayState:
    online: bool
    since: float  # when it entered this state
    seen: float | None  # when it said so, if that shows it is up


class DeviceFold:
    """Per registry slot: newest device time and newest battery reading not yet written."""

    def __init__(self) -> None:
        self.seen = np.zeros(0, dtype=np.float64)
        self.battery = np.zeros(0, dtype=np.float64)
        self.battery_ts = np.zeros(0, dtype=np.float64)
        self.dirty = np.zeros(0, dtype=np.bool_)

    def _grow(self, n: int) -> None:
        if n <= len(self.seen):
            return
        extra = n - len(self.seen)
        nan = np.full(extra, np.nan)
        self.seen = np.concatenate([self.seen, nan])
        self.battery = np.concatenate([self.battery, nan])
        self.battery_ts = np.concatenate([self.battery_ts, nan])
        self.dirty = np.concatenate([self.dirty, np.zeros(extra, np.bool_)])

    def add(self, device: npt.NDArray[np.int32], ts: npt.NDArray[np.float64]) -> None:
        """Readings or events of these slots at these device times."""
        if not len(device):
            return
        self._grow(int(device.max()) + 1)
        np.fmax.at(self.seen, device, ts)
        self.dirty[device] = True

    def add_readings(self, batches: Sequence[Readings]) -> None:
        """Committed batches' readings, in commit order, in one pass each with no gathering:
        per slot the newest device time, and the newest battery reading (of two at one time,
        the later one) if it is newer than the one held."""
        sizes = [int(r.device.max()) + 1 for r in batches if len(r)]
        if not sizes:
            return
        self._grow(max(sizes))
        newest = np.full(len(self.seen), np.nan)  # this fold's battery readings, per slot
        value = np.zeros(len(self.seen))
        for r in batches:
            _fold(r.device, r.ts, r.metric, r.value, BATTERY, self.seen, self.dirty, newest, value)
        device = np.flatnonzero(~np.isnan(newest))
        ts, v = newest[device], value[device]
        newer = ~(ts <= self.battery_ts[device])  # NaN (none yet): newer
        self.battery[device[newer]] = v[newer]
        self.battery_ts[device[newer]] = ts[newer]
        self.dirty[device[newer]] = True

    def take(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], list[float | None]]:
        """The changed slots with their figures; they stay dirty until `written`."""
        slots = np.flatnonzero(self.dirty)
        battery = self.battery[slots]
        return slots, self.seen[slots], [None if np.isnan(b) else float(b) for b in battery]

    def written(self, slots: npt.NDArray[np.int64]) -> None:
        self.dirty[slots] = False


class Liveness:
    """The registry's status columns for one ingest worker (its partition's gateways)."""

    def __init__(
        self,
        dsn: str,
        registry: Registry,
        interval_s: float,
        device_interval_s: float,
        *,
        watch: broker_watch.BrokerWatch | None = None,
    ) -> None:
        self.dsn = dsn
        self.registry = registry
        self.interval_s = interval_s
        self.device_interval_s = device_interval_s
        self._next_devices = time.monotonic() + device_interval_s
        self.broker_watch = watch
        self.writes = 0
        self._stop = threading.Event()
        self._wake = threading.Event()  # set when FOLD_BATCHES wait, or at close
        self._lock = threading.Lock()
        self._pending: list[tuple[Sequence[Checked], Readings | None]] = []
        self._heard: dict[str, float] = {}  # gateway -> when its last committed message came
        self._status: dict[str, GatewayState] = {}
        self._devices = DeviceFold()
        self._thread = threading.Thread(target=self._run, name="ingest-liveness", daemon=True)

    # ---- called from other threads -------------------------------------------------------
    def committed(self, messages: Sequence[Checked], readings: Readings | None = None) -> None:
        """The committer hands over a committed batch, and its readings when it holds them
        gathered in one set of columns (else they are gathered from the messages); no work
        here but waking the writer thread once `FOLD_BATCHES` wait."""
        with self._lock:
            self._pending.append((messages, readings))
            full = len(self._pending) >= FOLD_BATCHES
        if full:
            self._wake.set()

    def gateway_status(self, gateway: str, state: GatewayState) -> None:
        """A checked status (vigil/status_check.py); a time that is not finite never gets in."""
        if not all(math.isfinite(t) for t in (state.since, state.seen or 0.0)):
            raise ValueError(f"gateway {gateway}: status times must be finite, not {state}")
        with self._lock:
            self._status[gateway] = state

    # ---- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Write what is left (after the last commit), then stop."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        """Fold whenever woken, write every `interval_s` (later after a failed write)."""
        backoff = Backoff(initial=0.2)
        conn: psycopg.Connection[Any] | None = None
        write_at = time.monotonic() + self.interval_s
        while True:
            self._wake.wait(max(0.0, write_at - time.monotonic()))
            self._wake.clear()
            stopping = self._stop.is_set()
            if not stopping and time.monotonic() < write_at:
                self.fold()
                continue
            write_at = time.monotonic() + self.interval_s
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=5)
                self.flush(conn, devices=stopping or time.monotonic() >= self._next_devices)
                backoff.succeeded()
            except psycopg.Error as exc:
                log.warning("cannot write device and gateway status: %s", exc)
                if conn is not None:
                    conn.close()
                conn = None
                write_at = backoff.failed(time.monotonic()) + self.interval_s
            if stopping:
                if conn is not None:
                    conn.close()
                return

    # ---- the writer thread ---------------------------------------------------------------
    def fold(self) -> None:
        """Fold the committed batches handed over since the last call into the arrays."""
        with self._lock:
            pending, self._pending = self._pending, []
        parts = [m for messages, _ in pending for m in messages if m.key is not None]
        if not parts:
            return
        now = time.time()
        for m in parts:
            if m.key is not None and (len(m.readings) or m.events):
                self._heard[m.key.gateway] = now
        self._devices.add_readings([_readings(messages, r) for messages, r in pending])
        events = [e for m in parts for e in m.events]
        if events:
            self._devices.add(
                np.array([e.slot for e in events], np.int32),
                np.array([e.ts for e in events], np.float64),
            )

    def flush(self, conn: psycopg.Connection[Any], *, devices: bool = True) -> None:
        """Fold, then write what changed: one statement for gateways, one for devices (unless
        `devices` is False: they wait for the next time)."""
        self.fold()
        slots, seen, battery = (
            self._devices.take() if devices else (np.zeros(0, np.int64), None, [])
        )
        with self._lock:
            status, self._status = self._status, {}
        heard, self._heard = self._heard, {}
        if self.broker_watch is not None:
            self.broker_watch.write(conn)
        if not (len(slots) or status or heard):
            return
        try:
            with conn.transaction():
                if len(slots) and seen is not None:
                    ids = self.registry.snapshot.device_ids
                    conn.execute(_DEVICES, ([ids[s] for s in slots], seen.tolist(), battery))
                gateways = sorted(set(status) | set(heard))
                if gateways:
                    conn.execute(_GATEWAYS, _gateway_rows(gateways, status, heard))
        except psycopg.Error:
            with self._lock:  # newer news that came meanwhile wins
                self._status = {**status, **self._status}
            self._heard = {**heard, **self._heard}
            raise
        self._devices.written(slots)
        if devices:
            self._next_devices = time.monotonic() + self.device_interval_s
        self.writes += 1

    # ---- gateway status ------------------------------------------------------------------
    def on_status(self, status: GatewayStatus) -> None:
        """A change of state sets `status_since`: the receive time of a live message, the
        message's own time for a retained one (delivered at subscribe time, it may be old)."""
        since = status.ts if status.retained else status.received
        self.gateway_status(
            status.gateway, GatewayState(status.online, since, since if status.online else None)
        )


def _readings(messages: Sequence[Checked], readings: Readings | None) -> Readings:
    """A committed batch's readings: as handed over, or gathered from its messages."""
    if readings is not None:
        return readings
    return Readings.concat([m.readings for m in messages if m.key is not None])


def _gateway_rows(
    gateways: list[str], status: dict[str, GatewayState], heard: dict[str, float]
) -> tuple[list[str], list[str | None], list[float | None], list[float | None]]:
    states = [status.get(g) for g in gateways]
    seen = []
    for g, s in zip(gateways, states, strict=True):
        times = [t for t in (heard.get(g), None if s is None else s.seen) if t is not None]
        seen.append(max(times, default=None))
    return (
        gateways,
        [None if s is None else ("online" if s.online else "offline") for s in states],
        [None if s is None else s.since for s in states],
        seen,
    )


@njit(cache=True)
def _fold(  # noqa: PLR0917 (a kernel takes its arrays positionally)
    device: npt.NDArray[np.int32],
    ts: npt.NDArray[np.float64],
    metric: npt.NDArray[np.int32],
    value: npt.NDArray[np.float64],
    battery: int,
    seen: npt.NDArray[np.float64],
    dirty: npt.NDArray[np.bool_],
    newest: npt.NDArray[np.float64],
    newest_value: npt.NDArray[np.float64],
) -> None:
    """`np.fmax.at(seen, device, ts)` and the dirty marks, and per slot the battery reading
    with the highest time (the later of equals), in one pass."""
    for i in range(len(device)):
        d, t = device[i], ts[i]
        if t > seen[d] or np.isnan(seen[d]):
            seen[d] = t
        dirty[d] = True
        if metric[i] == battery and (np.isnan(newest[d]) or t >= newest[d]):
            newest[d] = t
            newest_value[d] = value[i]
