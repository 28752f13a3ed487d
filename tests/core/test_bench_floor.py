"""bench-ingest-dedup's tables: the floor ingest is measured against pays for what reading_rows
pays, its indexes and no more. Before, `like reading_rows including all` copied the device B-tree
and time BRIN and the bench created both again, so the "floor" kept four indexes to the real
table's two and ingest's share of it came out above 1."""

from __future__ import annotations

import psycopg
import pytest

from bench.ingest_dedup import dedup_database, same_indexes
from vigil.settings import Settings
from vigil.stack import LocalStack

pytestmark = pytest.mark.stack


def _definitions(conn: psycopg.Connection[tuple[str, ...]], table: str) -> list[str]:
    rows = conn.execute(
        "select indexdef from pg_indexes where tablename = %s order by indexdef", (table,)
    ).fetchall()
    return sorted(r[0].split(" USING ", 1)[1] for r in rows)


def test_the_floors_tables_carry_the_indexes_of_reading_rows(
    stack: LocalStack, settings: Settings
) -> None:
    with dedup_database(stack, settings) as dsn, psycopg.connect(dsn) as conn:
        real = _definitions(conn, "reading_rows")
        assert len(real) == 2  # the device B-tree and the time BRIN
        assert _definitions(conn, "readings_plain") == real
        unique = _definitions(conn, "readings_unique")
        assert len(unique) == len(real) + 1
        assert set(real) < set(unique)


def test_a_floor_with_other_indexes_than_the_real_table_is_refused() -> None:
    same_indexes({"reading_rows": 2, "readings_plain": 2, "readings_unique": 3})
    with pytest.raises(RuntimeError, match="do not carry reading_rows' indexes"):
        same_indexes({"reading_rows": 2, "readings_plain": 4, "readings_unique": 5})
