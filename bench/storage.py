"""`make bench-storage`: bytes per stored reading, table and indexes included.

Simulator-like telemetry (forty gateways of a hundred smoke detectors, three readings a frame)
goes through ingest's own commit path (`ingest.store.Store`: claims, deduplication, binary COPY)
into a fresh database; the figure is the size of the readings hypertable's chunks, with their
indexes and TOAST, over the rows stored. One JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid

import psycopg

from bench.loadgen import Layout, streams
from ingest.copy_binary import TABLE
from ingest.dedup import ReplayFilter
from ingest.registry import Registry
from ingest.store import Store
from ingest.validate import Checked, Window, check
from ingest.wire import parse
from vigil.db.timescale import retention_for
from vigil.harness import scratch_database
from vigil.settings import get_settings
from vigil.stack import LocalStack

_WINDOW = Window(max_future_s=300, max_age_s=86400)
_SIZE = """
select count(*) as chunks, coalesce(sum(pg_total_relation_size(
           format('%%I.%%I', chunk_schema, chunk_name)::regclass)), 0)::int8,
       coalesce(sum(pg_relation_size(format('%%I.%%I', chunk_schema, chunk_name)::regclass)),
                0)::int8
from timescaledb_information.chunks where hypertable_name = %s
"""


def load(dsn: str, readings: int, per_batch: int) -> int:
    """Commit `readings` through ingest's store, a batch a minute of device time apart."""
    layout = Layout.make(f"s{uuid.uuid4().hex[:6]}", 40, 100)
    layout.provision(dsn)
    registry = Registry()
    with psycopg.connect(dsn, autocommit=True) as conn:
        registry.load(conn)
    gens = streams(layout)
    store = Store(dsn, registry, ReplayFilter())
    start = time.time() - 2 * 3600
    stored = 0
    batch_no = 0
    while stored < readings:
        batch: list[Checked] = []
        sent = start + 60 * batch_no
        for i in range(per_batch // 120):
            topic, payload, _ = gens[i % len(gens)].message(40, sent + i * 1e-4)
            # Checked as if received when sent: ingest would re-time a gateway clock it
            # finds ahead of its own, and the device times would not move a minute a batch.
            now = sent + i * 1e-4
            batch.append(check(parse(topic, payload), payload, registry.snapshot, _WINDOW, now))
        stored += store.commit(batch).readings
        batch_no += 1
    store.close()
    return stored


def measure(dsn: str) -> dict[str, float]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"vacuum analyze {TABLE}".encode())
        size = conn.execute(_SIZE, (TABLE,)).fetchone()
        rows = conn.execute(f"select count(*) from {TABLE}".encode()).fetchone()  # noqa: S608
    if rows is None or size is None or not rows[0]:
        raise SystemExit("nothing was stored")
    n = int(rows[0])
    return {
        "readings": n,
        "chunks": int(size[0]),
        "bytes_per_reading": round(int(size[1]) / n, 1),
        "heap_bytes_per_reading": round(int(size[2]) / n, 1),
        "index_bytes_per_reading": round((int(size[1]) - int(size[2])) / n, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readings", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=20_000, help="readings per transaction")
    args = parser.parse_args(argv)
    settings = get_settings()
    stack = LocalStack(settings)
    stack.up()
    with scratch_database(stack, prefix="bench_storage", retention=retention_for(settings)) as dsn:
        load(dsn, args.readings, args.rows)
        print(json.dumps(measure(dsn)), flush=True)


if __name__ == "__main__":
    main()
