"""Dead letters are kept for a bounded time and size (issue 14: one gateway grew the table by
19.6 MiB in 4 s, with nothing ever deleted)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ingest.dead_retention import DeadLetterBound, prune_dead_letters

pytestmark = [pytest.mark.stack, pytest.mark.security]

INSERT = (
    "insert into dead_letters (received_at, topic, reason, detail, payload) "
    "select %s, 'vigil/v1/s/gw/up/event', 'malformed', 'x', %s from generate_series(1, %s)"
)


def test_old_dead_letters_go_then_the_oldest_past_the_size(fresh_db: str) -> None:
    from vigil.db.migrate import migrate

    now = datetime.now(UTC)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        migrate(conn)
        conn.execute(INSERT, (now - timedelta(days=40), b"old", 5))
        conn.execute(INSERT, (now - timedelta(days=1), b"kept", 3))
        assert prune_dead_letters(conn, DeadLetterBound(30, 10**9), now) == 5
        assert conn.execute("select count(*) from dead_letters").fetchone() == (3,)

        # A flood: 200 rows of 16 KiB (random, so TOAST cannot shrink them) against 1 MB.
        for _ in range(200):
            conn.execute(INSERT, (now, os.urandom(16 * 1024), 1))
        newest = conn.execute("select max(id) from dead_letters").fetchone()
        prune_dead_letters(conn, DeadLetterBound(30, 1_000_000), now)
        left, total, top = conn.execute(
            "select count(*), sum(octet_length(payload)), max(id) from dead_letters"
        ).fetchone() or (0, 0, 0)
        assert 0 < left < 60
        assert total <= 800_000
        assert (top,) == newest, "the newest letters are the ones kept"
