"""The provisioned registry as ingest needs it: arrays indexed by device slot, cached and refreshed.

A device keeps its slot for the life of the process, across refreshes, so detectors can keep
per-device state in arrays indexed by the same slots. Checks run on whole columns at once:
`device_gateway[slots] == gateway` says which readings come from the right gateway.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import psycopg

from vigil.backoff import Backoff
from vigil.device_types import DEVICE_TYPES, METRIC_CODE, METRICS, TYPE_CODE, device_types, metrics

if TYPE_CHECKING:
    from ingest.msgpack_columns import NameTable

log = logging.getLogger(__name__)

NO_GATEWAY = -1
NO_TYPE = -1
NO_KEY = 0  # identity keys start at 1


def _metric_tables() -> tuple[
    npt.NDArray[np.bool_], npt.NDArray[np.float64], npt.NDArray[np.float64]
]:
    allowed = np.zeros((len(DEVICE_TYPES), len(METRICS)), dtype=np.bool_)
    for t, name in enumerate(DEVICE_TYPES):
        for metric in device_types()[name].metrics:
            allowed[t, METRIC_CODE[metric]] = True
    low = np.array([metrics()[m].min for m in METRICS], dtype=np.float64)
    high = np.array([metrics()[m].max for m in METRICS], dtype=np.float64)
    return allowed, low, high


METRIC_ALLOWED, METRIC_MIN, METRIC_MAX = _metric_tables()
EVENT_KINDS: tuple[frozenset[str], ...] = tuple(
    frozenset(device_types()[name].events) for name in DEVICE_TYPES
)


def codes(names: Iterable[str], table: dict[str, int], count: int) -> npt.NDArray[np.int32]:
    """Names to integer codes in one C-level pass; -1 for a name the table does not hold."""
    return np.fromiter(map(table.get, names, repeat(-1)), dtype=np.int32, count=count)


@dataclass(frozen=True)
class Gateway:
    index: int
    site: str


@dataclass(frozen=True)
class RegistrySnapshot:
    """One consistent view of the registry; replaced whole, never changed."""

    version: int
    device_slot: dict[str, int]
    device_ids: tuple[str, ...]  # by slot, including devices no longer provisioned
    device_gateway: npt.NDArray[np.int32]  # by slot; NO_GATEWAY when not provisioned now
    device_type: npt.NDArray[np.int32]  # by slot; NO_TYPE when not provisioned or unknown type
    gateways: dict[str, Gateway]
    # By slot, the device's `devices.key`, what `reading_rows` stores; NO_KEY if never known.
    device_key: npt.NDArray[np.int32] = field(
        default_factory=lambda: np.zeros(0, np.int32), compare=False, repr=False
    )
    _parts: dict[int, npt.NDArray[np.int32]] = field(
        default_factory=dict, compare=False, repr=False
    )
    _names: list[NameTable] = field(default_factory=list, compare=False, repr=False)

    def name_table(self) -> NameTable:
        """The devices' ids by slot, as `ingest.msgpack_columns` looks them up; made when
        first asked for (a snapshot the decoding thread never uses costs nothing)."""
        if not self._names:
            from ingest.msgpack_columns import NameTable

            self._names.append(NameTable.of(list(self.device_ids)))
        return self._names[0]

    def part_of(self, count: int) -> npt.NDArray[np.int32]:
        """By slot, the committing part of `count` a device belongs to (`ingest.parts`): a hash
        of its id, so the same after a restart. (Not CRC-32: ids that differ in one digit
        often share its low bits, and would all fall in one part.)"""
        if count not in self._parts:
            self._parts[count] = np.array(
                [device_part(d, count) for d in self.device_ids], dtype=np.int32
            )
        return self._parts[count]


def device_part(device_id: str, count: int) -> int:
    """The committing part of `count` a device belongs to (`RegistrySnapshot.part_of`)."""
    digest = hashlib.blake2b(device_id.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % count


_LOAD_GATEWAYS = """
select id, site_id from gateways where revoked_at is null and retired_at is null order by id
"""
_LOAD_DEVICES = """
select d.id, d.device_type, d.gateway_id, d.key
from devices d join gateways g on g.id = d.gateway_id
where d.retired_at is null and g.revoked_at is null and g.retired_at is null
"""


class Registry:
    """The current snapshot, and how to reload it; slots are handed out here and never reused."""

    def __init__(self) -> None:
        self._slots: dict[str, int] = {}
        self._ids: list[str] = []
        self._keys: list[int] = []
        self._lock = threading.Lock()
        self.snapshot = RegistrySnapshot(
            -1, {}, (), np.zeros(0, np.int32), np.zeros(0, np.int32), {}
        )
        self._listeners: list[Callable[[RegistrySnapshot], None]] = []

    def on_change(self, listener: Callable[[RegistrySnapshot], None]) -> None:
        """Call `listener` with every new snapshot (e.g. to subscribe to a new site)."""
        self._listeners.append(listener)

    @staticmethod
    def current_version(conn: psycopg.Connection[tuple[object, ...]]) -> int:
        row = conn.execute("select version from registry_version").fetchone()
        return int(str(row[0])) if row else 0

    def load(self, conn: psycopg.Connection[tuple[object, ...]]) -> RegistrySnapshot:
        """Read the registry in one repeatable-read transaction and publish it as the snapshot."""
        with conn.transaction():
            conn.execute("set transaction isolation level repeatable read")
            version = self.current_version(conn)
            gateway_rows = conn.execute(_LOAD_GATEWAYS).fetchall()
            device_rows = conn.execute(_LOAD_DEVICES).fetchall()
        return self.apply(version, gateway_rows, device_rows)

    def refresh(self, conn: psycopg.Connection[tuple[object, ...]]) -> bool:
        """Reload if the registry changed since the snapshot; True if it did."""
        if self.current_version(conn) == self.snapshot.version:
            return False
        self.load(conn)
        return True

    def apply(
        self,
        version: int,
        gateway_rows: Sequence[tuple[object, ...]],
        device_rows: Sequence[tuple[object, ...]],
    ) -> RegistrySnapshot:
        """Publish a snapshot of (gateway id, site) and (device id, type, gateway id[, key])
        rows; a row without a key keeps the key its slot had."""
        with self._lock:  # slots are handed out in _build
            snapshot = self._build(version, gateway_rows, device_rows)
            self.snapshot = snapshot
        for listener in self._listeners:
            listener(snapshot)
        log.info(
            "registry version %d: %d gateways, %d devices",
            version,
            len(snapshot.gateways),
            len(device_rows),
        )
        return snapshot

    def _build(
        self,
        version: int,
        gateway_rows: Sequence[tuple[object, ...]],
        device_rows: Sequence[tuple[object, ...]],
    ) -> RegistrySnapshot:
        gateways = {str(gid): Gateway(i, str(site)) for i, (gid, site) in enumerate(gateway_rows)}
        for row in device_rows:
            device = str(row[0])
            if device not in self._slots:
                self._slots[device] = len(self._ids)
                self._ids.append(device)
                self._keys.append(NO_KEY)
            if len(row) > 3:
                self._keys[self._slots[device]] = int(str(row[3]))
        n = len(self._ids)
        device_gateway = np.full(n, NO_GATEWAY, dtype=np.int32)
        device_type = np.full(n, NO_TYPE, dtype=np.int32)
        for row in device_rows:
            slot = self._slots[str(row[0])]
            device_type[slot] = TYPE_CODE.get(str(row[1]), NO_TYPE)
            device_gateway[slot] = gateways[str(row[2])].index
        return RegistrySnapshot(
            version,
            dict(self._slots),
            tuple(self._ids),
            device_gateway,
            device_type,
            gateways,
            np.array(self._keys, dtype=np.int32),
        )


class RegistryWatcher:
    """Reloads the registry when it changes: LISTEN for `vigil_registry`, with a poll of the
    version counter as a safety net for notifications missed while disconnected."""

    def __init__(
        self, dsn: str, registry: Registry, stop: threading.Event, poll_s: float = 1.0
    ) -> None:
        self._dsn = dsn
        self._registry = registry
        self._stop = stop
        self._poll_s = poll_s
        self._thread = threading.Thread(target=self._run, name="ingest-registry", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        backoff = Backoff(initial=0.2)
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute("listen vigil_registry")
                    self._registry.refresh(conn)
                    backoff.succeeded()
                    self._watch(conn)
            except psycopg.Error as exc:
                now = time.monotonic()
                log.warning("registry watch lost its connection: %s", exc)
                self._stop.wait(backoff.failed(now) - now)

    def _watch(self, conn: psycopg.Connection[tuple[object, ...]]) -> None:
        while not self._stop.is_set():
            # Each generator is run to its end before the next: a suspended one holds the
            # connection's lock, and a nested call would wait for it forever.
            if list(conn.notifies(timeout=self._poll_s, stop_after=1)):
                # A provisioning run changes many rows: let the burst settle, reload once.
                list(conn.notifies(timeout=0.2))
            self._registry.refresh(conn)
