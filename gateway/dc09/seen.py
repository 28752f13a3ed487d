"""Messages already taken in, on disk: a panel that got no ACK sends the same message again
(same account and sequence number, a new timestamp and, encrypted, new pad), and it must be
acknowledged without being raised twice — also after the receiver restarts.

Each message is written here with the Vigil sequence numbers and time given to its events
before they are handed on; a repeat after a crash in between sends exactly the same events again,
which ingest recognises (same device, time, sequence and kind). SQLite in WAL mode, like the
gateway's queue.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

KEEP_S = 24 * 3600.0  # a panel gives up repeating long before this

_SCHEMA = """
create table if not exists seen (
    key       text primary key,
    first_seq integer not null,
    count     integer not null,
    ts        real not null,
    done      integer not null default 0,
    at        real not null
);
create index if not exists seen_at on seen (at);
create table if not exists counters (device text primary key, next integer not null);
create table if not exists links_down (account text primary key, since real not null);
"""


def message_key(account: str, seq: str, token: str, data: str, xdata: dict[str, str]) -> str:
    """What makes a repeat a repeat: not the timestamp nor the pad, which a resend renews."""
    parts = [account, seq, token, data, *(f"{k}={v}" for k, v in sorted(xdata.items()))]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class Seen:
    first_seq: int
    count: int
    ts: float
    done: bool


class SeenStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("pragma journal_mode = wal")
        self._db.execute("pragma synchronous = normal")
        self._db.executescript(_SCHEMA)

    def get(self, key: str) -> Seen | None:
        row = self._db.execute(
            "select first_seq, count, ts, done from seen where key = ?", (key,)
        ).fetchone()
        return None if row is None else Seen(int(row[0]), int(row[1]), float(row[2]), bool(row[3]))

    def record(self, key: str, device: str, count: int, ts: float, now: float) -> Seen:
        """Give the message `count` sequence numbers of `device` and remember them."""
        db = self._db
        db.execute("begin immediate")
        try:
            row = db.execute("select next from counters where device = ?", (device,)).fetchone()
            first = 0 if row is None else int(row[0])
            db.execute(
                "insert into counters values (?, ?) on conflict (device) do update "
                "set next = excluded.next",
                (device, first + count),
            )
            db.execute(
                "insert or replace into seen (key, first_seq, count, ts, done, at) "
                "values (?, ?, ?, ?, 0, ?)",
                (key, first, count, ts, now),
            )
            db.execute("commit")
        except BaseException:
            db.execute("rollback")
            raise
        return Seen(first, count, ts, False)

    def next_seq(self, device: str) -> int:
        """One sequence number of `device` for an event the receiver makes itself."""
        db = self._db
        db.execute("begin immediate")
        try:
            row = db.execute("select next from counters where device = ?", (device,)).fetchone()
            value = 0 if row is None else int(row[0])
            db.execute(
                "insert into counters values (?, ?) on conflict (device) do update "
                "set next = excluded.next",
                (device, value + 1),
            )
            db.execute("commit")
        except BaseException:
            db.execute("rollback")
            raise
        return value

    def done(self, key: str) -> None:
        self._db.execute("update seen set done = 1 where key = ?", (key,))

    def set_down(self, account: str, down: bool, now: float) -> None:
        """Remember a link that is down across a restart (its return is then still reported)."""
        if down:
            self._db.execute("insert or replace into links_down values (?, ?)", (account, now))
        else:
            self._db.execute("delete from links_down where account = ?", (account,))

    def links_down(self) -> set[str]:
        return {str(r[0]) for r in self._db.execute("select account from links_down")}

    def forget_before(self, t: float) -> None:
        self._db.execute("delete from seen where at < ?", (t,))

    def close(self) -> None:
        self._db.close()
