"""The batch transaction against the real database (no broker)."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import psycopg
import pytest
from msgspec.structs import replace as revise

from bench.loadgen import GatewayStream, Layout
from ingest.columns import Readings
from ingest.copy_binary import pg_micros
from ingest.deadletter import Reason
from ingest.dedup import ReplayFilter
from ingest.registry import Registry
from ingest.store import Store
from ingest.validate import Checked, Window, check
from ingest.wire import parse
from tests.ingest.conftest import count, loaded_registry
from vigil.codec import Event, EventBatch, encode
from vigil.device_types import METRICS, metrics
from vigil.topics import Topic

pytestmark = pytest.mark.stack

WINDOW = Window(max_future_s=300, max_age_s=7 * 86400)
ROWS = "select count(*) from readings"
IDENTITIES = "select count(distinct (device_id, seq, metric)) from readings"


@pytest.fixture
def registry(ingest_dsn: str, layout: Layout) -> Registry:
    return loaded_registry(ingest_dsn)


@pytest.fixture
def stream(layout: Layout) -> GatewayStream:
    gateway, devices = next(iter(layout.gateways.items()))
    return GatewayStream(layout.site, gateway, devices)


def checked(registry: Registry, topic: str, payload: bytes) -> Checked:
    return check(parse(topic, payload), payload, registry.snapshot, WINDOW, time.time())


def message(registry: Registry, stream: GatewayStream, frames: int) -> Checked:
    topic, payload, _ = stream.message(frames)
    return checked(registry, topic, payload)


def test_rows_round_trip_as_the_narrow_row_keeps_them(ingest_dsn, registry, stream):
    """Times to the microsecond, ids and names through their keys, values at their metric's
    resolution, seq, and the receive time to 10 ms of the device's (docs/performance.md)."""
    m = message(registry, stream, frames=2)
    m = dataclasses.replace(m, readings=revise_readings(m.readings))
    Store(ingest_dsn, registry, ReplayFilter()).commit([m])
    since_2000 = "(extract(epoch from {} - timestamptz '2000-01-01+00') * 1000000)::int8"
    with psycopg.connect(ingest_dsn) as conn:
        rows = conn.execute(
            f"select {since_2000.format('time')}, device_id, metric, value, seq,"
            f" {since_2000.format('gateway_ts')} from readings"
        ).fetchall()
    r, ids = m.readings, registry.snapshot.device_ids
    ts = pg_micros(r.ts).tolist()
    lag_us = np.clip(np.rint((r.rx - r.ts) * 100), -32767, 32767).astype(np.int64) * 10_000
    expected = {
        (
            ts[i],
            ids[r.device[i]],
            METRICS[r.metric[i]],
            round(float(r.value[i]), metrics()[METRICS[r.metric[i]]].decimals),
            int(r.seq[i]) % 2**32,
            ts[i] + int(lag_us[i]),
        )
        for i in range(len(r))
    }
    assert len(rows) == 6
    assert set(rows) == expected


def revise_readings(r: Readings) -> Readings:
    """Values with more decimals than their metrics keep, a seq beyond 32 bits, and receive
    times 12.34 s late, 1 h late (saturated) and 5 min early."""
    n = len(r)
    lag = np.resize(np.array([12.34, 3600.0, -300.0]), n)
    return Readings(
        r.device,
        r.metric,
        r.seq + 2**33,
        r.ts,
        r.ts + lag,
        r.value + 0.0001234,
    )


def test_a_redelivered_message_is_stored_once_in_the_same_batch_or_a_later_one(
    ingest_dsn, registry, stream
):
    store = Store(ingest_dsn, registry, ReplayFilter())
    a, b = message(registry, stream, 10), message(registry, stream, 10)
    first = store.commit([a, b, a])
    assert (first.readings, first.duplicate_messages) == (60, 1)
    again = store.commit([b])
    assert (again.readings, again.duplicate_messages) == (0, 1)
    assert count(ingest_dsn, ROWS) == count(ingest_dsn, IDENTITIES) == 60


def test_a_replay_under_a_new_gateway_sequence_is_stored_once(ingest_dsn, registry, stream):
    """A gateway that resends readings in a new message: each reading is still stored once,
    whether the worker remembers the device (suspects only) or has just restarted (all)."""
    topic = stream.topic
    original = stream.batch(frames=20, now=time.time())
    replay = revise(original, gseq=original.gseq + 1)
    partial = revise(
        original,
        gseq=original.gseq + 2,
        dev=original.dev[:30],
        seq=original.seq[:30],
        ts=original.ts[:30],
        rx=original.rx[:30],
        metric=original.metric[:30],
        value=original.value[:30],
    )
    store = Store(ingest_dsn, registry, ReplayFilter())
    store.commit([checked(registry, topic, encode(original))])
    out = store.commit([checked(registry, topic, encode(replay))])
    assert (out.readings, out.duplicate_readings) == (0, 60)
    restarted = Store(ingest_dsn, registry, ReplayFilter())
    out = restarted.commit([checked(registry, topic, encode(partial))])
    assert (out.readings, out.duplicate_readings) == (0, 30)
    assert count(ingest_dsn, ROWS) == count(ingest_dsn, IDENTITIES) == 60


def test_readings_repeated_inside_one_batch_are_stored_once(ingest_dsn, registry, stream):
    original = stream.batch(frames=5, now=time.time())
    twice = revise(
        original,
        dev=original.dev * 2,
        seq=original.seq * 2,
        ts=original.ts * 2,
        rx=original.rx * 2,
        metric=original.metric * 2,
        value=original.value * 2,
    )
    out = Store(ingest_dsn, registry, ReplayFilter()).commit(
        [checked(registry, stream.topic, encode(twice))]
    )
    assert (out.readings, out.duplicate_readings) == (15, 15)
    assert count(ingest_dsn, ROWS) == 15


def test_a_message_the_database_refuses_is_dead_lettered_and_the_batch_goes_on(
    ingest_dsn, registry, stream
):
    """A device id PostgreSQL cannot store as text slipped into the registry (a bug elsewhere):
    its message (an event: readings carry the device's key, events its id) goes to the dead
    letters, the rest of the batch is stored."""
    snap = registry.snapshot
    gateways = [(gw, g.site) for gw, g in snap.gateways.items()]
    devices = [(d, "smoke", stream.gateway) for d in stream.devices]
    registry.apply(snap.version, gateways, [*devices, ("bad\x00id", "smoke", stream.gateway)])
    good = message(registry, stream, 4)
    now = time.time()
    alarm = Event(dev="bad\x00id", seq=1, ts=now, rx=now, kind="alarm", value=1.0, detail={})
    poison = EventBatch(gw=stream.gateway, gseq=99, sent=now, events=[alarm])
    bad = checked(registry, str(Topic.event(stream.site, stream.gateway)), encode(poison))
    out = Store(ingest_dsn, registry, ReplayFilter()).commit([good, bad])
    assert out.readings == 12
    assert out.dead_letters == {Reason.DATABASE_REFUSED: 1}
    assert count(ingest_dsn, ROWS) == 12
    reason = "select count(*) from dead_letters where reason = 'database_refused' and payload = %s"
    assert count(ingest_dsn, reason, bad.payload) == 1


def test_events_are_stored_once(ingest_dsn, registry, layout):
    gateway, devices = next(iter(layout.gateways.items()))
    topic = str(Topic.event(layout.site, gateway))
    now = time.time()
    alarm = Event(
        dev=devices[0], seq=1, ts=now, rx=now, kind="alarm", value=1.0, detail={"obscuration": 4.2}
    )
    first = EventBatch(gw=gateway, gseq=100, sent=now, events=[alarm, alarm])
    again = EventBatch(gw=gateway, gseq=101, sent=now + 1, events=[alarm])
    store = Store(ingest_dsn, registry, ReplayFilter())
    assert store.commit([checked(registry, topic, encode(first))]).events == 1
    assert store.commit([checked(registry, topic, encode(again))]).duplicate_events == 1
    with psycopg.connect(ingest_dsn) as conn:
        rows = conn.execute("select device_id, kind, value, detail from device_events").fetchall()
    assert rows == [(devices[0], "alarm", 1.0, {"obscuration": 4.2})]


def test_dead_letters_are_written_with_the_rows_and_not_again_on_redelivery(
    ingest_dsn, registry, stream
):
    batch = stream.batch(frames=3, now=time.time())
    bad = revise(batch, value=[999.0, *batch.value[1:]])
    m = checked(registry, stream.topic, encode(bad))
    store = Store(ingest_dsn, registry, ReplayFilter())
    store.commit([m])
    store.commit([m])
    assert count(ingest_dsn, ROWS) == 8
    assert count(ingest_dsn, "select count(*) from dead_letters where reason = 'out_of_range'") == 1


def test_an_unreachable_database_raises_and_stores_nothing(registry, stream):
    from ingest.store import DatabaseUnavailableError

    store = Store("postgresql://nobody@127.0.0.1:1/none", registry, ReplayFilter())
    with pytest.raises(DatabaseUnavailableError):
        store.commit([message(registry, stream, 1)])


def test_a_new_message_repeating_an_old_one_in_the_same_batch_stores_only_its_new_readings(
    ingest_dsn, registry, stream
):
    """The first copy of a reading in the batch belongs to a message ingested before: the
    reading is stored already, and the new message's own readings still go in."""
    topic = stream.topic
    old = stream.batch(frames=4, now=time.time())
    fresh = stream.batch(frames=2, now=time.time())
    mixed = revise(
        fresh,
        dev=old.dev + fresh.dev,
        seq=old.seq + fresh.seq,
        ts=old.ts + fresh.ts,
        rx=old.rx + fresh.rx,
        metric=old.metric + fresh.metric,
        value=old.value + fresh.value,
    )
    store = Store(ingest_dsn, registry, ReplayFilter())
    first = checked(registry, topic, encode(old))
    store.commit([first])
    out = Store(ingest_dsn, registry, ReplayFilter()).commit(
        [first, checked(registry, topic, encode(mixed))]
    )
    assert (out.duplicate_messages, out.readings, out.duplicate_readings) == (1, 6, 24)
    assert count(ingest_dsn, ROWS) == count(ingest_dsn, IDENTITIES) == 18


@pytest.mark.security
def test_a_reading_repeated_with_another_timestamp_is_stored_once(ingest_dsn, registry, stream):
    """Issue 14: identity is (device, seq, metric) (docs/protocol.md), not the time it claims;
    a gateway re-sending a frame with a shifted time must not store it again."""
    original = stream.batch(frames=5, now=time.time() - 60)
    topic = str(Topic.telemetry(stream.site, stream.gateway))
    shifted = revise(original, gseq=original.gseq + 1000, ts=[t + 7.5 for t in original.ts])
    inside = revise(
        original,
        gseq=original.gseq + 2000,
        dev=original.dev * 2,
        seq=original.seq * 2,
        ts=original.ts + [t - 3.0 for t in original.ts],
        rx=original.rx * 2,
        metric=original.metric * 2,
        value=original.value * 2,
    )
    store = Store(ingest_dsn, registry, ReplayFilter())
    out = store.commit([checked(registry, topic, encode(inside))])
    assert out.readings == len(original.dev)
    out = store.commit([checked(registry, topic, encode(shifted))])  # newer: not even suspected
    assert (out.readings, out.duplicate_readings) == (0, len(original.dev))
    restarted = Store(ingest_dsn, registry, ReplayFilter())  # no memory: the database decides
    out = restarted.commit([checked(registry, topic, encode(revise(shifted, gseq=3000)))])
    assert out.readings == 0
    assert count(ingest_dsn, ROWS) == count(ingest_dsn, IDENTITIES) == len(original.dev)
