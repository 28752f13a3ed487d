"""`make bench-compression`: bytes per reading after the community edition's compression.

A day of the simulator's district (`firmware_sim`, scenarios included) is decoded and batched as
its gateways do (`vigil.frames`, `gateway.batcher`), checked and committed by ingest's own commit
path (`ingest.store.Store`) into the local stack's PostgreSQL (Apache edition: the narrow row
alone is measured there), then exported and loaded into PGlite with TimescaleDB's community
edition (bench/pglite_session.py), where the product's migrations and `plan("timescale")` set
the table up and the compression policy's job compresses the day's chunk. Reported: bytes per
reading before and after, the ratio, and whether the product's queries read back the same rows
from the compressed chunk. One JSON line.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench import pglite_session as pglite
from bench.storage import measure
from firmware_sim.district import District, Gateway, build_district, seed
from firmware_sim.link import GatewayLink
from firmware_sim.runner import RunConfig, Runner
from gateway.batcher import TelemetryBatcher
from ingest.copy_binary import COLUMNS, PG_EPOCH_S, TABLE
from ingest.dedup import REPEAT_WINDOW_S, ReplayFilter
from ingest.detection.catchup import _ROWS as CATCH_UP
from ingest.registry import Registry
from ingest.store import _STORED_READINGS, Store
from ingest.validate import Checked, Window, check
from ingest.wire import parse
from vigil.codec import Encoding, TelemetryBatch, encode
from vigil.db.timescale import plan, retention_for
from vigil.frames import decode_frame
from vigil.harness import scratch_database
from vigil.settings import get_settings
from vigil.stack import LocalStack
from vigil.topics import Topic

DAY_S = 86_400
# A frame reaches its gateway this long after the device stamped it (radio and socket): under
# the 10 ms unit of `rx_cs`, so stored as 0, as at the simulator's real-time pace.
RX_DELAY_S = 0.002
# Readings per message: a gateway's full batch. Message size changes the messages table, not
# the readings' rows; full batches keep the commit path's per-message work small.
PER_MESSAGE = 500
PER_COMMIT = 40  # messages per transaction: 20,000 readings, as bench-storage
_WINDOW = Window(max_future_s=300, max_age_s=DAY_S)
WINDOW_US = round(REPEAT_WINDOW_S * 1_000_000)
SAMPLE = 2000  # readings looked up again by ingest's dedup query

Message = tuple[str, bytes, float]

_EXPORT = (
    "copy (select time, device, value, seq, metric, rx_cs from reading_rows) to stdout (format csv)"
)
# Readings ingest's dedup query looks up again: key, microseconds since 2000, seq, metric code.
_SAMPLE = """
select device, (extract(epoch from time) * 1e6)::int8 - %s, seq, metric
from reading_rows order by random() limit %s
"""
_ENGINE = """
select version() as pg, current_setting('timescaledb.license') as license,
       (select extversion from pg_extension where extname = 'timescaledb') as timescaledb,
       (select count(*) from reading_rows) as readings
"""


class _GatewayIntake(GatewayLink):
    """A gateway's socket replaced by what the gateway does with a frame: decode and batch."""

    def __init__(self, gateway: Gateway, out: list[Message]) -> None:
        super().__init__(gateway.id, Path(f"/nonexistent/{gateway.id}.sock"))
        self.topic = str(Topic.telemetry(gateway.site_id, gateway.id))
        self.batcher = TelemetryBatcher(PER_MESSAGE, DAY_S)
        self.gseq = 0
        self.out = out

    def connect(self, timeout_s: float = 0.0) -> None:
        """Nothing to connect to."""

    def send(self, packets: list[bytes]) -> None:
        for packet in packets:
            frame = decode_frame(packet)
            self.batcher.add(frame, frame.ts + RX_DELAY_S, frame.ts)
            if len(self.batcher) >= PER_MESSAGE:
                self.close()
        self.frames += len(packets)
        self.bytes += sum(map(len, packets))

    def close(self) -> None:
        """Send what is batched (also at the end of the run)."""
        c = self.batcher.take()
        if not len(c):
            return
        self.gseq += 1
        batch = TelemetryBatch(
            gw=self.gateway_id, gseq=self.gseq, sent=c.rx[-1],
            dev=c.dev, seq=c.seq, ts=c.ts, rx=c.rx, metric=c.metric, value=c.value,
        )  # fmt: skip
        self.out.append((self.topic, encode(batch, Encoding.MSGPACK), c.rx[-1]))


def simulate(district: District, start: float, seed_: int) -> tuple[list[Message], int]:
    """A day of the district's telemetry as its gateways publish it, and the frames sent."""
    out: list[Message] = []
    links: dict[str, GatewayLink] = {g.id: _GatewayIntake(g, out) for g in district.gateways}
    config = RunConfig(seed=seed_, speed=0, duration_s=DAY_S, sim_start=start)
    stats = Runner(district, config, links, io.StringIO()).run()
    for link in links.values():
        link.close()
    return out, stats.frames


def store(dsn: str, messages: Sequence[Message]) -> dict[str, int]:
    """Commit the messages through ingest's store, PER_COMMIT a transaction."""
    registry = Registry()
    with psycopg.connect(dsn, autocommit=True) as conn:
        registry.load(conn)
    committer = Store(dsn, registry, ReplayFilter())
    stored = dead = 0
    for i in range(0, len(messages), PER_COMMIT):
        batch: list[Checked] = [
            check(parse(topic, payload), payload, registry.snapshot, _WINDOW, sent + 0.01)
            for topic, payload, sent in messages[i : i + PER_COMMIT]
        ]
        outcome = committer.commit(batch)
        stored += outcome.readings
        dead += sum(outcome.dead_items.values())
    committer.close()
    return {"stored_readings": stored, "dead_lettered": dead}


def export(dsn: str, csv: Path) -> dict[str, list[Any]]:
    """The stored rows as CSV, and the registry rows the product's queries join them with."""
    with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("set timezone = 'UTC'")
        with csv.open("wb") as f, cur.copy(_EXPORT) as copy:
            for data in copy:
                f.write(data)
        sites = cur.execute("select id, name from sites order by id").fetchall()
        gateways = cur.execute("select id, site_id, mqtt_username from gateways").fetchall()
        devices = cur.execute("select key, id, device_type, gateway_id from devices").fetchall()
        sample = cur.execute(_SAMPLE, (PG_EPOCH_S * 1_000_000, SAMPLE)).fetchall()
    return {
        "sites": [list(c) for c in zip(*sites, strict=True)],
        "gateways": [list(c) for c in zip(*gateways, strict=True)],
        "devices": [list(c) for c in zip(*devices, strict=True)],
        "sample": [[int(str(v)) for v in c] for c in zip(*sample, strict=True)],
    }


def _registry_steps(rows: dict[str, list[Any]]) -> list[dict[str, Any]]:
    step = pglite.step
    return [
        step("insert into sites (id, name) select * from unnest(%s::text[], %s::text[])",
             rows["sites"]),
        step("insert into gateways (id, site_id, mqtt_username) "
             "select * from unnest(%s::text[], %s::text[], %s::text[])", rows["gateways"]),
        step("insert into devices (key, id, device_type, gateway_id) overriding system value "
             "select * from unnest(%s::int4[], %s::text[], %s::text[], %s::text[])",
             rows["devices"]),
    ]  # fmt: skip


def _reads(rows: dict[str, list[Any]], start: datetime) -> dict[str, dict[str, Any]]:
    """The product's reads of the day, named: through the view, the catch-up, ingest's dedup."""
    device = rows["devices"][1][0]
    keys, micros, seqs, metrics = rows["sample"]
    never = [s ^ 0x40000000 for s in seqs[:100]]  # the same readings under seqs never sent
    return {
        "view_device_day": pglite.step(
            "select time, device_id, metric, value, seq, gateway_ts from readings "
            "where device_id = %s and time >= %s and time < %s order by time, metric",
            [device, start.isoformat(), (start + timedelta(days=1)).isoformat()],
        ),
        "view_hour_all_devices": pglite.step(
            "select device_id, metric, count(*), min(value), max(value), max(gateway_ts) "
            "from readings where time >= %s and time < %s group by 1, 2 order by 1, 2",
            [(start + timedelta(hours=12)).isoformat(), (start + timedelta(hours=13)).isoformat()],
        ),
        "detector_catch_up": pglite.step(
            CATCH_UP,
            {"since": (start + timedelta(hours=23)).timestamp(), "sites": None, "metrics": []},
        ),
        "ingest_stored_already": pglite.step(
            _STORED_READINGS,
            [
                keys + keys[:100],
                micros + micros[:100],
                seqs + never,
                metrics + metrics[:100],
                WINDOW_US,
                WINDOW_US,
                min(micros) - WINDOW_US,
                max(micros) + WINDOW_US,
            ],
        ),
        "keyed_totals": pglite.step(
            "select device, metric, count(*), min(value), max(value), sum(seq::int8), "
            "sum(rx_cs::int8), min(time), max(time) from reading_rows group by 1, 2 order by 1, 2"
        ),
    }


# The compression policy the plan added, run as the scheduler runs it (PGlite has no workers).
RUN_COMPRESSION_POLICY = """
do $$
declare job integer;
begin
    select job_id into job from timescaledb_information.jobs
    where proc_name = 'policy_compression' and hypertable_name = 'reading_rows';
    call run_job(job);
end $$
"""
_UNCOMPRESSED_SIZE = """
select count(*) as chunks, sum(pg_total_relation_size(format('%%I.%%I', chunk_schema,
       chunk_name)::regclass))::int8 as bytes
from timescaledb_information.chunks where hypertable_name = 'reading_rows'
"""
_COMPRESSION_STATS = """
select count(*) as chunks, sum(before_compression_total_bytes)::int8 as before,
       sum(after_compression_total_bytes)::int8 as after,
       sum(after_compression_table_bytes)::int8 as after_table,
       sum(after_compression_index_bytes)::int8 as after_index,
       sum(after_compression_toast_bytes)::int8 as after_toast
from chunk_compression_stats('reading_rows') where compression_status = 'Compressed'
"""


def compress(csv: Path, rows: dict[str, list[Any]], start: datetime) -> dict[str, Any]:
    """Load the rows into PGlite+TimescaleDB, run the product's plan and its compression policy."""
    settings = get_settings()
    reads = _reads(rows, start)
    head = [
        *pglite.schema(),
        *(pglite.step(s) for s in plan("timescale", retention_for(settings))),
        *_registry_steps(rows),
        pglite.copy_from(f"{TABLE} ({COLUMNS})", csv),
        pglite.step("vacuum analyze reading_rows"),
        pglite.step(_ENGINE),
        pglite.step(_UNCOMPRESSED_SIZE),
        *reads.values(),
        pglite.step(RUN_COMPRESSION_POLICY),
        pglite.step(_COMPRESSION_STATS),
        pglite.step("select hypertable_size('reading_rows') as bytes"),
        *reads.values(),
    ]  # fmt: skip
    t0 = time.monotonic()
    results = pglite.run(head, timeout_s=3600)
    n = len(reads)
    tail = results[-(2 * n + 5) :]  # info, raw size, reads, compress, stats, size, reads
    (info,), (raw,) = tail[0], tail[1]
    before, after = tail[2 : 2 + n], tail[-n:]
    (stats,), (size,) = tail[n + 3], tail[n + 4]
    return {
        "info": info, "raw": raw, "stats": stats, "size": size,
        "before": dict(zip(reads, before, strict=True)),
        "after": dict(zip(reads, after, strict=True)),
        "pglite_s": round(time.monotonic() - t0, 1),
        "sampled": len(rows["sample"][0]),
    }  # fmt: skip


def _same(before: list[dict[str, Any]], after: list[dict[str, Any]], ordered: bool) -> bool:
    if ordered:
        return before == after
    return sorted(map(json.dumps, before)) == sorted(map(json.dumps, after))


def report(
    apache: dict[str, float], done: dict[str, Any], stored: dict[str, int]
) -> dict[str, Any]:
    n = int(done["info"]["readings"])
    stats = done["stats"]
    return {
        "readings": n,
        "stored_readings": stored["stored_readings"],
        "dead_lettered": stored["dead_lettered"],
        "apache_bytes_per_reading": apache["apache_bytes_per_reading"],
        "pglite_uncompressed_bytes_per_reading": round(int(done["raw"]["bytes"]) / n, 1),
        "compressed_bytes_per_reading": round(int(stats["after"]) / n, 2),
        "compressed_table_index_toast_bytes": [
            int(stats["after_table"]), int(stats["after_index"]), int(stats["after_toast"])],
        "hypertable_bytes_per_reading_after": round(int(done["size"]["bytes"]) / n, 2),
        "ratio": round(int(stats["before"]) / int(stats["after"]), 1),
        "compressed_chunks": int(stats["chunks"]),
        "queries_same": {
            name: _same(rows, done["after"][name], name != "detector_catch_up")
            for name, rows in done["before"].items()
        },
        "query_rows": {name: len(rows) for name, rows in done["before"].items()},
        # The look-up asks for the sampled stored readings, then 100 never sent: it finds the first.
        "dedup_found_exactly_the_stored": sorted(
            int(r["?column?"]) for r in done["after"]["ingest_stored_already"]
        )
        == list(range(done["sampled"])),
        "engine": {
            "package": f"{pglite.PACKAGE_NAME}@{pglite.package_version()}",
            "postgresql": str(done["info"]["pg"]).split(" on ")[0],
            "timescaledb": done["info"]["timescaledb"],
            "license": done["info"]["license"],
        },
        "pglite_s": done["pglite_s"],
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gateways", type=int, default=10)
    parser.add_argument("--devices-per-gateway", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    why = pglite.missing()
    if why is not None:
        raise SystemExit(f"bench-compression: {why}")
    # The day two days back, whole in one daily chunk, older than a day for the policy.
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    district = build_district(args.seed, args.gateways, args.devices_per_gateway)
    t0 = time.monotonic()
    messages, frames = simulate(district, day.timestamp(), args.seed)
    sim_s = time.monotonic() - t0
    settings = get_settings()
    stack = LocalStack(settings)
    stack.up()
    with (
        scratch_database(stack, prefix="bench_compress", retention=retention_for(settings)) as dsn,
        tempfile.TemporaryDirectory() as tmp,
    ):
        with psycopg.connect(dsn, autocommit=True) as conn:
            seed(conn, district)
        stored = store(dsn, messages)
        hot, closed = measure(dsn)  # the day is in a closed chunk, as ingested (not packed)
        apache = (hot + closed).figures("apache")
        csv = Path(tmp) / "reading_rows.csv"
        rows = export(dsn, csv)
        done = compress(csv, rows, day)
    result = report(apache, done, stored)
    result |= {
        "district": f"{len(district.gateways)} gateways, {len(district.devices)} devices",
        "frames": frames,
        "simulate_s": round(sim_s, 1),
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
