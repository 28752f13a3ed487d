"""Migrations: applied once each, in a transaction, recorded; a failure leaves nothing behind."""

from __future__ import annotations

import psycopg
import pytest

from vigil.db.migrate import Migration, applied_versions, bundled_migrations, migrate
from vigil.errors import MigrationError

pytestmark = pytest.mark.stack


def _tables(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute("select tablename from pg_tables where schemaname = 'public'").fetchall()
    return {r[0] for r in rows}


def test_bundled_migrations_apply_once(fresh_db: str) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        first = migrate(conn)
        second = migrate(conn)
        assert [m.version for m in first] == [m.version for m in bundled_migrations()]
        assert second == []
        assert set(applied_versions(conn)) == {m.version for m in bundled_migrations()}


def test_core_schema_has_the_promised_tables_and_hypertables(fresh_db: str) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        migrate(conn)
        expected = {
            "sites",
            "grids",
            "buildings",
            "households",
            "residents",
            "contacts",
            "gateways",
            "devices",
            "metrics",
            "reading_rows",
            "device_events",
            "incidents",
            "incident_timeline",
            "alerts",
            "notification_outbox",
            "users",
            "roles",
            "audit_log",
            "dead_letters",
        }
        assert expected <= _tables(conn)
        hyper = conn.execute(
            "select hypertable_name from timescaledb_information.hypertables"
        ).fetchall()
        assert {"reading_rows", "device_events"} <= {r[0] for r in hyper}
        views = conn.execute("select viewname from pg_views where schemaname = 'public'")
        assert "readings" in {r[0] for r in views}


def test_a_failing_migration_is_rolled_back_whole(fresh_db: str) -> None:
    good = Migration(1, "good", "create table good (id int);")
    bad = Migration(2, "bad", "create table half (id int); select * from no_such_table;")
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        with pytest.raises(MigrationError, match="0002_bad failed and was rolled back"):
            migrate(conn, [good, bad])
        assert "good" in _tables(conn)
        assert "half" not in _tables(conn)
        assert set(applied_versions(conn)) == {1}


def test_a_changed_migration_is_refused(fresh_db: str) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        migrate(conn, [Migration(1, "one", "create table one (id int);")])
        with pytest.raises(MigrationError, match="was changed after it was applied"):
            migrate(conn, [Migration(1, "one", "create table one (id bigint);")])


def test_migrate_needs_autocommit(fresh_db: str) -> None:
    with psycopg.connect(fresh_db) as conn, pytest.raises(MigrationError, match="autocommit"):
        migrate(conn)
