"""Closed chunks of `reading_rows` get their B-tree rebuilt full (Apache edition's maintenance).

While a chunk takes rows, every device's entries in the `device` B-tree grow at once, so leaf
pages split in the middle and stay about 70 % full: 8.5 bytes a reading where a full page holds
6. Once a chunk's time range is over (and PACK_AFTER more, for stragglers) it only gets late
readings, a gateway replaying its queue, so its B-trees are rebuilt at fillfactor 100 with
REINDEX CONCURRENTLY: ingest goes on writing late rows and the console and the dedup look-up go
on reading while it runs (it only waits for transactions already running on the chunk). Late
rows that come after split a page here and there; they are few.

A comment on the rebuilt index marks it done, so a pass does nothing twice. A rebuild cut short
(a crash, a cancel) leaves the old index valid and an invalid `…_ccnew` (or, after the swap,
`…_ccold`) beside it, which the next pass drops. The community edition compresses such chunks
instead (`vigil.db.timescale`). Runs in autocommit: REINDEX CONCURRENTLY cannot run in a
transaction block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg import sql

from vigil.db.connect import Conn

# A chunk is packed this long after its range ended: a gateway's in-flight batches have landed.
PACK_AFTER = timedelta(hours=1)
# One chunk a pass, so a first pass over months of history does not hold maintenance up for long.
PACK_PER_PASS = 1
MARK = "vigil: packed at fillfactor 100"
_LOCK_KEY = 0x5649504B  # "VIPK": one session packs at a time

# The B-trees of `reading_rows`' chunks: where each is, when its chunk's range ends, whether it
# is valid, whether it is packed.
_CHUNK_BTREES = """
select n.nspname, x.relname, c.range_end, i.indisvalid,
       coalesce(obj_description(x.oid, 'pg_class'), '') like %(mark)s || '%%'
from timescaledb_information.chunks c
join pg_index i on i.indrelid = format('%%I.%%I', c.chunk_schema, c.chunk_name)::regclass
join pg_class x on x.oid = i.indexrelid
join pg_namespace n on n.oid = x.relnamespace
join pg_am a on a.oid = x.relam
where c.hypertable_name = 'reading_rows' and a.amname = 'btree'
order by c.range_end desc, x.relname
"""
# What REINDEX CONCURRENTLY names the index it builds, and the old one once swapped.
_TRANSIENT = re.compile(r"_cc(new|old)[0-9]*$")


@dataclass(frozen=True)
class ChunkIndex:
    schema: str
    name: str
    range_end: datetime
    valid: bool
    packed: bool

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)


def chunk_btrees(conn: Conn) -> list[ChunkIndex]:
    """Every B-tree of `reading_rows`' chunks, the newest chunks first."""
    return [ChunkIndex(*row) for row in conn.execute(_CHUNK_BTREES, {"mark": MARK}).fetchall()]


def drop_leftovers(conn: Conn) -> int:
    """Drop the invalid indexes that a cut-short REINDEX CONCURRENTLY left on chunks (under the
    packing lock: a running rebuild's index is invalid too)."""
    left = [i for i in chunk_btrees(conn) if not i.valid and _TRANSIENT.search(i.name)]
    for index in left:
        conn.execute(sql.SQL("drop index concurrently if exists {}").format(index.ident))
    return len(left)


def pack_closed_chunks(conn: Conn, now: datetime, limit: int = PACK_PER_PASS) -> int:
    """Rebuild at fillfactor 100 up to `limit` unpacked B-trees of closed chunks, the newest
    chunks first; how many were rebuilt (none while another session packs: its rebuild's
    transient index must not be taken for a leftover). `conn` must be in autocommit."""
    row = conn.execute("select pg_try_advisory_lock(%s)", (_LOCK_KEY,)).fetchone()
    if not row or not row[0]:
        return 0
    try:
        return _pack(conn, now, limit)
    finally:
        conn.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))


def _pack(conn: Conn, now: datetime, limit: int) -> int:
    drop_leftovers(conn)
    closed_before = now - PACK_AFTER
    todo = [
        i for i in chunk_btrees(conn) if i.valid and not i.packed and i.range_end <= closed_before
    ][:limit]
    for index in todo:
        conn.execute(sql.SQL("alter index {} set (fillfactor = 100)").format(index.ident))
        conn.execute(sql.SQL("reindex index concurrently {}").format(index.ident))
        note = sql.Literal(f"{MARK} ({now.isoformat(timespec='minutes')})")
        conn.execute(sql.SQL("comment on index {} is {}").format(index.ident, note))
    return len(todo)
