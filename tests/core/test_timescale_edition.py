"""TimescaleDB edition: full features where the licence allows, the fallback elsewhere."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from vigil.db.migrate import migrate
from vigil.db.timescale import Retention, configure, detect_edition, maintain, plan

pytestmark = pytest.mark.stack
RETENTION = Retention(raw_days=30, rollup_days=730)


def test_full_edition_plan_uses_the_servers_own_features() -> None:
    statements = " ".join(plan("timescale", RETENTION))
    assert "timescaledb.continuous" in statements
    assert "add_retention_policy('reading_rows', interval '30 days')" in statements
    assert "add_retention_policy('reading_rows_1m', interval '730 days')" in statements


def test_full_edition_compresses_chunks_older_than_a_day_by_series_in_time_order() -> None:
    statements = plan("timescale", RETENTION)
    assert (
        "alter table reading_rows set (timescaledb.compress, "
        "timescaledb.compress_segmentby = 'device, metric', "
        "timescaledb.compress_orderby = 'time desc')"
    ) in statements
    assert "select add_compression_policy('reading_rows', interval '1 day')" in statements


def test_apache_plan_needs_no_licensed_feature() -> None:
    statements = " ".join(plan("apache", RETENTION))
    for licensed in ("continuous", "add_retention_policy", "compress", "add_job"):
        assert licensed not in statements


def test_the_local_server_is_detected_as_apache(
    fresh_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        migrate(conn)
        assert detect_edition(conn) == "apache"
        with caplog.at_level(logging.INFO, logger="vigil.db.timescale"):
            assert configure(conn, RETENTION) == "apache"
        assert configure(conn, RETENTION) == "apache"  # idempotent
        # Compression skipped cleanly, and said so.
        assert "Apache edition: no compression" in caplog.text
        settings = conn.execute(
            "select count(*) from timescaledb_information.compression_settings"
        ).fetchone()
        assert settings == (0,)


def test_fallback_rolls_up_and_drops_expired_chunks(fresh_db: str) -> None:
    now = datetime(2026, 11, 22, 12, 0, 30, tzinfo=UTC)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        migrate(conn)
        configure(conn, RETENTION)
        conn.execute("insert into sites (id, name) values ('s1', 'site')")
        conn.execute("insert into gateways (id, site_id, mqtt_username) values ('g1', 's1', 'g1')")
        conn.execute(
            "insert into devices (id, device_type, gateway_id) values ('sd-1', 'smoke', 'g1')"
        )
        rows = [
            (now - timedelta(days=40), "sd-1", "temperature", 20.0),
            (now - timedelta(minutes=30, seconds=10), "sd-1", "temperature", 21.0),
            (now - timedelta(minutes=30, seconds=20), "sd-1", "temperature", 23.0),
            (now - timedelta(minutes=5), "sd-1", "temperature", 30.0),
        ]
        with conn.cursor() as cur:
            cur.executemany(
                "insert into readings (time, device_id, metric, value, seq, gateway_ts) "
                "values (%s, %s, %s, %s, 1, %s)",
                [(*r, r[0]) for r in rows],
            )
        report = maintain(conn, RETENTION, now)
        assert report.dropped_chunks >= 1
        left = conn.execute("select count(*) from readings").fetchone()
        assert left is not None
        assert left[0] == 3
        minute = conn.execute(
            "select min, max, avg, n from readings_1m where bucket = %s",
            (now.replace(second=0) - timedelta(minutes=30),),
        ).fetchone()
        assert minute == (21.0, 23.0, 22.0, 2)
        # The 40-day-old minute is gone from the raw table but kept as a rollup.
        assert conn.execute("select count(*) from readings_1m").fetchone() == (3,)
