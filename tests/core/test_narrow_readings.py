"""The narrow row (migration 0022): existing rows moved, the readable view, the vocabulary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import pytest

from vigil.db.migrate import bundled_migrations, migrate
from vigil.db.vocabulary import sync_metrics
from vigil.device_types import METRICS, metrics
from vigil.errors import MigrationError

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
WIDE = (
    "insert into readings (time, device_id, metric, value, seq, gateway_ts) "
    "values (%s, %s, %s, %s, %s, %s)"
)


def test_a_4_byte_float_holds_every_metric_to_its_resolution() -> None:
    """Over each metric's whole range, float32's step is well under half its resolution, so a
    value at the resolution is read back exactly after rounding."""
    for name in METRICS:
        m = metrics()[name]
        top = np.float32(max(abs(m.min), abs(m.max)))
        assert np.spacing(top) < 0.5 / m.scale / 10, name
        grid = np.round(np.linspace(m.min, m.max, 10_001), m.decimals)
        back = np.rint(grid.astype(np.float32).astype(np.float64) * m.scale) / m.scale
        assert np.array_equal(back, grid), name


def _registry(conn: psycopg.Connection) -> None:
    conn.execute("insert into sites (id, name) values ('s1', 'site')")
    conn.execute("insert into gateways (id, site_id, mqtt_username) values ('gw-1', 's1', 'gw-1')")
    conn.execute(
        "insert into devices (id, device_type, gateway_id) values "
        "('sd-1', 'smoke', 'gw-1'), ('sd-2', 'smoke', 'gw-1')"
    )


@pytest.mark.stack
def test_existing_rows_move_to_the_narrow_table_and_read_back_through_the_view(
    fresh_db: str,
) -> None:
    before = [m for m in bundled_migrations() if m.version < 21]
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        migrate(conn, before)
        _registry(conn)
        rows = [
            (T0, "sd-1", "temperature", 21.3, 17, T0 + timedelta(seconds=0.25)),
            (T0, "sd-1", "smoke_obscuration", 0.125, 17, T0 + timedelta(seconds=0.25)),
            (T0 + timedelta(minutes=1), "sd-2", "battery", 2.951, 2**32 + 5, T0),
            (T0, "gone-1", "temperature", 20.0, 1, T0),  # no longer in the registry
        ]
        conn.cursor().executemany(WIDE, rows)
        migrate(conn)
        moved = conn.execute(
            "select time, device_id, metric, value, seq, gateway_ts from readings order by 2, 3"
        ).fetchall()
        assert moved == [
            rows[1],
            rows[0],
            # seq modulo 2^32; the receive time 60 s early, within the offset's range.
            (T0 + timedelta(minutes=1), "sd-2", "battery", 2.951, 5, T0),
        ]
        kept = conn.execute("select device_id from readings_unkeyed").fetchall()
        assert kept == [("gone-1",)]
        assert conn.execute("select to_regclass('readings_0020')").fetchone() == (None,)


@pytest.mark.stack
def test_the_view_takes_inserts_and_deletes_and_saturates_the_receive_time(fresh_db: str) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        migrate(conn)
        _registry(conn)
        late = T0 + timedelta(hours=1)
        conn.execute(WIDE, (T0, "sd-1", "co", 12.34, 3, late))
        conn.execute(WIDE, (T0, "sd-2", "co", 1.0, 4, T0 - timedelta(seconds=327.675)))
        got = conn.execute(
            "select device_id, value, gateway_ts - time from readings order by 1"
        ).fetchall()
        # co is kept to 0.1 ppm; the offset saturates at +-327.67 s.
        assert got == [
            ("sd-1", 12.3, timedelta(seconds=327.67)),
            ("sd-2", 1.0, timedelta(seconds=-327.67)),
        ]
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="no key for device"):
            conn.execute(WIDE, (T0, "nobody", "co", 1.0, 1, T0))
        conn.execute("delete from readings where device_id = 'sd-1'")
        assert conn.execute("select count(*) from reading_rows").fetchone() == (1,)


@pytest.mark.stack
def test_the_metrics_table_is_the_files_vocabulary(fresh_db: str) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        migrate(conn)
        stored = conn.execute("select code, name, scale from metrics order by code").fetchall()
        assert stored == [(c, n, metrics()[n].scale) for c, n in enumerate(METRICS)]
        conn.execute("update metrics set scale = 1 where code = 0")
        sync_metrics(conn)  # a resolution changed in the file is taken over
        assert conn.execute("select scale from metrics where code = 0").fetchone() == (
            metrics()[METRICS[0]].scale,
        )
        conn.execute("update metrics set name = 'renamed' where code = 1")
        with pytest.raises(MigrationError, match="never reorder"):
            sync_metrics(conn)
