"""`make bench-ingest-dedup`: what deduplication costs in the database, four ways, one run.

- `message`: ingest's way. Whole messages are claimed in `ingested_messages` in the batch's
  transaction, readings go in with binary COPY, and only readings not newer than their
  device's last committed one are looked up (none in a steady stream).
- `message_replays`: the same when every reading of every batch is a replay under new gateway
  sequence numbers, its worst case: each reading is looked up by the (device) index.
- `unique_index`: a unique index on (device, seq, metric, time) besides the same indexes;
  rows are COPYed into a temporary table and moved with INSERT … ON CONFLICT DO NOTHING (a COPY
  straight into the table would fail whole on the first repeat).
- `no_dedup`: binary COPY alone into a table with the same indexes, the floor.

The same batches go through each, three rounds on fresh databases; the last line is one JSON
object of medians in readings per second.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import psycopg
from msgspec.structs import replace as revise

from bench.loadgen import Layout, streams
from ingest.columns import Readings
from ingest.copy_binary import COLUMNS, encode_readings
from ingest.dedup import ReplayFilter
from ingest.registry import Registry
from ingest.store import Store
from ingest.validate import Checked, Window, check
from ingest.wire import parse
from vigil.codec import decode_telemetry, encode
from vigil.db.timescale import retention_for
from vigil.harness import scratch_database
from vigil.settings import Settings, get_settings
from vigil.stack import LocalStack

Batch = list[Checked]

# `including all` copies reading_rows' own indexes (its device B-tree and time BRIN), so each
# table pays what the real one does; no index of their own beyond the unique one measured.
_TABLES = """
create table readings_plain (like reading_rows including all);
select create_hypertable('readings_plain', by_range('time', interval '1 day'),
                         create_default_indexes => false);
create table readings_unique (like reading_rows including all);
select create_hypertable('readings_unique', by_range('time', interval '1 day'),
                         create_default_indexes => false);
create unique index on readings_unique (device, seq, metric, time);
"""
_INDEXES = """
select tablename, count(*) from pg_indexes
where tablename in ('reading_rows', 'readings_plain', 'readings_unique') group by tablename
"""
_MOVE = """
insert into readings_unique select * from staging
on conflict (device, seq, metric, time) do nothing
"""
_WINDOW = Window(max_future_s=300, max_age_s=86400)


@contextmanager
def dedup_database(stack: LocalStack, settings: Settings) -> Iterator[str]:
    with scratch_database(stack, prefix="bench_dedup", retention=retention_for(settings)) as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(_TABLES.encode())
            same_indexes(dict(conn.execute(_INDEXES.encode()).fetchall()))
        yield dsn


def same_indexes(counts: dict[str, int]) -> None:
    """The floor is the real table's cost: as many indexes (the unique table one more)."""
    real = counts["reading_rows"]
    if counts["readings_plain"] != real or counts["readings_unique"] != real + 1:
        raise RuntimeError(f"the floor's tables do not carry reading_rows' indexes: {counts}")


def _checked(registry: Registry, topic: str, payload: bytes, now: float) -> Checked:
    return check(parse(topic, payload), payload, registry.snapshot, _WINDOW, now)


def _batches(layout: Layout, registry: Registry, count: int, rows: int) -> list[Batch]:
    gens = streams(layout)
    start = time.time() - 3600
    out = []
    for b in range(count):
        batch = []
        for i in range(rows // 120):
            topic, payload, _ = gens[i % len(gens)].message(40, start + b + i * 1e-4)
            batch.append(_checked(registry, topic, payload, start))
        out.append(batch)
    return out


def _replayed(batch: Batch, registry: Registry) -> Batch:
    """The same readings again, each message under a new gateway sequence number."""
    again = []
    for m in batch:
        original = decode_telemetry(m.payload)
        payload = encode(revise(original, gseq=original.gseq + 10_000_000))
        again.append(_checked(registry, m.topic, payload, original.sent))
    return again


def _copier(dsn: str, registry: Registry, unique: bool) -> Callable[[Batch], object]:
    conn = psycopg.connect(dsn, autocommit=True)
    target = "staging" if unique else "readings_plain"

    def write(batch: Batch) -> None:
        rows = Readings.concat([m.readings for m in batch])
        snapshot = registry.snapshot
        rows = rows.take(np.lexsort((rows.ts, snapshot.device_key[rows.device])))  # as Store does
        data = encode_readings(rows, snapshot.device_key)
        with conn.transaction(), conn.cursor() as cur:
            if unique:
                cur.execute("create temporary table staging (like reading_rows) on commit drop")
            with cur.copy(f"copy {target} ({COLUMNS}) from stdin (format binary)") as copy:
                copy.write(data.data)
            if unique:
                cur.execute(_MOVE)

    return write


def _rate(write: Callable[[Batch], object], batches: list[Batch]) -> float:
    write(batches[0])  # warm up: chunk created, devices seen
    rows = sum(len(m.readings) for b in batches[1:] for m in b)
    started = time.perf_counter()
    for batch in batches[1:]:
        write(batch)
    return rows / (time.perf_counter() - started)


def _round(dsn: str, count: int, rows: int, rotate: int) -> dict[str, float]:
    """One round on a fresh database; the order of the ways rotates from round to round."""
    layout = Layout.make(f"d{uuid.uuid4().hex[:6]}", 40, 100)
    layout.provision(dsn)
    registry = Registry()
    with psycopg.connect(dsn, autocommit=True) as conn:
        registry.load(conn)
    batches = _batches(layout, registry, count, rows)
    store = Store(dsn, registry, ReplayFilter())
    rates: dict[str, float] = {}

    def ours() -> None:
        rates["message"] = _rate(store.commit, batches)
        replays = [_replayed(b, registry) for b in batches]
        rates["message_replays"] = _rate(store.commit, replays)

    def unique() -> None:
        rates["unique_index"] = _rate(_copier(dsn, registry, unique=True), batches)

    def floor() -> None:
        rates["no_dedup"] = _rate(_copier(dsn, registry, unique=False), batches)

    ways = [ours, unique, floor]
    for way in ways[rotate % 3 :] + ways[: rotate % 3]:
        way()
    store.close()
    return rates


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=11)
    parser.add_argument("--rows", type=int, default=20_000, help="readings per transaction")
    args = parser.parse_args(argv)
    settings = get_settings()
    stack = LocalStack(settings)
    stack.up()
    results: dict[str, list[float]] = {}
    for round_ in range(3):
        with dedup_database(stack, settings) as dsn:
            rates = _round(dsn, args.batches, args.rows, round_)
        for name, rate in rates.items():
            results.setdefault(name, []).append(rate)
    report: dict[str, float] = {k: round(statistics.median(v)) for k, v in results.items()}
    report["message_over_unique_index"] = round(report["message"] / report["unique_index"], 2)
    report["message_over_no_dedup"] = round(report["message"] / report["no_dedup"], 2)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
