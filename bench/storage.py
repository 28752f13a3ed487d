"""`make bench-storage`: bytes per stored reading, table and indexes included.

Simulator-like telemetry (forty gateways of a hundred smoke detectors, three readings a frame)
goes through ingest's own commit path (`ingest.store.Store`: claims, deduplication, binary COPY)
into a fresh database: `--readings` into yesterday's chunk, then as many into today's. Each
chunk's size (heap, indexes, TOAST) over its rows is measured as ingested; then the
maintenance step packs the closed chunk (`vigil.db.packing`, what `maintain()` runs) and both
are measured again. The figures: the current chunk as ingested, the closed one after packing
(and before, the same run's baseline). One JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from bench.loadgen import GatewayStream, Layout, streams
from ingest.copy_binary import TABLE
from ingest.dedup import ReplayFilter
from ingest.registry import Registry
from ingest.store import Store
from ingest.validate import Checked, Window, check
from ingest.wire import parse
from vigil.db.packing import PACK_AFTER, pack_closed_chunks
from vigil.db.timescale import retention_for
from vigil.harness import scratch_database
from vigil.settings import get_settings
from vigil.stack import LocalStack

_WINDOW = Window(max_future_s=300, max_age_s=86400)
# Per chunk: whether it is the current one, its total size, its heap.
_CHUNKS = """
select format('%I.%I', chunk_schema, chunk_name), range_end > now(),
       pg_total_relation_size(format('%I.%I', chunk_schema, chunk_name)::regclass),
       pg_relation_size(format('%I.%I', chunk_schema, chunk_name)::regclass)
from timescaledb_information.chunks where hypertable_name = 'reading_rows'
"""


class Loader:
    """Ingest's store fed by the same gateway streams throughout, so sequence numbers and
    times only move forward (nothing is taken for a replay)."""

    def __init__(self, dsn: str) -> None:
        layout = Layout.make(f"s{uuid.uuid4().hex[:6]}", 40, 100)
        layout.provision(dsn)
        self.registry = Registry()
        with psycopg.connect(dsn, autocommit=True) as conn:
            self.registry.load(conn)
        self.gens: list[GatewayStream] = streams(layout)
        self.store = Store(dsn, self.registry, ReplayFilter())

    def load(self, readings: int, per_batch: int, start: datetime) -> int:
        """Commit `readings` from `start` on, a batch a minute of device time apart."""
        stored = 0
        batch_no = 0
        while stored < readings:
            batch: list[Checked] = []
            sent = start.timestamp() + 60 * batch_no
            for i in range(per_batch // 120):
                topic, payload, _ = self.gens[i % len(self.gens)].message(40, sent + i * 1e-4)
                # Checked as if received when sent: ingest would re-time a gateway clock it
                # finds ahead of its own, and the device times would not move a minute a batch.
                now = sent + i * 1e-4
                parsed = parse(topic, payload)
                batch.append(check(parsed, payload, self.registry.snapshot, _WINDOW, now))
            stored += self.store.commit(batch).readings
            batch_no += 1
        return stored

    def close(self) -> None:
        self.store.close()


@dataclass(frozen=True)
class Size:
    """A set of chunks: rows, bytes in all (heap, indexes, TOAST), bytes of heap."""

    rows: int = 0
    total: int = 0
    heap: int = 0

    def __add__(self, other: Size) -> Size:
        return Size(self.rows + other.rows, self.total + other.total, self.heap + other.heap)

    def figures(self, prefix: str) -> dict[str, float]:
        if not self.rows:
            raise SystemExit(f"no {prefix} rows were stored")
        return {
            f"{prefix}_readings": self.rows,
            f"{prefix}_bytes_per_reading": round(self.total / self.rows, 1),
            f"{prefix}_heap_bytes_per_reading": round(self.heap / self.rows, 1),
            f"{prefix}_index_bytes_per_reading": round((self.total - self.heap) / self.rows, 1),
        }


def measure(dsn: str) -> tuple[Size, Size]:
    """(the current chunk, the closed chunks), after VACUUM ANALYZE as a quiet hour would do."""
    hot, closed = Size(), Size()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"vacuum analyze {TABLE}".encode())
        for chunk, current, total, heap in conn.execute(_CHUNKS).fetchall():
            rows = conn.execute(f"select count(*) from {chunk}".encode()).fetchone()  # noqa: S608
            size = Size(int(rows[0]) if rows else 0, int(total), int(heap))
            if current:
                hot += size
            else:
                closed += size
    return hot, closed


def pack(dsn: str, today: datetime) -> tuple[int, float]:
    """Maintenance's packing of every closed chunk; (indexes packed, seconds)."""
    now = max(datetime.now(UTC), today + PACK_AFTER)  # as the pass an hour past midnight would
    started = time.monotonic()
    with psycopg.connect(dsn, autocommit=True) as conn:
        packed = pack_closed_chunks(conn, now, limit=100)
    return packed, round(time.monotonic() - started, 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readings", type=int, default=1_000_000, help="per chunk")
    parser.add_argument("--rows", type=int, default=20_000, help="readings per transaction")
    args = parser.parse_args(argv)
    settings = get_settings()
    stack = LocalStack(settings)
    stack.up()
    # Chunks are a UTC day (migration 0022): readings from 01:00 yesterday (the closed chunk),
    # then as many from 00:01 today (the current one), 51 minutes each by default.
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with scratch_database(stack, prefix="bench_storage", retention=retention_for(settings)) as dsn:
        loader = Loader(dsn)
        try:
            loader.load(args.readings, args.rows, today - timedelta(hours=23))
            loader.load(args.readings, args.rows, today + timedelta(minutes=1))
        finally:
            loader.close()
        _, closed_as_ingested = measure(dsn)
        packed, seconds = pack(dsn, today)
        hot, closed = measure(dsn)
    before = closed_as_ingested.figures("closed_as_ingested")
    result = {
        "readings": (hot + closed).rows,
        **hot.figures("hot"),
        **closed.figures("closed"),
        "closed_as_ingested_bytes_per_reading": before["closed_as_ingested_bytes_per_reading"],
        "closed_as_ingested_index_bytes_per_reading": before[
            "closed_as_ingested_index_bytes_per_reading"
        ],
        "packed_indexes": packed,
        "pack_s": seconds,
    }
    result["ratio"] = round(
        result["closed_as_ingested_bytes_per_reading"] / result["closed_bytes_per_reading"], 3
    )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
