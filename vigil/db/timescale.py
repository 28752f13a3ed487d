"""TimescaleDB edition handling: full features where the licence allows, a fallback elsewhere.

The Apache-2 edition (what `make setup` builds) lacks compression, continuous aggregates and
the job scheduler behind retention policies. There, `readings_1m` is a plain hypertable that
`maintain()` refreshes, and `maintain()` drops expired chunks itself and packs closed ones
(`vigil.db.packing`); readings stay as the narrow rows of migration 0022. With the community
edition (the compose stack's official image) the server's own policies do both (the rollup is
the continuous aggregate `reading_rows_1m`, by key, named by the view `readings_1m`) and
compress chunks of `reading_rows` older than a day.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from vigil.db.connect import Conn
from vigil.db.packing import pack_closed_chunks
from vigil.settings import Settings

log = logging.getLogger(__name__)

Edition = Literal["apache", "timescale"]

# Late data (a gateway replaying its queue) is folded into rollups up to this far back.
ROLLUP_LOOKBACK = timedelta(hours=2)

# Community edition: minutes per device key and metric code, made by the server, and the view
# that gives them their names (with the minutes kept from before migration 0022).
_CAGG = """
create materialized view if not exists reading_rows_1m with (timescaledb.continuous) as
select time_bucket('1 minute', time) as bucket, device, metric,
       min(value) as min, max(value) as max, avg(value::float8) as avg, count(*) as n,
       last(value, time) as last
from reading_rows group by bucket, device, metric
with no data
"""

_ROLLUP_BEFORE_0022 = """
create table if not exists readings_1m_0020 (
    bucket timestamptz not null, device_id text not null, metric text not null,
    min double precision not null, max double precision not null, avg double precision not null,
    n bigint not null, last double precision not null
)
"""

_ROLLUP_VIEW = """
create or replace view readings_1m as
select a.bucket, d.id as device_id, m.name as metric,
       round(a.min * m.scale) / m.scale as min, round(a.max * m.scale) / m.scale as max,
       a.avg, a.n, round(a.last * m.scale) / m.scale as last
from reading_rows_1m a join devices d on d.key = a.device join metrics m on m.code = a.metric
union all
select bucket, device_id, metric, min, max, avg, n, last from readings_1m_0020
"""

_ROLLUP_TABLE = """
create table if not exists readings_1m (
    bucket     timestamptz not null,
    device_id  text not null,
    metric     text not null,
    min        double precision not null,
    max        double precision not null,
    avg        double precision not null,
    n          bigint not null,
    last       double precision not null,
    primary key (device_id, metric, bucket)
)
"""

# Aggregated by key in the narrow table, the values at their metric's resolution (as the
# `readings` view reads them), then named.
_REFRESH_ROLLUP = """
insert into readings_1m (bucket, device_id, metric, min, max, avg, n, last)
select a.bucket, d.id, m.name, a.min, a.max, a.avg, a.n, a.last
from (
    select time_bucket('1 minute', r.time) as bucket, r.device, r.metric,
           min(v.value) as min, max(v.value) as max, avg(v.value) as avg, count(*) as n,
           last(v.value, r.time) as last
    from reading_rows r join metrics s on s.code = r.metric,
         lateral (select round(r.value * s.scale) / s.scale) as v(value)
    where r.time >= %(start)s and r.time < %(end)s
    group by 1, 2, 3
) a join devices d on d.key = a.device join metrics m on m.code = a.metric
on conflict (device_id, metric, bucket) do update set
    min = excluded.min, max = excluded.max, avg = excluded.avg, n = excluded.n, last = excluded.last
"""

# Compression (community edition): a chunk is compressed once it is older than this; segmented
# by device key and metric code, each segment's rows in time order. One series per segment:
# measured on a day of the simulator's 1,000-device district (`make bench-compression`),
# segmenting by device alone interleaves a frame's metrics in time order and a reading takes
# 11.1 bytes compressed; by device and metric, 5.96 (docs/performance.md, "Compression").
COMPRESS_AFTER = "1 day"


@dataclass(frozen=True)
class Retention:
    raw_days: int
    rollup_days: int
    # Whole messages are remembered this long for deduplication; ingest refuses older ones.
    dedup_days: int = 8


def retention_for(settings: Settings) -> Retention:
    """The retention the settings ask for; dedup memory outlasts the oldest message accepted."""
    return Retention(
        settings.raw_retention_days,
        settings.rollup_retention_days,
        math.ceil(settings.ingest_max_age_s / 86400) + 1,
    )


def detect_edition(conn: Conn) -> Edition:
    """Which licence the server runs: 'apache' (Apache-2 only) or 'timescale' (community)."""
    row = conn.execute("select current_setting('timescaledb.license', true)").fetchone()
    license_ = row[0] if row else None
    return "timescale" if license_ == "timescale" else "apache"


def plan(edition: Edition, retention: Retention) -> list[str]:
    """The idempotent statements that set up rollups and retention for an edition."""
    raw = f"interval '{int(retention.raw_days)} days'"
    rollup = f"interval '{int(retention.rollup_days)} days'"
    dedup = f"interval '{int(retention.dedup_days)} days'"
    if edition == "timescale":
        return [
            _CAGG,
            _ROLLUP_BEFORE_0022,
            _ROLLUP_VIEW,
            "select remove_continuous_aggregate_policy('reading_rows_1m', if_exists => true)",
            "select add_continuous_aggregate_policy('reading_rows_1m', start_offset => "
            "interval '1 day', end_offset => interval '1 minute', "
            "schedule_interval => interval '1 minute')",
            "alter table reading_rows set (timescaledb.compress, "
            "timescaledb.compress_segmentby = 'device, metric', "
            "timescaledb.compress_orderby = 'time desc')",
            "select remove_compression_policy('reading_rows', if_exists => true)",
            f"select add_compression_policy('reading_rows', interval '{COMPRESS_AFTER}')",
            "select remove_retention_policy('reading_rows', if_exists => true)",
            f"select add_retention_policy('reading_rows', {raw})",
            "select remove_retention_policy('reading_rows_1m', if_exists => true)",
            f"select add_retention_policy('reading_rows_1m', {rollup})",
            "select remove_retention_policy('device_events', if_exists => true)",
            f"select add_retention_policy('device_events', {rollup})",
            "select remove_retention_policy('ingested_messages', if_exists => true)",
            f"select add_retention_policy('ingested_messages', {dedup})",
        ]
    return [
        _ROLLUP_TABLE,
        "select create_hypertable('readings_1m', by_range('bucket', interval '30 days'), "
        "if_not_exists => true, migrate_data => true)",
        "create table if not exists rollup_watermark "
        "(name text primary key, upto timestamptz not null)",
    ]


def configure(conn: Conn, retention: Retention) -> Edition:
    """Detect the edition and apply its plan; safe to run at every migration."""
    edition = detect_edition(conn)
    with conn.transaction():
        for statement in plan(edition, retention):
            conn.execute(statement.encode())
    if edition == "timescale":
        log.info(
            "TimescaleDB community edition: chunks of reading_rows compressed after %s "
            "(segment by device and metric, order by time)",
            COMPRESS_AFTER,
        )
    else:
        log.info(
            "TimescaleDB Apache edition: no compression, readings stay as narrow rows; "
            "rollups and retention are refreshed by maintain()"
        )
    return edition


@dataclass(frozen=True)
class MaintenanceReport:
    edition: Edition
    rollup_from: datetime | None
    rollup_to: datetime | None
    dropped_chunks: int
    packed_indexes: int = 0


def maintain(conn: Conn, retention: Retention, now: datetime) -> MaintenanceReport:
    """The fallback's periodic job: refresh rollups, drop expired chunks, pack closed ones.

    Does nothing under the community edition, whose background jobs do the same (compression
    instead of packing). `conn` must be in autocommit (packing runs outside a transaction).
    """
    edition = detect_edition(conn)
    if edition == "timescale":
        return MaintenanceReport(edition, None, None, 0)
    end = now.replace(second=0, microsecond=0)
    with conn.transaction():
        row = conn.execute(
            "select upto from rollup_watermark where name = 'readings_1m' for update"
        ).fetchone()
        start = row[0] if row else end - timedelta(days=retention.rollup_days)
        start = min(start, end) - ROLLUP_LOOKBACK
        conn.execute(_REFRESH_ROLLUP, {"start": start, "end": end})
        conn.execute(
            "insert into rollup_watermark (name, upto) values ('readings_1m', %s) "
            "on conflict (name) do update set upto = excluded.upto",
            (end,),
        )
        dropped = 0
        for table, days in (
            ("reading_rows", retention.raw_days),
            ("readings_1m", retention.rollup_days),
            ("device_events", retention.rollup_days),
            ("ingested_messages", retention.dedup_days),
        ):
            cur = conn.execute(
                "select drop_chunks(%s::regclass, older_than => %s::timestamptz)",
                (table, now - timedelta(days=days)),
            )
            dropped += len(cur.fetchall())
    packed = pack_closed_chunks(conn, now)
    return MaintenanceReport(edition, start, end, dropped, packed)
