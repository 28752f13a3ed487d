"""The worker's behaviour around the database: hand-off before commit, backpressure, registry."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
import uuid

import psycopg
import pytest

from bench.loadgen import Layout, Publisher, messages
from ingest.deadletter import Reason
from ingest.service import IngestOptions
from ingest.sink import ReadingBatch
from tests.ingest.conftest import count, running_ingest
from vigil.device_types import METRICS
from vigil.harness import wait_for
from vigil.settings import Settings

pytestmark = pytest.mark.stack


class Collecting:
    """A sink that keeps what it is handed, as a detector engine's queue would."""

    def __init__(self) -> None:
        self.batches: list[ReadingBatch] = []
        self.lock = threading.Lock()

    def submit(self, batch: ReadingBatch) -> None:
        with self.lock:
            self.batches.append(batch)

    @property
    def readings(self) -> int:
        with self.lock:
            return sum(len(b.readings) for b in self.batches)


def publish(settings: Settings, items: list[tuple[str, bytes, int]]) -> int:
    publisher = Publisher(settings)
    publisher.publish((t, p) for t, p, _ in items)
    publisher.close()
    return sum(n for _, _, n in items)


def test_detectors_get_every_batch_while_the_database_is_blocked_and_acks_wait_for_commit(
    settings: Settings, ingest_dsn: str, layout: Layout
):
    sink = Collecting()
    with running_ingest(settings, ingest_dsn, sink=sink) as service:
        blocker = psycopg.connect(ingest_dsn)
        blocker.execute("lock table reading_rows in access exclusive mode")
        try:
            total = publish(settings, messages(layout, count=30, frames=4))
            wait_for(lambda: sink.readings >= total, 15, "the sink to see every reading")
            time.sleep(0.3)
            # Nothing is committed, so nothing may be acknowledged yet.
            assert service.counters.messages_committed == 0
            assert service.counters.readings == 0
            assert service.counters.pending_messages == 30
        finally:
            blocker.rollback()
            blocker.close()
        wait_for(lambda: service.counters.readings >= total, 15, "the commit after the lock")
    assert count(ingest_dsn, "select count(*) from readings") == total
    first = sink.batches[0]
    names = {first.registry.device_ids[d] for d in first.readings.device.tolist()}
    assert names <= {d for ds in layout.gateways.values() for d in ds}
    assert {METRICS[m] for m in first.readings.metric.tolist()} == {
        "smoke_obscuration",
        "temperature",
        "battery",
    }
    assert not first.redelivered


def test_a_device_provisioned_while_running_is_accepted_without_a_restart(
    settings: Settings, ingest_dsn: str, layout: Layout
):
    gateway = next(iter(layout.gateways))
    newcomer = Layout(layout.site, {gateway: [f"{gateway}-new"]})
    with running_ingest(settings, ingest_dsn) as service:
        before = service.registry.snapshot.version
        with psycopg.connect(ingest_dsn, autocommit=True) as conn:
            conn.execute(
                "insert into devices (id, device_type, gateway_id) values (%s, 'smoke', %s)",
                (f"{gateway}-new", gateway),
            )
        wait_for(lambda: service.registry.snapshot.version > before, 10, "the registry reload")
        total = publish(settings, messages(newcomer, count=3, frames=2))
        wait_for(lambda: service.counters.messages_committed >= 3, 15, "the messages")
    stored = "select count(*) from readings where device_id = %s"
    assert count(ingest_dsn, stored, f"{gateway}-new") == total
    assert count(ingest_dsn, "select count(*) from dead_letters") == 0


def test_unknown_devices_go_to_the_dead_letters_and_the_counters_say_so(
    settings: Settings, ingest_dsn: str, layout: Layout
):
    gateway = next(iter(layout.gateways))
    stranger = Layout(layout.site, {gateway: ["nobody-knows-me"]})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    options = IngestOptions(client_prefix=f"test-{uuid.uuid4().hex[:8]}", metrics_port=port)
    with running_ingest(settings, ingest_dsn, options) as service:
        publish(settings, messages(stranger, count=2, frames=3) + messages(layout, 2, 3))
        wait_for(lambda: service.counters.messages_committed >= 4, 15, "the messages")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as r:
            health = json.load(r)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as r:
            text = r.read().decode()
    counters = service.counters
    assert counters.dead_letters == {Reason.UNKNOWN_DEVICE: 2}
    assert counters.dead_items == {Reason.UNKNOWN_DEVICE: 18}
    assert (counters.readings, counters.messages_refused, counters.pending_messages) == (18, 0, 0)
    assert 0 < counters.lag_seconds() < 60
    assert health["status"] == "ok"
    assert set(health["checks"]) == {"broker", "database", "decode loop", "event loop"}
    # The exported metrics are the process's (shared by every worker of this test session).
    assert 'vigil_ingest_dead_letters_total{reason="unknown_device"}' in text
    assert 'vigil_ingest_readings_total{outcome="stored"}' in text
    assert "vigil_ingest_commit_seconds_count" in text
    reasons = "select reason, count(*) from dead_letters group by reason"
    with psycopg.connect(ingest_dsn) as conn:
        assert conn.execute(reasons).fetchall() == [("unknown_device", 2)]
