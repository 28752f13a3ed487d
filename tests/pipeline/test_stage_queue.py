"""The detector stage's queue: events ahead of telemetry, each kind in order, each bounded."""

from __future__ import annotations

import threading

from ingest.columns import EMPTY
from ingest.detection.stage import GatewayStatusChange, Item, StageQueue
from ingest.registry import Registry
from ingest.sink import ReadingBatch
from ingest.validate import EventRow

SNAPSHOT = Registry().apply(1, [("gw-1", "s1")], [("pb-1", "panic", "gw-1")])


def batch(gseq: int, *, event: bool) -> ReadingBatch:
    events = (EventRow(0, "pb-1", gseq, 1.0, 1.0, "button", 1.0, b"{}"),) if event else ()
    return ReadingBatch("gw-1", gseq, 1.0, False, SNAPSHOT, EMPTY, events)


def test_events_overtake_queued_telemetry_and_each_kind_keeps_its_order() -> None:
    queue = StageQueue(maxsize=10)
    status = GatewayStatusChange("gw-1", online=False, ts=1.0)
    items: list[Item] = [batch(1, event=False), status, batch(2, event=True), batch(3, event=False)]
    items.append(batch(4, event=True))
    for item in items:
        assert queue.put(item, timeout=0)
    out = [queue.get(timeout=0) for _ in items]
    assert out == [items[2], items[4], items[0], items[1], items[3]]
    assert queue.empty()
    assert queue.get(timeout=0.01) is None


def test_a_full_kind_waits_for_room_without_holding_up_the_other() -> None:
    queue = StageQueue(maxsize=1)
    assert queue.put(batch(1, event=False), timeout=0)
    assert not queue.put(batch(2, event=False), timeout=0.01)
    assert queue.put(batch(3, event=True), timeout=0)  # an alarm still gets in
    late = batch(4, event=False)
    waiting = threading.Thread(target=queue.put, args=(late, 10.0))
    waiting.start()
    assert queue.get(timeout=0) is not None  # the event
    assert queue.get(timeout=0) is not None  # the first telemetry: room for the waiting one
    waiting.join(10)
    assert queue.get(timeout=1) is late


def test_telemetry_queued_in_a_row_is_taken_as_one_run_up_to_a_status_or_an_event() -> None:
    queue = StageQueue(maxsize=10)
    status = GatewayStatusChange("gw-1", online=False, ts=1.0)
    other = Registry().apply(2, [("gw-1", "s1")], [("pb-1", "panic", "gw-1")])
    later = ReadingBatch("gw-1", 9, 1.0, False, other, EMPTY, ())
    items: list[Item] = [batch(1, event=False), batch(2, event=False), batch(3, event=False)]
    items += [status, batch(4, event=False), later]
    for item in items:
        assert queue.put(item, timeout=0)
    first = queue.get(timeout=0)
    assert first is not None
    assert queue.following(first, limit=2) == items[:2]  # the limit
    runs = []
    while (taken := queue.get(timeout=0)) is not None:
        runs.append(queue.following(taken, limit=10))
    # A status ends a run, and so does another registry snapshot.
    assert runs == [[items[2]], [status], [items[4]], [later]]


def test_an_event_waiting_ends_a_run_of_telemetry() -> None:
    queue = StageQueue(maxsize=10)
    telemetry = [batch(1, event=False), batch(2, event=False)]
    for item in telemetry:
        assert queue.put(item, timeout=0)
    first = queue.get(timeout=0)
    assert first is not None
    assert queue.put(batch(3, event=True), timeout=0)
    assert queue.following(first, limit=10) == [first]
    event = queue.get(timeout=0)
    assert isinstance(event, ReadingBatch)
    assert event.events
    assert queue.following(event, limit=10) == [event]  # an event is scored on its own
