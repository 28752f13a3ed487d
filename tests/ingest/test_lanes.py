"""The event lane: events overtake a telemetry backlog, yet keep every guarantee of ingest."""

from __future__ import annotations

import signal
import threading
import time
import uuid

import psycopg
import pytest

from bench.loadgen import Layout, Publisher, forget_sessions, messages
from ingest.deadletter import Reason
from ingest.sink import ReadingBatch
from tests.ingest.conftest import count, running_ingest
from tests.ingest.test_process import ingest_process
from vigil.codec import Event, EventBatch, encode
from vigil.harness import wait_for
from vigil.settings import Settings
from vigil.topics import Topic

pytestmark = pytest.mark.stack

EVENTS = "select count(*) from device_events"
# Backends waiting for a lock on a table.
WAITING_ON = "select count(*) from pg_locks where not granted and relation = %s::regclass"


class Recording:
    """A sink noting, for each batch, whether it held events and how many telemetry batches
    it had seen before."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.telemetry = 0
        self.events: list[tuple[ReadingBatch, int]] = []

    def submit(self, batch: ReadingBatch) -> None:
        with self.lock:
            if batch.events:
                self.events.append((batch, self.telemetry))
            else:
                self.telemetry += 1


def event_message(
    layout: Layout, gseq: int, kind: str = "alarm", device: str | None = None
) -> tuple[str, bytes]:
    gateway, devices = next(iter(layout.gateways.items()))
    now = time.time()
    batch = EventBatch(
        gw=gateway,
        gseq=gseq,
        sent=now,
        events=[Event(dev=device or devices[0], seq=gseq, ts=now - 0.01, rx=now, kind=kind)],
    )
    return str(Topic.event(layout.site, gateway)), encode(batch)


def publish(settings: Settings, items: list[tuple[str, bytes]]) -> None:
    publisher = Publisher(settings)
    publisher.publish(items)
    publisher.close()


def test_an_event_overtakes_a_telemetry_backlog_stuck_on_the_database(
    settings: Settings, ingest_dsn: str, layout: Layout
):
    sink = Recording()
    # A district already running: today's chunks exist. (The transaction that creates a chunk
    # holds a lock on its hypertable until it commits, which would hold up the event's claim.)
    [(topic, payload, warm_readings)] = messages(layout, count=1, frames=1)
    warm_up = [(topic, payload), event_message(layout, gseq=9_999)]
    telemetry = messages(layout, count=60, frames=2, start=time.time() + 1)
    total = sum(n for _, _, n in telemetry) + warm_readings
    with running_ingest(settings, ingest_dsn, sink=sink, ingest_receive_window=10) as service:
        received = service.counters.received
        tele_id, event_id = service.client_ids
        publish(settings, warm_up)
        wait_for(lambda: service.counters.messages_committed == 2, 15, "the warm-up")
        blocker = psycopg.connect(ingest_dsn)
        blocker.execute("lock table reading_rows in access exclusive mode")
        try:
            publish(settings, [(t, p) for t, p, _ in telemetry])
            # The telemetry lane's window is full and its commit waits for the lock: the
            # rest of the backlog waits at the broker.
            wait_for(lambda: received[tele_id] >= 11, 15, "the telemetry window to fill")
            wait_for(
                lambda: count(ingest_dsn, WAITING_ON, "reading_rows") > 0, 15, "a blocked commit"
            )
            publish(settings, [event_message(layout, gseq=10_000)])
            wait_for(lambda: count(ingest_dsn, EVENTS) == 2, 15, "the event committed")
            # Committed (and so acknowledged) while no telemetry is, and before the broker
            # sent the telemetry published ahead of it.
            assert service.counters.readings == warm_readings  # the warm-up's (the table is locked)
            assert received[tele_id] - 1 < len(telemetry)
            assert received[event_id] == 2
            assert service.counters.messages_committed == 3
            assert service.counters.pending_messages == received[tele_id] - 1
            (_, (batch, seen_before)) = sink.events
            assert seen_before - 1 <= received[tele_id] - 1 < len(telemetry)
            assert [e.kind for e in batch.events] == ["alarm"]
        finally:
            blocker.rollback()
            blocker.close()
        wait_for(
            lambda: service.counters.readings + service.counters.readings_duplicate >= total,
            30,
            "the backlog after the lock",
        )
        # The backlog's first message repeats the warm-up's readings (the same devices and
        # counters, issue 14's rule): stored once, counted as repeats.
        assert service.counters.readings_duplicate == warm_readings
        assert service.counters.pending_messages == 0
    assert count(ingest_dsn, "select count(*) from readings") == total - warm_readings
    assert count(ingest_dsn, EVENTS) == 2


def test_bad_and_repeated_events_are_dead_lettered_or_stored_once(
    settings: Settings, ingest_dsn: str, layout: Layout
):
    good = event_message(layout, gseq=20_000)
    topic = good[0]
    stranger = event_message(layout, gseq=20_001, device="nobody-knows-me")
    wrong_kind = event_message(layout, gseq=20_002, kind="button")  # not a smoke detector's
    with running_ingest(settings, ingest_dsn) as service:
        publish(settings, [good, good, (topic, b"\xc1not msgpack"), stranger, wrong_kind, good])
        wait_for(lambda: service.counters.messages_committed >= 6, 15, "every message")
        counters = service.counters
        assert (counters.events, counters.messages_duplicate) == (1, 2)
        assert counters.dead_letters == {
            Reason.MALFORMED: 1,
            Reason.UNKNOWN_DEVICE: 1,
            Reason.UNKNOWN_METRIC: 1,
        }
        assert counters.pending_messages == 0
    assert count(ingest_dsn, EVENTS) == 1
    assert count(ingest_dsn, "select count(*) from dead_letters") == 3


def test_an_event_is_acknowledged_only_after_its_commit(
    settings: Settings, ingest_dsn: str, layout: Layout
):
    """Killed mid-commit, the worker never acknowledged the event: the broker gives it to the
    next run, which stores it once."""
    prefix = f"test-lane-{uuid.uuid4().hex[:8]}"
    event = event_message(layout, gseq=30_000)
    try:
        blocker = psycopg.connect(ingest_dsn)
        try:
            with ingest_process(settings, ingest_dsn, prefix) as first:
                blocker.execute("lock table device_events in access exclusive mode")
                publish(settings, [event])
                wait_for(
                    lambda: count(ingest_dsn, WAITING_ON, "device_events") > 0,
                    15,
                    "the event's commit to wait for the lock",
                )
                first.send_signal(signal.SIGKILL)
                first.wait(10)
        finally:
            blocker.rollback()
            blocker.close()
        assert count(ingest_dsn, EVENTS) == 0
        assert count(ingest_dsn, "select count(*) from ingested_messages") == 0
        with ingest_process(settings, ingest_dsn, prefix):
            wait_for(lambda: count(ingest_dsn, EVENTS) == 1, 30, "the redelivered event")
            # Once more, as a gateway's replay would send it, then another event: one lane
            # takes them in order, so once the second is stored the repeat has been through.
            publish(settings, [event, event_message(layout, gseq=30_001)])
            wait_for(lambda: count(ingest_dsn, EVENTS) == 2, 30, "the next event")
    finally:
        forget_sessions(settings, f"{prefix}-0of1")
    assert count(ingest_dsn, "select count(*) from ingested_messages") == 2
