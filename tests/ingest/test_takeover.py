"""Claiming workers (`vigil ingest run --partitions P`) as processes: a killed worker's
partitions are taken over, a returning one gets its share, nothing is stored twice or lost."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import psycopg
import pytest

from bench.takeover import (
    ClaimingWorkers,
    WorkerProcess,
    first_commit_after,
    provision_sites,
    publish_paced,
    stream,
)
from ingest.claims import MEMBER, pool_key
from ingest.partition import Partition
from tests.fix_stack import scratch_var
from tests.ingest.conftest import count
from vigil.harness import wait_for
from vigil.settings import Settings
from vigil.stack import LocalStack

pytestmark = [pytest.mark.stack, pytest.mark.faults]

PARTITIONS = 6
INTERVAL_S = 0.5
ROWS = "select count(*) from readings"
IDENTITIES = "select count(distinct (device_id, seq, metric)) from readings"


@contextlib.contextmanager
def claiming_workers(settings: Settings, dsn: str) -> Iterator[ClaimingWorkers]:
    """Workers sharing a scratch var dir; stopped after, their logs shown if the test fails."""
    with scratch_var() as var:
        pool = ClaimingWorkers(settings, dsn, var, PARTITIONS, INTERVAL_S)
        try:
            yield pool
        except BaseException:
            pool.stop()
            for w in pool.workers:
                print(f"--- {w.name}\n{w.log.read_text()}")
            raise
        finally:
            pool.stop()


def shares(workers: list[WorkerProcess]) -> list[int]:
    return sorted(len(w.held()) for w in workers)


def test_a_killed_workers_partitions_are_taken_over_and_a_returning_worker_gets_its_share(
    settings: Settings, ingest_dsn: str
):
    layouts = provision_sites(ingest_dsn, PARTITIONS, per_partition=2)
    items = stream(layouts, per_site=60)
    total = sum(n for _, _, n in items)
    with claiming_workers(settings, ingest_dsn) as pool:
        for name in ("a", "b", "c"):
            pool.start(name)
        wait_for(pool.balanced, 60, "three workers to split the partitions")
        assert shares(pool.workers) == [2, 2, 2]
        publisher = publish_paced(settings, items, seconds=6.0)
        wait_for(lambda: count(ingest_dsn, ROWS) > total // 4, 30, "a quarter stored")
        victim = pool.workers[1]
        orphans = victim.held()
        victim.kill()
        assert victim.killed_at is not None
        assert count(ingest_dsn, ROWS) < total, "the stream ended before the kill"
        wait_for(pool.balanced, 30, "the survivors to take over")
        assert shares(pool.alive) == [3, 3]
        assert orphans <= pool.workers[0].held() | pool.workers[2].held()
        publisher.join(60)
        wait_for(lambda: count(ingest_dsn, ROWS) >= total, 60, "every reading stored")
        for p in orphans:
            resumed = first_commit_after(
                ingest_dsn, Partition(p, PARTITIONS), layouts, victim.killed_at
            )
            assert resumed is not None, f"partition {p}: nothing committed after the kill"
        # The worker comes back: the others let go of their surplus, it takes its share.
        pool.start("b2")
        wait_for(pool.balanced, 30, "the returning worker to get its share")
        assert shares(pool.alive) == [2, 2, 2]
        time.sleep(0.5)  # a duplicate would land now
        pool.stop()
        assert count(ingest_dsn, ROWS) == total
        assert count(ingest_dsn, IDENTITIES) == total
        assert count(ingest_dsn, "select count(*) from ingested_messages where part = 0") == len(
            items
        )
        assert pool.overlaps() == []
        # Every partition's detector state was saved under its own name at its last stop.
        saved = sorted(p.name for p in (pool.var / "detectors").glob("engine-*.npz"))
        assert saved == [f"engine-{p}of{PARTITIONS}.npz" for p in range(PARTITIONS)]
        # A partition handed over cleanly was started by its new owner from the saved state.
        assert "detector state loaded from" in pool.workers[3].log.read_text()


def test_a_worker_that_lost_its_claims_session_is_cut_off_before_another_takes_over(
    settings: Settings, ingest_dsn: str
):
    layouts = provision_sites(ingest_dsn, PARTITIONS, per_partition=1)
    items = stream(layouts, per_site=80)
    total = sum(n for _, _, n in items)
    with claiming_workers(settings, ingest_dsn) as pool:
        a, b = pool.start("a"), pool.start("b")
        wait_for(pool.balanced, 60, "two workers to split the partitions")
        publisher = publish_paced(settings, items, seconds=6.0)
        wait_for(lambda: count(ingest_dsn, ROWS) > total // 4, 30, "a quarter stored")
        # An operator (or a pooler, or a failover) ends a's claims session; a lives on.
        a_id = int(a.claim_log()[0]["worker"])
        with psycopg.connect(ingest_dsn, autocommit=True) as conn:
            row = conn.execute(
                "select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory' "
                "and classid = %s::int8::oid and objid = %s::int8::oid and pid = %s",
                (pool_key(pool.prefix, PARTITIONS), MEMBER, a_id),
            ).fetchone()
        assert row is not None, "a's claims session was not found"
        assert row[0], "a's claims session was not ended"
        wait_for(lambda: any(e["claim"] == "fenced" for e in a.claim_log()), 15, "a to fence")
        wait_for(pool.balanced, 30, "the two to split the partitions again")
        publisher.join(60)
        wait_for(lambda: count(ingest_dsn, ROWS) >= total, 60, "every reading stored")
        time.sleep(0.5)
        assert a.proc.poll() is None, "a died"
        assert b.proc.poll() is None, "b died"
        pool.stop()
        assert count(ingest_dsn, ROWS) == total
        assert count(ingest_dsn, IDENTITIES) == total
        # b took a's partitions over, and started each only after a was cut off from it.
        orphans = [e for e in b.claim_log() if e["claim"] == "claimed" and e.get("orphaned")]
        assert orphans, "b never took over an orphaned partition"
        assert pool.overlaps() == []


def test_postgres_stopped_mid_stream_fences_every_worker_and_they_resume_without_loss(
    settings: Settings, stack: LocalStack, ingest_dsn: str
):
    layouts = provision_sites(ingest_dsn, PARTITIONS, per_partition=1)
    items = stream(layouts, per_site=100)
    total = sum(n for _, _, n in items)
    with claiming_workers(settings, ingest_dsn) as pool:
        a, b = pool.start("a"), pool.start("b")
        wait_for(pool.balanced, 60, "two workers to split the partitions")
        publisher = publish_paced(settings, items, seconds=10.0)
        wait_for(lambda: count(ingest_dsn, ROWS) > total // 5, 30, "a fifth stored")
        assert publisher.is_alive(), "the stream ended before the outage"
        stack.stop_postgres()
        try:
            # Both lose their claims' sessions, hence every lock: each stops all it ran.
            wait_for(lambda: not a.held() and not b.held(), 30, "both to fence")
        finally:
            stack.start_postgres()
        publisher.join(60)
        wait_for(pool.balanced, 60, "the two to claim the partitions again")
        wait_for(lambda: count(ingest_dsn, ROWS) >= total, 60, "every reading stored")
        time.sleep(0.5)
        pool.stop()
        assert count(ingest_dsn, ROWS) == total
        assert count(ingest_dsn, IDENTITIES) == total
        assert count(ingest_dsn, "select count(*) from ingested_messages where part = 0") == len(
            items
        )
        assert pool.overlaps() == []
