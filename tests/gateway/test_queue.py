"""The disk queue: order, acknowledgement, persistence of gseq, and what a full queue drops."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.queue import DiskQueue, Lane, QueueFullError


def payload(size: int = 10) -> bytes:
    return b"x" * size


def fill(q: DiskQueue, lane: Lane, n: int, size: int = 10) -> list[int]:
    return [q.put(lane, f"t/{lane.name}", lambda g: payload(size)).gseq for _ in range(n)]


def test_gseq_counts_across_lanes_from_one(tmp_path: Path) -> None:
    q = DiskQueue(tmp_path / "q.sqlite")
    seen = []
    for lane in (Lane.TELEMETRY, Lane.EVENT, Lane.TELEMETRY):
        item = q.put(lane, "t", lambda g: str(g).encode())
        seen.append(item.gseq)
        assert item.payload == str(item.gseq).encode()  # the message carries its own gseq
    assert seen == [1, 2, 3]


def test_pending_is_per_lane_in_order_and_ack_removes(tmp_path: Path) -> None:
    q = DiskQueue(tmp_path / "q.sqlite")
    fill(q, Lane.TELEMETRY, 3)
    fill(q, Lane.EVENT, 2)
    events = q.pending(Lane.EVENT, 0, 10)
    telemetry = q.pending(Lane.TELEMETRY, 0, 10)
    assert [i.gseq for i in events] == [4, 5]
    assert [i.gseq for i in telemetry] == [1, 2, 3]
    assert [i.gseq for i in q.pending(Lane.TELEMETRY, telemetry[0].id, 1)] == [2]
    q.ack([telemetry[1].id, events[0].id, 999_999])
    assert q.rows == 3
    assert q.bytes == 30
    assert [i.gseq for i in q.pending(Lane.TELEMETRY, 0, 10)] == [1, 3]


def test_a_reopened_queue_keeps_messages_and_never_reuses_a_gseq(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    q = DiskQueue(path)
    fill(q, Lane.TELEMETRY, 3)
    q.ack([i.id for i in q.pending(Lane.TELEMETRY, 0, 10)])  # all sent and acknowledged
    fill(q, Lane.EVENT, 1)
    q.close()
    q = DiskQueue(path)
    assert (q.rows, q.bytes) == (1, 10)
    assert [i.gseq for i in q.pending(Lane.EVENT, 0, 10)] == [4]
    assert fill(q, Lane.TELEMETRY, 1) == [5]


def test_a_full_queue_drops_the_oldest_telemetry_and_never_an_event(tmp_path: Path) -> None:
    q = DiskQueue(tmp_path / "q.sqlite", max_rows=10)
    fill(q, Lane.TELEMETRY, 4)  # gseq 1-4
    fill(q, Lane.EVENT, 3)  # 5-7
    fill(q, Lane.TELEMETRY, 6)  # 8-13: three too many
    assert q.rows == 10
    assert q.dropped_telemetry == 3
    assert [i.gseq for i in q.pending(Lane.TELEMETRY, 0, 99)] == [4, 8, 9, 10, 11, 12, 13]
    fill(q, Lane.EVENT, 7)  # events push out all telemetry, then exceed the bound
    assert [i.gseq for i in q.pending(Lane.EVENT, 0, 99)] == [5, 6, 7, *range(14, 21)]
    assert q.pending(Lane.TELEMETRY, 0, 99) == []
    assert q.dropped_telemetry == 10
    fill(q, Lane.EVENT, 1)
    assert q.rows == 11  # events are kept beyond the bound rather than lost
    fill(q, Lane.TELEMETRY, 1)  # the newest telemetry is also the oldest: it goes
    assert q.rows == 11
    assert q.dropped_telemetry == 11


def test_the_byte_bound_drops_as_much_telemetry_as_it_needs(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    q = DiskQueue(path, max_bytes=100)
    fill(q, Lane.TELEMETRY, 10, size=10)  # exactly full
    assert q.dropped_telemetry == 0
    fill(q, Lane.EVENT, 1, size=35)  # needs four telemetry messages' room
    assert q.bytes == 95
    assert q.dropped_telemetry == 4
    q.close()
    assert DiskQueue(path, max_bytes=100).dropped_telemetry == 4  # persisted for the status


def test_a_failed_build_stores_nothing_and_uses_no_gseq(tmp_path: Path) -> None:
    q = DiskQueue(tmp_path / "q.sqlite")

    def broken(gseq: int) -> bytes:
        raise ValueError("cannot encode")

    with pytest.raises(ValueError, match="cannot encode"):
        q.put(Lane.TELEMETRY, "t", broken)
    assert q.rows == 0
    assert fill(q, Lane.TELEMETRY, 1) == [1]


def test_a_queue_without_room_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="room for at least one"):
        DiskQueue(tmp_path / "q.sqlite", max_rows=0)


def test_a_full_disk_gives_up_the_oldest_telemetry_and_never_an_event(tmp_path: Path) -> None:
    q = DiskQueue(tmp_path / "q.sqlite")
    pages = q._db.execute("pragma page_count").fetchone()[0]
    q._db.execute(f"pragma max_page_count = {pages + 40}")  # SQLITE_FULL, as a full disk gives
    fill(q, Lane.TELEMETRY, 400, size=1000)  # far more than 40 pages hold: the oldest go
    assert q.dropped_telemetry > 0
    kept = q.pending(Lane.TELEMETRY, 0, 1000)
    assert [k.gseq for k in kept] == list(range(401 - len(kept), 401))
    events: list[int] = []
    try:  # events push out telemetry, then are refused ...
        for _ in range(1000):
            events += fill(q, Lane.EVENT, 1, size=1000)
    except QueueFullError:
        pass
    else:
        raise AssertionError("the disk never ran out for events")
    assert q.pending(Lane.TELEMETRY, 0, 1000) == []
    assert [e.gseq for e in q.pending(Lane.EVENT, 0, 1000)] == events  # ... none given up
    dropped = q.dropped_telemetry
    with pytest.raises(QueueFullError):
        fill(q, Lane.TELEMETRY, 1, size=1000)
    assert q.dropped_telemetry == dropped + 1  # a telemetry message with no room is counted
    q.ack([e.id for e in q.pending(Lane.EVENT, 0, 50)])  # sent at last: room again
    assert fill(q, Lane.EVENT, 1, size=1000)
    q.close()
    again = DiskQueue(tmp_path / "q.sqlite")
    assert again.dropped_telemetry == dropped + 1  # the count survives a restart
    again.close()
