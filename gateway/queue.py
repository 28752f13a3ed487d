"""The gateway's disk queue: every message stays here until the broker acknowledges it (PUBACK).

SQLite in WAL mode with `synchronous=NORMAL`: a commit survives the gateway process crashing
(the point of the queue); on power loss the last few commits may go, which is the usual WAL
trade for not paying an fsync per message. The gateway sequence number (`gseq`) is stored in the
same transaction as the message that uses it, so a restart never reuses one.

A full disk (SQLite's "database or disk is full") is the bound the queue did not choose: the
same policy applies. The oldest telemetry is given up, a chunk at a time, until the message
fits; when only events are left, a telemetry message is itself given up (counted) and an event
is refused with `QueueFullError`, for the gateway to hold in memory and offer again. Nothing
else changes: once space returns, messages are stored as before.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

log = logging.getLogger(__name__)

_SCHEMA = """
create table if not exists outbox (
    id integer primary key autoincrement,
    lane integer not null,
    gseq integer not null,
    topic text not null,
    payload blob not null
);
create index if not exists outbox_lane on outbox (lane, id);
create table if not exists meta (key text primary key, value integer not null);
insert or ignore into meta values ('next_gseq', 1), ('dropped_telemetry', 0);
"""
_DROP_CHUNK = 64


class QueueFullError(Exception):
    """The disk has no room for the message even after giving up every queued telemetry."""


def _disk_full(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


class Lane(IntEnum):
    """Replay order: every queued event goes out before any queued telemetry."""

    EVENT = 0
    TELEMETRY = 1


@dataclass(frozen=True, slots=True)
class Queued:
    id: int
    lane: Lane
    gseq: int
    topic: str
    payload: bytes


class DiskQueue:
    """A bounded outbox; when full it drops the oldest telemetry and never an event."""

    def __init__(
        self, path: Path, *, max_bytes: int = 256 * 2**20, max_rows: int = 100_000
    ) -> None:
        if max_bytes < 1 or max_rows < 1:
            raise ValueError("the queue needs room for at least one message")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_bytes = max_bytes
        self.max_rows = max_rows
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("pragma journal_mode = wal")
        self._db.execute("pragma synchronous = normal")
        self._db.executescript(_SCHEMA)
        self.rows, self.bytes = self._count()
        self.next_gseq = self._meta("next_gseq")
        self.dropped_telemetry = self._meta("dropped_telemetry")
        self._saved_dropped = self.dropped_telemetry

    def _meta(self, key: str) -> int:
        value: int = self._db.execute("select value from meta where key = ?", (key,)).fetchone()[0]
        return value

    def put(
        self,
        lane: Lane,
        topic: str,
        build: Callable[[int], bytes],
        also: Callable[[sqlite3.Connection], None] | None = None,
    ) -> Queued:
        """Store the message `build(gseq)` under the next gseq, making room if the queue (or
        the disk) is full; raises QueueFullError when the disk has no room at all. `also`
        writes more in the same transaction (a bridge's device states, gateway/foreign_state)."""
        while True:
            try:
                return self._put(lane, topic, build, also)
            except sqlite3.OperationalError as exc:
                if not _disk_full(exc):
                    raise
            if not self._drop_for_disk():
                break
        if lane is Lane.TELEMETRY:
            self._count_dropped(1, "the disk is full and no older telemetry is left")
        raise QueueFullError(f"no room on disk for a {lane.name.lower()} message")

    def _drop_for_disk(self) -> bool:
        """Give up the oldest chunk of telemetry to free space; False if none could go."""
        db = self._db
        try:
            db.execute("begin immediate")
            gone = db.execute(
                "delete from outbox where id in (select id from outbox where lane = ? "
                "order by id limit ?) returning length(payload)",
                (int(Lane.TELEMETRY), _DROP_CHUNK),
            ).fetchall()
            db.execute("commit")
        except sqlite3.OperationalError as exc:
            with contextlib.suppress(sqlite3.OperationalError):
                db.execute("rollback")
            if not _disk_full(exc):
                raise
            return False
        self.rows -= len(gone)
        self.bytes -= sum(n for (n,) in gone)
        if gone:
            self._count_dropped(len(gone), "the disk is full")
        return bool(gone)

    def _count_dropped(self, count: int, why: str) -> None:
        self.dropped_telemetry += count
        if count == 1 and self.dropped_telemetry % 100:
            return  # one message at a time, while the disk stays full: every 100th is logged
        log.warning("%s: gave up %d telemetry messages (%d in all)", why, count,
                    self.dropped_telemetry)  # fmt: skip

    def _put(
        self,
        lane: Lane,
        topic: str,
        build: Callable[[int], bytes],
        also: Callable[[sqlite3.Connection], None] | None,
    ) -> Queued:
        gseq = self.next_gseq
        payload = build(gseq)
        db = self._db
        db.execute("begin immediate")
        try:
            cur = db.execute(
                "insert into outbox (lane, gseq, topic, payload) values (?, ?, ?, ?)",
                (int(lane), gseq, topic, payload),
            )
            db.execute("update meta set value = ? where key = 'next_gseq'", (gseq + 1,))
            if also is not None:
                also(db)
            self.rows += 1
            self.bytes += len(payload)
            self._make_room()
            db.execute("commit")
        except BaseException:
            with contextlib.suppress(sqlite3.OperationalError):  # SQLite may have rolled back
                db.execute("rollback")
            self.rows, self.bytes = self._count()
            raise
        self.next_gseq = gseq + 1
        assert cur.lastrowid is not None
        return Queued(cur.lastrowid, lane, gseq, topic, payload)

    def _make_room(self) -> None:
        dropped = 0
        while self.rows > self.max_rows or self.bytes > self.max_bytes:
            oldest = self._db.execute(
                "delete from outbox where id in (select id from outbox where lane = ? "
                "order by id limit ?) returning length(payload)",
                (int(Lane.TELEMETRY), self._rows_to_drop()),
            ).fetchall()
            if not oldest:
                break  # only events are left, and events are never dropped
            dropped += len(oldest)
            self.rows -= len(oldest)
            self.bytes -= sum(n for (n,) in oldest)
        if dropped:
            self.dropped_telemetry += dropped
        if self.dropped_telemetry != self._saved_dropped:
            self._db.execute(
                "update meta set value = ? where key = 'dropped_telemetry'",
                (self.dropped_telemetry,),
            )
            self._saved_dropped = self.dropped_telemetry
        if dropped:
            log.warning(
                "queue full (%d rows, %d bytes): dropped the %d oldest telemetry messages",
                self.rows, self.bytes, dropped,
            )  # fmt: skip

    def _rows_to_drop(self) -> int:
        if self.rows > self.max_rows:
            return min(self.rows - self.max_rows, _DROP_CHUNK)
        return 1

    def _count(self) -> tuple[int, int]:
        rows, nbytes = self._db.execute(
            "select count(*), coalesce(sum(length(payload)), 0) from outbox"
        ).fetchone()
        return int(rows), int(nbytes)

    def pending(self, lane: Lane, after_id: int, limit: int) -> list[Queued]:
        """Up to `limit` messages of `lane` stored after `after_id`, oldest first."""
        rows = self._db.execute(
            "select id, gseq, topic, payload from outbox where lane = ? and id > ? "
            "order by id limit ?",
            (int(lane), after_id, limit),
        ).fetchall()
        return [Queued(i, lane, g, t, p) for i, g, t, p in rows]

    def ack(self, ids: Iterable[int]) -> None:
        """Forget acknowledged messages; ids already dropped are ignored. On a full disk they
        stay (sent again after the next reconnect; ingest knows the repeat)."""
        ids = list(ids)
        try:
            self._ack(ids)
        except sqlite3.OperationalError as exc:
            if not _disk_full(exc):
                raise
            log.warning("the disk is full: %d acknowledged messages stay queued", len(ids))

    def _ack(self, ids: list[int]) -> None:
        db = self._db
        db.execute("begin immediate")
        try:
            removed = 0
            nbytes = 0
            for id_ in ids:
                row = db.execute(
                    "delete from outbox where id = ? returning length(payload)", (id_,)
                ).fetchone()
                if row is not None:
                    removed += 1
                    nbytes += row[0]
            db.execute("commit")
        except BaseException:
            with contextlib.suppress(sqlite3.OperationalError):
                db.execute("rollback")
            raise
        self.rows -= removed
        self.bytes -= nbytes

    def write(self, fn: Callable[[sqlite3.Connection], None]) -> None:
        """Run `fn` on the queue's database in one transaction (tables a bridge keeps beside
        its queue); from the queue's own thread only."""
        db = self._db
        db.execute("begin immediate")
        try:
            fn(db)
            db.execute("commit")
        except BaseException:
            with contextlib.suppress(sqlite3.OperationalError):
                db.execute("rollback")
            raise

    def close(self) -> None:
        self._db.close()
