"""A batch split by device between committing connections: each part claimed and committed alone."""

from __future__ import annotations

import signal
import time
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import psycopg
import pytest

from bench.loadgen import Layout, Publisher, forget_sessions, messages
from ingest.columns import Readings
from ingest.deadletter import DeadLetter, Reason
from ingest.dedup import ReplayFilter
from ingest.parts import Part, own, shares
from ingest.registry import Registry, RegistrySnapshot, device_part
from ingest.store import Store, prepare
from ingest.validate import Checked, EventRow, Window, check
from ingest.wire import parse
from tests.ingest.conftest import count, mixed_layout
from tests.ingest.test_process import ingest_process
from vigil.codec import decode_telemetry
from vigil.harness import free_port, wait_for
from vigil.settings import Settings

WINDOW = Window(max_future_s=300, max_age_s=7 * 86400)
ROWS = "select count(*) from readings"
IDENTITIES = "select count(distinct (device_id, seq, metric)) from readings"


def split_messages(
    messages: Sequence[Checked], snapshot: RegistrySnapshot, count: int
) -> list[list[Checked]]:
    """Each part's share of every message, without the columns."""
    return [
        [own(m, Part(k, count), snapshot) for m in share.messages]
        for k, share in enumerate(shares(messages, snapshot, count))
    ]


def decoded(registry: Registry, layout: Layout, count_: int) -> list[Checked]:
    return [
        check(parse(t, p), p, registry.snapshot, WINDOW, time.time())
        for t, p, _ in messages(layout, count=count_, frames=10)
    ]


def commit_part(dsn: str, registry: Registry, part: Part, shares: list[Checked]) -> int:
    store = Store(dsn, registry, ReplayFilter(), part)
    try:
        return store.commit(shares, prepare(shares, registry.snapshot)).readings
    finally:
        store.close()


@pytest.mark.stack
def test_each_reading_falls_in_its_devices_part_and_every_message_in_part_0(
    ingest_dsn, mixed_registry, mixed
):
    batch = decoded(mixed_registry, mixed, 6)
    shares = split_messages(batch, mixed_registry.snapshot, 2)
    of = mixed_registry.snapshot.part_of(2)
    assert [m.key for m in shares[0]] == [m.key for m in batch]
    for index, share in enumerate(shares):
        for m in share:
            assert np.all(of[m.readings.device] == index)
    assert sum(len(m.readings) for s in shares for m in s) == sum(len(m.readings) for m in batch)
    assert all(shares[1]), "part 1 holds readings of every message in a mixed layout"


@pytest.mark.stack
@pytest.mark.parametrize("parts", [1, 2, 3])
def test_a_shares_columns_are_its_messages_readings_and_prepare_the_same_from_either(
    ingest_dsn, mixed_registry, mixed, parts
):
    batch = decoded(mixed_registry, mixed, 6)
    for k, share in enumerate(shares(batch, mixed_registry.snapshot, parts)):
        owned = [own(m, Part(k, parts), mixed_registry.snapshot) for m in share.messages]
        joined = Readings.concat([m.readings for m in owned])
        for name in ("device", "metric", "seq", "ts", "rx", "value"):
            assert np.array_equal(getattr(share.readings, name), getattr(joined, name))
        assert share.counts.tolist() == [len(m.readings) for m in owned]
        given = prepare(share.messages, mixed_registry.snapshot, share.readings, share.counts)
        gathered = prepare(owned, mixed_registry.snapshot)
        assert np.array_equal(given.payload, gathered.payload)
        assert np.array_equal(given.message, gathered.message)
    with pytest.raises(ValueError, match="readings given"):
        prepare(batch, mixed_registry.snapshot, batch[0].readings)


@pytest.mark.stack
def test_parts_commit_alone_and_a_crash_between_them_loses_nothing_on_redelivery(
    ingest_dsn, mixed_registry, mixed
):
    batch = decoded(mixed_registry, mixed, 6)
    total = sum(len(m.readings) for m in batch)
    zero, one = split_messages(batch, mixed_registry.snapshot, 2)
    stored_zero = commit_part(ingest_dsn, mixed_registry, Part(0, 2), zero)
    # The worker "crashes" here: part 1 never committed, nothing was acknowledged.
    assert 0 < stored_zero < total
    assert count(ingest_dsn, ROWS) == stored_zero
    assert count(ingest_dsn, "select count(*) from ingested_messages where part = 1") == 0
    # The restarted worker (empty replay filters) gets every message again.
    zero, one = split_messages(batch, mixed_registry.snapshot, 2)
    assert commit_part(ingest_dsn, mixed_registry, Part(0, 2), zero) == 0
    assert commit_part(ingest_dsn, mixed_registry, Part(1, 2), one) == total - stored_zero
    assert count(ingest_dsn, ROWS) == total
    assert count(ingest_dsn, IDENTITIES) == total
    claims = "select count(*) from ingested_messages where parts = 2 and part = %s"
    assert count(ingest_dsn, claims, 0) == 6
    assert count(ingest_dsn, claims, 1) == 6
    # And a third delivery of everything, on both parts, changes nothing.
    zero, one = split_messages(batch, mixed_registry.snapshot, 2)
    assert commit_part(ingest_dsn, mixed_registry, Part(0, 2), zero) == 0
    assert commit_part(ingest_dsn, mixed_registry, Part(1, 2), one) == 0
    assert count(ingest_dsn, ROWS) == total


@pytest.mark.stack
def test_a_claim_of_another_split_does_not_hide_a_part(ingest_dsn, mixed_registry, mixed):
    """Claims made as part 0 of 1 (before this split, or with one committer) name the whole
    message; part 1 of 2 is other readings and is not taken for claimed."""
    batch = decoded(mixed_registry, mixed, 3)
    total = sum(len(m.readings) for m in batch)
    assert commit_part(ingest_dsn, mixed_registry, Part(0, 1), batch) == total
    one = split_messages(batch, mixed_registry.snapshot, 2)[1]
    # Not claimed as 1 of 2, so looked up reading by reading (the filter knows no device yet).
    assert commit_part(ingest_dsn, mixed_registry, Part(1, 2), one) == 0
    assert count(ingest_dsn, ROWS) == total


@pytest.mark.stack
def test_after_a_change_of_split_a_message_stored_before_is_not_stored_again(
    ingest_dsn, mixed_registry, mixed
):
    """Messages committed one by one with one committer, none acknowledged (a crash); the
    restarted worker has two committers, so no claim matches. The first redelivered message of
    a gateway teaches part 1's new replay filter its devices' older readings; the next,
    newer, must still be found stored, not taken for new."""
    batch = decoded(mixed_registry, mixed, 4)  # two messages per gateway, the same devices
    total = sum(len(m.readings) for m in batch)
    for m in batch:
        assert commit_part(ingest_dsn, mixed_registry, Part(0, 1), [m]) == len(m.readings)
    store = Store(ingest_dsn, mixed_registry, ReplayFilter(), Part(1, 2))
    try:
        for m in batch:
            share = split_messages([m], mixed_registry.snapshot, 2)[1]
            assert store.commit(share, prepare(share, mixed_registry.snapshot)).readings == 0
    finally:
        store.close()
    assert count(ingest_dsn, ROWS) == total


def _metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


@pytest.mark.stack
@pytest.mark.faults
def test_a_message_is_acknowledged_only_once_every_part_is_in_and_kill_9_between_parts(
    settings: Settings, ingest_dsn: str
):
    """Part 1 is held by a lock while part 0 commits; the worker is killed at that instant.
    Nothing may have been acknowledged, so the restarted worker gets every message again,
    skips part 0's share (claimed) and stores part 1's: every reading once."""
    layout = mixed_layout()
    layout.provision(ingest_dsn)
    items = messages(layout, count=30, frames=10)
    total = sum(n for _, _, n in items)
    part_zero = {d for ds in layout.gateways.values() for d in ds if device_part(d, 2) == 0}
    first = decode_telemetry(items[0][1])
    prefix = f"test-parts-{uuid.uuid4().hex[:8]}"
    port = free_port()
    claim = (
        "insert into ingested_messages (gateway_id, gateway_seq, sent, part, parts) values"
        " (%s, %s, timestamptz '1970-01-01 00:00:00+00' + %s * interval '1 microsecond', %s, %s)"
    )
    sent_us = round(first.sent * 1_000_000)
    with psycopg.connect(ingest_dsn, autocommit=True) as conn:  # the day's chunk, made now
        conn.execute(claim, ("warm-up", 0, sent_us, 0, 1))
    blocker = psycopg.connect(ingest_dsn)  # holds part 1's claim of the first message
    blocker.execute(claim, (first.gw, first.gseq, sent_us, 1, 2))
    try:
        with ingest_process(settings, ingest_dsn, prefix, metrics_port=port) as worker:
            publisher = Publisher(settings)
            publisher.publish((t, p) for t, p, _ in items)
            publisher.close()
            wait_for(lambda: count(ingest_dsn, ROWS) > 0, 30, "part 0 to commit")
            time.sleep(1.0)  # whatever part 0 can commit meanwhile, it does
            with psycopg.connect(ingest_dsn, autocommit=True) as conn:
                stored = {
                    str(r[0]) for r in conn.execute("select distinct device_id from readings")
                }
            assert stored <= part_zero, "only part 0's devices can be stored yet"
            assert count(ingest_dsn, "select count(*) from ingested_messages where part = 1") == 0
            assert _metric(port, 'vigil_ingest_messages_total{outcome="committed"}') == 0
            assert _metric(port, "vigil_ingest_pending_messages") == 30
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
        held = count(ingest_dsn, ROWS)
        assert 0 < held < total
        blocker.rollback()
        with ingest_process(settings, ingest_dsn, prefix):
            wait_for(lambda: count(ingest_dsn, ROWS) >= total, 60, "every reading stored")
            time.sleep(0.5)  # a duplicate would land now
    finally:
        blocker.close()
        forget_sessions(settings, f"{prefix}-0of1")
    assert count(ingest_dsn, ROWS) == total
    assert count(ingest_dsn, IDENTITIES) == total
    claims = "select count(*) from ingested_messages where parts = 2 and part = %s"
    assert count(ingest_dsn, claims, 0) == 30
    assert count(ingest_dsn, claims, 1) == 30


def _split_registry() -> tuple[Layout, RegistrySnapshot]:
    layout = mixed_layout(gateways=1, devices_per_gateway=6)
    devices = [
        (d, "smoke", g, i + 1) for g, ds in layout.gateways.items() for i, d in enumerate(ds)
    ]
    return layout, Registry().apply(1, [(g, layout.site) for g in layout.gateways], devices)


def test_a_share_holds_plain_messages_whole_and_its_own_copy_of_one_with_events_or_dead_letters():
    layout, snapshot = _split_registry()
    now = time.time()
    batch = [check(parse(t, p), p, snapshot, WINDOW, now) for t, p, _ in messages(layout, 4, 6)]
    of = snapshot.part_of(2)
    slots = {int(of[s]): s for s in range(len(snapshot.device_ids))}  # a device of each part
    press = [
        EventRow(slots[k], snapshot.device_ids[slots[k]], 1, now, now, "press", 1.0, b"{}")
        for k in (0, 1)
    ]
    letter = DeadLetter.of(batch[1].topic, Reason.OUT_OF_RANGE, "1 reading", b"", 1)
    batch[1] = replace(batch[1], events=press, dead=[letter])
    for k, share in enumerate(shares(batch, snapshot, 2)):
        assert [m.key for m in share.messages] == [m.key for m in batch]
        assert [m is b for m, b in zip(share.messages, batch, strict=True)] == [1, 0, 1, 1]
        copy = share.messages[1]
        assert copy.events == [press[k]]
        assert copy.dead == ([letter] if k == 0 else [])
        assert np.all(of[copy.readings.device] == k)
        owned = [own(m, Part(k, 2), snapshot) for m in share.messages]
        assert share.counts.tolist() == [len(m.readings) for m in owned]
        assert all(np.all(of[m.readings.device] == k) for m in owned)
        assert owned[1].events == [press[k]]
        given = prepare(share.messages, snapshot, share.readings, share.counts)
        assert np.array_equal(given.payload, prepare(owned, snapshot).payload)
