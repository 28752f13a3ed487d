"""Claims of another split are looked for only when that split claimed lately (migration 0023)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import psycopg
import pytest

from bench.loadgen import Layout, messages, streams
from ingest.dedup import ReplayFilter
from ingest.parts import Part
from ingest.registry import Registry
from ingest.store import _CLAIM, SPLIT_SLACK_US, Store, claim_params, prepare
from ingest.validate import Checked, check
from ingest.wire import parse
from tests.ingest.conftest import count
from tests.ingest.test_parts import WINDOW, commit_part, split_messages
from vigil.db.migrate import bundled_migrations, migrate

SPLITS = "select kind, parts, newest from claim_splits order by kind, parts"
HOUR_S = SPLIT_SLACK_US / 1e6


def _decoded(registry: Registry, layout: Layout, n: int, start: float) -> list[Checked]:
    return [
        check(parse(t, p), p, registry.snapshot, WINDOW, time.time())
        for t, p, _ in messages(layout, count=n, frames=2, start=start)
    ]


def _newest(dsn: str, parts: int) -> float:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "select extract(epoch from newest) from claim_splits"
            " where kind = 'up/telemetry' and parts = %s",
            (parts,),
        ).fetchone()
    assert row is not None
    return float(str(row[0]))


@pytest.mark.stack
def test_a_split_is_registered_with_its_claims_and_raised_only_once_an_hour_behind(
    ingest_dsn, mixed_registry, mixed
):
    old = _decoded(mixed_registry, mixed, 2, time.time() - 3 * HOUR_S)
    commit_part(ingest_dsn, mixed_registry, Part(0, 1), old)
    newest_old = max(m.key.sent for m in old if m.key)
    assert _newest(ingest_dsn, 1) == pytest.approx(newest_old, abs=1e-6)
    # Within the hour after: left alone (no row lock between the committers).
    later = _decoded(mixed_registry, mixed, 2, newest_old + HOUR_S / 2)
    commit_part(ingest_dsn, mixed_registry, Part(0, 1), later)
    assert _newest(ingest_dsn, 1) == pytest.approx(newest_old, abs=1e-6)
    # More than an hour after: raised to the newest claimed.
    now = _decoded(mixed_registry, mixed, 2, time.time() - 60)
    commit_part(ingest_dsn, mixed_registry, Part(0, 1), now)
    assert _newest(ingest_dsn, 1) == pytest.approx(max(m.key.sent for m in now if m.key), abs=1e-6)
    assert count(ingest_dsn, "select count(*) from claim_splits") == 1


def _probes(dsn: str, batch: list[Checked], part: Part) -> str:
    """The claim statement's plan, executed: what its probe of other splits' claims did."""
    _, params = claim_params(batch, part)
    with psycopg.connect(dsn, autocommit=True) as conn:
        plan = [str(r[0]) for r in conn.execute("explain analyze " + _CLAIM, params)]
    probe = max(i for i, line in enumerate(plan) if line.lstrip().startswith("SubPlan"))
    return plan[probe + 1]


@pytest.mark.stack
def test_the_probe_runs_only_when_another_split_claimed_messages_of_the_kind_lately(
    ingest_dsn, mixed_registry, mixed
):
    with psycopg.connect(ingest_dsn, autocommit=True) as conn:
        # The event lane claims as 1 of 1 all the time; telemetry 1 of 1 stopped 2 hours ago.
        conn.execute(
            "insert into claim_splits values ('up/event', 1, now()),"
            " ('up/telemetry', 1, now() - interval '2 hours')"
        )
    batch = _decoded(mixed_registry, mixed, 6, time.time() - 60)
    commit_part(ingest_dsn, mixed_registry, Part(0, 2), batch[:2])  # the day's chunk, made now
    batch = batch[2:]
    assert "never executed" in _probes(ingest_dsn, batch[:2], Part(0, 2))
    with psycopg.connect(ingest_dsn, autocommit=True) as conn:  # 1 of 3, 50 minutes ago
        conn.execute(
            "insert into claim_splits values ('up/telemetry', 3, now() - interval '50 min')"
        )
    assert "loops=2" in _probes(ingest_dsn, batch[2:], Part(0, 2))


@pytest.mark.stack
def test_migration_0023_takes_the_splits_of_the_claims_made_before_it(fresh_db: str) -> None:
    before = [m for m in bundled_migrations() if m.version < 23]
    claims = [
        ("gw-1", 1, datetime(2026, 12, 1, 8, 0, tzinfo=UTC), 0, 1),
        ("gw-1", 2, datetime(2026, 12, 1, 9, 0, tzinfo=UTC), 0, 1),
        ("gw-1", 3, datetime(2026, 12, 2, 7, 0, tzinfo=UTC), 1, 2),
    ]
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        migrate(conn, before)
        conn.cursor().executemany(
            "insert into ingested_messages (gateway_id, gateway_seq, sent, part, parts)"
            " values (%s, %s, %s, %s, %s)",
            claims,
        )
        migrate(conn)
        splits = conn.execute(SPLITS).fetchall()
    nine, seven = claims[1][2], claims[2][2]
    assert splits == [
        ("up/event", 1, nine),
        ("up/event", 2, seven),
        ("up/telemetry", 1, nine),
        ("up/telemetry", 2, seven),
    ]


@pytest.mark.stack
def test_two_committers_raising_their_split_together_both_commit(ingest_dsn, mixed_registry, mixed):
    """Every batch over an hour after the last, so both parts raise the one row each time, in
    parallel (one may wait for the other's commit): no deadlock, nothing lost, the newest kept."""
    start = time.time() - 6 * HOUR_S
    gens = streams(mixed)  # one stream: the devices' sequence numbers go on
    batches = [
        [
            check(parse(t, p), p, mixed_registry.snapshot, WINDOW, time.time())
            for t, p, _ in (g.message(2, start + k * 1.01 * HOUR_S) for g in gens)
        ]
        for k in range(5)
    ]
    parts = [split_messages(b, mixed_registry.snapshot, 2) for b in batches]
    stored = [0, 0]

    def commit(k: int) -> None:
        store = Store(ingest_dsn, mixed_registry, ReplayFilter(), Part(k, 2))
        try:
            for shares in parts:
                stored[k] += store.commit(
                    shares[k], prepare(shares[k], mixed_registry.snapshot)
                ).readings
        finally:
            store.close()

    threads = [threading.Thread(target=commit, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    total = sum(len(m.readings) for b in batches for m in b)
    assert sum(stored) == total == count(ingest_dsn, "select count(*) from readings")
    newest = max(m.key.sent for m in batches[-1] if m.key)
    assert _newest(ingest_dsn, 2) == pytest.approx(newest, abs=1e-6)
