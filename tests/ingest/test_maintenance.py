"""Rollups and retention run from ingest under the Apache edition."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from bench.loadgen import GatewayStream, Layout
from ingest.dedup import ReplayFilter
from ingest.maintenance import Maintenance, maintain_once
from ingest.registry import Registry
from ingest.store import Store
from ingest.validate import Window, check
from ingest.wire import parse
from tests.ingest.conftest import count
from vigil.db.timescale import Retention, detect_edition
from vigil.harness import wait_for

pytestmark = pytest.mark.stack


def store_some(dsn: str, layout: Layout, at: float) -> None:
    registry = Registry()
    with psycopg.connect(dsn, autocommit=True) as conn:
        registry.load(conn)
    gateway, devices = next(iter(layout.gateways.items()))
    topic, payload, _ = GatewayStream(layout.site, gateway, devices).message(5, now=at)
    window = Window(max_future_s=300, max_age_s=40 * 86400)
    message = check(parse(topic, payload), payload, registry.snapshot, window, at)
    Store(dsn, registry, ReplayFilter()).commit([message])


def test_maintenance_refreshes_rollups_and_drops_expired_chunks(ingest_dsn: str, layout: Layout):
    now = datetime.now(UTC)
    store_some(ingest_dsn, layout, (now - timedelta(days=35)).timestamp())
    store_some(ingest_dsn, layout, (now - timedelta(minutes=5)).timestamp())
    with psycopg.connect(ingest_dsn, autocommit=True) as conn:
        if detect_edition(conn) != "apache":
            pytest.skip("the community edition's own jobs do this")
        report = maintain_once(conn, Retention(30, 730, 8), now)
    assert report is not None
    assert report.dropped_chunks >= 1
    assert count(ingest_dsn, "select count(*) from readings") == 15
    assert (
        count(ingest_dsn, "select sum(n) from readings_1m where bucket > now() - interval '1 day'")
        == 15
    )


def test_only_one_worker_maintains_at_a_time(ingest_dsn: str):
    with psycopg.connect(ingest_dsn, autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(%s)", (0x56494D54,))
        with psycopg.connect(ingest_dsn, autocommit=True) as conn:
            assert maintain_once(conn, Retention(30, 730, 8), datetime.now(UTC)) is None


def test_the_timer_runs_maintenance_until_stopped(ingest_dsn: str, layout: Layout):
    store_some(ingest_dsn, layout, time.time() - 120)
    stop = threading.Event()
    job = Maintenance(ingest_dsn, Retention(30, 730, 8), 0.1, stop)
    job.start()
    try:
        wait_for(lambda: count(ingest_dsn, "select count(*) from readings_1m") > 0, 15, "a rollup")
    finally:
        stop.set()
        job.join(5)
