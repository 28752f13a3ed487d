"""The receiver's own durable state, in one SQLite file so one transaction covers it all.

A push is staged in a single commit: the deduplication key (pending), the devices' new states
and sequence numbers, and the events and readings to send (`outbox`). So a crash at any point
either loses nothing the platform was told is accepted, or leaves the push staged, to be sent
again at start (ingest stores an event once per device, seq, time and kind). A key is marked
accepted, and its outbox row deleted, once the bridge's broker acknowledged the events.

The deduplication keys are remembered `remember_s` (3 h: OneNET retries for about 2 h 45 min).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

from vigil.codec import Event

_SCHEMA = """
create table if not exists seen (
    key text primary key, at real not null, accepted integer not null default 0);
create index if not exists seen_at on seen (at);
create table if not exists props (
    dev text not null, prop text not null, value real not null, at real not null default 0,
    primary key (dev, prop));
create table if not exists devseq (dev text primary key, seq integer not null);
create table if not exists heard (
    dev text primary key, last real not null, interval real not null, profile text not null);
create table if not exists outbox (
    id integer primary key autoincrement, key text not null, events blob not null,
    readings blob not null);
create table if not exists learned (
    source text not null, platform_id text not null, imei text not null,
    primary key (source, platform_id));
create table if not exists dead (
    id integer primary key autoincrement, at real not null, topic text not null,
    reason text not null, detail text not null, payload blob not null,
    copied integer not null default 0);
"""

REMEMBER_S = 3 * 3600.0


class ReadingRow(msgspec.Struct, array_like=True, frozen=True):
    """One reading bound for telemetry: a device's value of a metric at a time."""

    dev: str
    seq: int
    ts: float
    rx: float
    metric: str
    value: float


class _Staged(msgspec.Struct, array_like=True):
    events: list[Event]
    readings: list[ReadingRow]


_enc = msgspec.msgpack.Encoder()
_dec_events = msgspec.msgpack.Decoder(list[Event])
_dec_readings = msgspec.msgpack.Decoder(list[ReadingRow])


@dataclass(frozen=True)
class Staged:
    id: int
    key: str
    events: list[Event]
    readings: list[ReadingRow]


@dataclass(frozen=True)
class Heard:
    dev: str
    last: float
    interval: float
    profile: str


class State:
    def __init__(self, path: Path, remember_s: float = REMEMBER_S) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.remember_s = remember_s
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("pragma journal_mode = wal")
        self._db.execute("pragma synchronous = normal")
        self._db.executescript(_SCHEMA)
        self._props: dict[tuple[str, str], tuple[float, float]] = {
            (d, p): (v, at)
            for d, p, v, at in self._db.execute("select dev, prop, value, at from props")
        }
        self._seq: dict[str, int] = dict(self._db.execute("select dev, seq from devseq"))

    # ---- reads -----------------------------------------------------------------------------
    def seen(self, key: str) -> bool | None:
        """None: never seen (or forgotten); False: staged, not yet acknowledged; True: done."""
        row = self._db.execute("select accepted from seen where key = ?", (key,)).fetchone()
        return None if row is None else bool(row[0])

    def prop(self, dev: str, prop: str) -> float | None:
        found = self._props.get((dev, prop))
        return None if found is None else found[0]

    def prop_at(self, dev: str, prop: str) -> float | None:
        """When the device's state of `prop` was last observed (the message's own time)."""
        found = self._props.get((dev, prop))
        return None if found is None else found[1]

    def imei_of(self, source: str, platform_id: str) -> str | None:
        """The IMEI a device's data reports gave with its platform id (learned, persisted)."""
        row = self._db.execute(
            "select imei from learned where source = ? and platform_id = ?", (source, platform_id)
        ).fetchone()
        return None if row is None else str(row[0])

    def heard(self) -> list[Heard]:
        rows = self._db.execute("select dev, last, interval, profile from heard")
        return [Heard(*r) for r in rows]

    def staged(self) -> list[Staged]:
        rows = self._db.execute("select id, key, events, readings from outbox order by id")
        return [Staged(i, k, _dec_events.decode(e), _dec_readings.decode(r)) for i, k, e, r in rows]

    def dead_letters(self, *, uncopied: bool = False, limit: int = 1000) -> list[tuple]:  # type: ignore[type-arg]
        sql = "select id, at, topic, reason, detail, payload from dead"
        if uncopied:
            sql += " where copied = 0"
        return list(self._db.execute(sql + " order by id limit ?", (limit,)))

    # ---- a transaction ---------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Txn]:
        txn = Txn(self)
        self._db.execute("begin immediate")
        try:
            yield txn
            self._db.execute("commit")
        except BaseException:
            self._db.execute("rollback")
            raise
        # Only now do the caches see the new values.
        self._props.update(txn.props)
        self._seq.update(txn.seqs)

    def accepted(self, outbox_id: int, key: str) -> None:
        with self.transaction():
            self._db.execute("delete from outbox where id = ?", (outbox_id,))
            self._db.execute("update seen set accepted = 1 where key = ?", (key,))

    def copied(self, ids: list[int]) -> None:
        self._db.executemany("update dead set copied = 1 where id = ?", [(i,) for i in ids])

    def forget(self, now: float | None = None) -> int:
        """Drop acknowledged keys older than the retry horizon; returns how many."""
        cutoff = (now if now is not None else time.time()) - self.remember_s
        cur = self._db.execute("delete from seen where at < ? and accepted = 1", (cutoff,))
        self._db.execute("delete from dead where copied = 1 and at < ?", (cutoff,))
        return cur.rowcount

    def close(self) -> None:
        self._db.close()


class Txn:
    """The changes of one push, written in `State.transaction`."""

    def __init__(self, state: State) -> None:
        self._state = state
        self._db = state._db
        self.props: dict[tuple[str, str], tuple[float, float]] = {}
        self.seqs: dict[str, int] = {}

    def prop(self, dev: str, prop: str) -> float | None:
        if (dev, prop) in self.props:
            return self.props[(dev, prop)][0]
        return self._state.prop(dev, prop)

    def prop_at(self, dev: str, prop: str) -> float | None:
        if (dev, prop) in self.props:
            return self.props[(dev, prop)][1]
        return self._state.prop_at(dev, prop)

    def set_prop(self, dev: str, prop: str, value: float, at: float = 0.0) -> None:
        at = max(at, self.prop_at(dev, prop) or 0.0)
        self.props[(dev, prop)] = (value, at)
        self._db.execute(
            "insert into props values (?, ?, ?, ?) on conflict (dev, prop) do update "
            "set value = excluded.value, at = excluded.at",
            (dev, prop, value, at),
        )

    def next_seq(self, dev: str) -> int:
        seq = self.seqs.get(dev, self._state._seq.get(dev, 0)) + 1
        self.seqs[dev] = seq
        self._db.execute(
            "insert into devseq values (?, ?) on conflict (dev) do update set seq = excluded.seq",
            (dev, seq),
        )
        return seq

    def mark(self, key: str, now: float, *, accepted: bool) -> None:
        self._db.execute(
            "insert into seen values (?, ?, ?) on conflict (key) do nothing",
            (key, now, int(accepted)),
        )

    def learn(self, source: str, platform_id: str, imei: str) -> None:
        self._db.execute(
            "insert into learned values (?, ?, ?) on conflict (source, platform_id) "
            "do update set imei = excluded.imei",
            (source, platform_id, imei),
        )

    def heard(self, dev: str, now: float, interval: float, profile: str) -> None:
        self._db.execute(
            "insert into heard values (?, ?, ?, ?) on conflict (dev) do update set "
            "last = excluded.last, interval = excluded.interval, profile = excluded.profile",
            (dev, now, interval, profile),
        )

    def stage(self, key: str, events: list[Event], readings: list[ReadingRow]) -> int:
        cur = self._db.execute(
            "insert into outbox (key, events, readings) values (?, ?, ?)",
            (key, _enc.encode(events), _enc.encode(readings)),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def dead(self, now: float, topic: str, reason: str, detail: str, payload: bytes) -> None:
        self._db.execute(
            "insert into dead (at, topic, reason, detail, payload) values (?, ?, ?, ?, ?)",
            (now, topic, reason, detail[:2000], payload[:65536]),
        )
