"""The community edition's plan executed for real: TimescaleDB's TSL compression in PGlite.

No community-edition server runs here (`make setup` builds the Apache edition; no container
engine for the compose image), so the product's migrations and `plan("timescale")` run in
PGlite's WASM build of PostgreSQL with TimescaleDB (bench/pglite_session.py), and the
compression policy the plan adds is run as its job would run it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench import pglite_session as pglite
from bench.compression import RUN_COMPRESSION_POLICY
from ingest.dedup import REPEAT_WINDOW_S
from ingest.detection.catchup import _ROWS as CATCH_UP
from ingest.store import _STORED_READINGS
from vigil.db.timescale import Retention, plan

RETENTION = Retention(raw_days=30, rollup_days=730)
WINDOW_US = round(REPEAT_WINDOW_S * 1_000_000)
EPOCH_2000 = datetime(2000, 1, 1, tzinfo=UTC)
DEVICES = [11, 12, 13]

pytestmark = pytest.mark.skipif(
    pglite.missing() is not None, reason=f"PGlite with TimescaleDB: {pglite.missing()}"
)

# Three days of smoke-detector frames a minute apart, the last one at the parameter (10 minutes
# ago), values at each metric's resolution: the first two days' chunks are older than a day.
_READINGS = """
insert into reading_rows (time, device, value, seq, metric, rx_cs)
select %s::timestamptz - i * interval '1 minute',
       d, round(v.value * m.scale) / m.scale, 100000 - i, m.code, (i % 7)::smallint
from generate_series(0, 3 * 1440) i, unnest(%s::int4[]) d, metrics m,
     lateral (select case m.name when 'temperature' then 21 + (i % 97) / 10.0
                                 when 'battery' then 3.0 - i / 1e5
                                 else 0.1 + (i * d % 13) / 100.0 end) v(value)
where m.name in ('smoke_obscuration', 'temperature', 'battery')
"""

# What the product reads back: one device's day through the readable view, every row by key,
# the detectors' catch-up and ingest's check for readings stored already (their own SQL).
_VIEW_DAY = (
    "select time, device_id, metric, value, seq, gateway_ts from readings "
    "where device_id = 'sd-12' and time > %s::timestamptz - interval '2 days' "
    "and time <= %s::timestamptz - interval '1 day' order by time, metric"
)
_KEYED = (
    "select r.device, m.name, count(*), min(r.value), max(r.value), sum(r.seq::int8), "
    "max(r.time) from reading_rows r join metrics m on m.code = r.metric "
    "group by 1, 2 order by 1, 2"
)
_CHUNKS = (
    "select range_end <= now() - interval '1 day' as old, is_compressed "
    "from timescaledb_information.chunks where hypertable_name = 'reading_rows' "
    "order by range_start"
)


def _stored_already(last: datetime) -> dict[str, Any]:
    """Ingest's look-up for a frame of device 12 replayed from 36 hours ago (codes 0, 1, 3:
    smoke, temperature, battery), and a reading of the same time whose seq was never stored."""
    us = round((last - timedelta(hours=36) - EPOCH_2000).total_seconds() * 1e6)
    return pglite.step(
        _STORED_READINGS,
        [
            [12, 12, 12, 12],
            [us, us, us, us],
            [100000 - 36 * 60] * 3 + [7],
            [0, 1, 3, 0],
            WINDOW_US,
            WINDOW_US,
            us - WINDOW_US,
            us + WINDOW_US,
        ],
    )


def test_the_community_plan_compresses_day_old_chunks_and_reads_back_the_same_rows() -> None:
    last = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    setup = [
        *pglite.schema(),
        *(pglite.step(s) for s in plan("timescale", RETENTION)),
        pglite.step("insert into sites (id, name) values ('s1', 'site')"),
        pglite.step("insert into gateways (id, site_id, mqtt_username) values ('g1', 's1', 'g1')"),
        pglite.step(
            "insert into devices (key, id, device_type, gateway_id) overriding system value "
            "select k, 'sd-' || k, 'smoke', 'g1' from unnest(%s::int4[]) k",
            [DEVICES],
        ),
        pglite.step(_READINGS, [last.isoformat(), DEVICES]),
    ]
    reads = [
        pglite.step(_VIEW_DAY, [last.isoformat()] * 2),
        pglite.step(_KEYED),
        pglite.step(
            CATCH_UP,
            {"since": (last - timedelta(hours=30)).timestamp(), "sites": None, "metrics": []},
        ),
        _stored_already(last),
    ]
    results = pglite.run(
        [
            *setup,
            pglite.step("select current_setting('timescaledb.license') as license"),
            *reads,
            pglite.step(RUN_COMPRESSION_POLICY),
            pglite.step(_CHUNKS),
            pglite.step(
                "select segmentby_column_index, orderby_column_index, orderby_asc, attname "
                "from timescaledb_information.compression_settings "
                "where hypertable_name = 'reading_rows' order by attname"
            ),
            pglite.step(
                "select sum(before_compression_total_bytes)::int8 as before, "
                "sum(after_compression_total_bytes)::int8 as after "
                "from chunk_compression_stats('reading_rows') "
                "where compression_status = 'Compressed'"
            ),
            *reads,
        ]
    )
    after = results[len(setup) :]
    license_, view_b, keyed_b, catch_up_b, dedup_b, _, chunks, settings, sizes = after[:9]
    view_a, keyed_a, catch_up_a, dedup_a = after[9:]
    assert license_ == [{"license": "timescale"}]
    # Older than a day: compressed by the product's own policy; the last day: left as rows.
    assert [c["old"] for c in chunks].count(True) >= 2
    assert [c["is_compressed"] for c in chunks] == [c["old"] for c in chunks]
    segments = {s["attname"]: s["segmentby_column_index"] for s in settings}
    assert {"device": 1, "metric": 2}.items() <= segments.items()
    assert [
        (s["attname"], s["orderby_column_index"], s["orderby_asc"])
        for s in settings
        if s["orderby_column_index"]
    ] == [("time", 1, False)]
    assert int(sizes[0]["after"]) * 2 < int(sizes[0]["before"])  # tiny chunks: pages dominate
    assert len(view_b) == 3 * 1440
    assert view_a == view_b
    assert len(keyed_b) == 9
    assert keyed_a == keyed_b
    # Rows of equal (rx, us) come in either order, compressed or not.
    assert len(catch_up_b) == 30 * 60 * 9
    assert sorted(map(str, catch_up_a)) == sorted(map(str, catch_up_b))
    # Ingest still finds the three readings of the replayed frame, and only those.
    assert dedup_b == dedup_a == [{"?column?": 0}, {"?column?": 1}, {"?column?": 2}]
