"""Packing closed chunks (`vigil.db.packing`): smaller, idempotent, safe beside ingest."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from bench.loadgen import GatewayStream, Layout
from ingest.dedup import ReplayFilter
from ingest.maintenance import maintain_once
from ingest.registry import Registry
from ingest.store import Store
from ingest.validate import Checked, Window, check
from ingest.wire import parse
from tests.ingest.conftest import count
from vigil.db.packing import MARK, pack_closed_chunks
from vigil.db.timescale import Retention

pytestmark = pytest.mark.stack

NOW = datetime.now(UTC)
TODAY = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
CLOSED_DAY = TODAY - timedelta(days=2)
WINDOW = Window(max_future_s=300, max_age_s=40 * 86400)
# Rows in the order ingest writes them: time order, every device's entries growing at once
# (devices with keys of their own, not in the registry).
FILL = """
insert into reading_rows (time, device, value, seq, metric, rx_cs)
select %(start)s + (i / 3) * interval '20 ms', 100000 + (i / 3) %% 500, 21.5, i / 1500, i %% 3, 5
from generate_series(0, %(n)s - 1) as i
"""
# Every B-tree of reading_rows' chunks: its chunk's start, size, file and comment.
BTREES = """
select c.range_start, x.relname, pg_relation_size(x.oid), x.relfilenode,
       coalesce(obj_description(x.oid, 'pg_class'), ''), x.reloptions
from timescaledb_information.chunks c
join pg_index i on i.indrelid = format('%I.%I', c.chunk_schema, c.chunk_name)::regclass
join pg_class x on x.oid = i.indexrelid join pg_am a on a.oid = x.relam
where c.hypertable_name = 'reading_rows' and a.amname = 'btree' order by 1, 2
"""


def fill(dsn: str, start: datetime, n: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(FILL, {"start": start, "n": n})


def btrees(dsn: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return list(conn.execute(BTREES).fetchall())


def pack(dsn: str, now: datetime = NOW) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return pack_closed_chunks(conn, now)


def first_gateway(layout: Layout, gseq: int = 0) -> GatewayStream:
    gateway, devices = next(iter(layout.gateways.items()))
    return GatewayStream(layout.site, gateway, devices, gseq=gseq)


def messages(layout: Layout, registry: Registry, at: float, n: int, gseq: int = 0) -> list[Checked]:
    """`n` messages of five frames (15 readings) from the layout's first gateway, device times
    from `at`; the same readings again for the same `at`, under gateway sequence numbers from
    `gseq`."""
    return continued(first_gateway(layout, gseq), registry, at, n)


def continued(stream: GatewayStream, registry: Registry, at: float, n: int) -> list[Checked]:
    out = []
    for k in range(n):
        topic, payload, _ = stream.message(5, now=at + k)
        out.append(check(parse(topic, payload), payload, registry.snapshot, WINDOW, at + k))
    return out


def loaded_registry(dsn: str) -> Registry:
    registry = Registry()
    with psycopg.connect(dsn, autocommit=True) as conn:
        registry.load(conn)
    return registry


def test_a_closed_chunks_btree_is_rebuilt_full_and_the_current_chunk_left_alone(ingest_dsn: str):
    fill(ingest_dsn, CLOSED_DAY + timedelta(hours=1), 150_000)
    fill(ingest_dsn, TODAY, 150_000)
    (closed_before, current_before) = btrees(ingest_dsn)
    assert pack(ingest_dsn) == 1
    closed, current = btrees(ingest_dsn)
    assert current == current_before
    assert closed[1] == closed_before[1]  # the same name: TimescaleDB's catalog still finds it
    assert str(closed[4]).startswith(MARK)
    assert closed[5] == ["fillfactor=100"]
    # 150,000 rows of 500 devices: 6.9 bytes a row packed (nine posting lists of 132 row ids
    # to a page, the most a B-tree build puts in one), 8.5 or so as written.
    assert int(str(closed[2])) < 7.0 * 150_000 < 0.85 * int(str(closed_before[2]))


def test_packing_twice_does_nothing_the_second_time(ingest_dsn: str):
    fill(ingest_dsn, CLOSED_DAY, 30_000)
    assert pack(ingest_dsn) == 1
    first = btrees(ingest_dsn)
    assert pack(ingest_dsn) == 0
    assert btrees(ingest_dsn) == first


def test_a_chunk_is_packed_only_an_hour_after_it_closed(ingest_dsn: str):
    fill(ingest_dsn, TODAY - timedelta(hours=2), 30_000)
    assert pack(ingest_dsn, TODAY + timedelta(minutes=30)) == 0
    assert pack(ingest_dsn, TODAY + timedelta(minutes=61)) == 1


def test_a_packed_chunk_takes_late_readings_and_still_drops_replays(
    ingest_dsn: str, layout: Layout
):
    fill(ingest_dsn, CLOSED_DAY, 30_000)
    assert pack(ingest_dsn) == 1
    registry = loaded_registry(ingest_dsn)
    at = (CLOSED_DAY + timedelta(hours=3)).timestamp()
    store = Store(ingest_dsn, registry, ReplayFilter())
    assert store.commit(messages(layout, registry, at, 20)).readings == 300
    store.close()
    # The same readings under new gateway sequence numbers, to a worker just started: each
    # device's are looked up in the packed index, and found.
    fresh = Store(ingest_dsn, registry, ReplayFilter())
    outcome = fresh.commit(messages(layout, registry, at, 20, gseq=1000))
    fresh.close()
    assert (outcome.readings, outcome.duplicate_readings) == (0, 300)
    assert count(ingest_dsn, "select count(*) from readings") == 300


def device_rows(dsn: str, key: int) -> tuple[int, int]:
    """A device's rows (found through the device index, found by reading the whole heap)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("set enable_seqscan = off")
        conn.execute("set enable_bitmapscan = off")
        query = "select count(*) from reading_rows where device = %s"
        plan = " ".join(str(r[0]) for r in conn.execute(f"explain {query}", (key,)).fetchall())
        assert "_reading_rows_device" in plan, plan
        by_index = conn.execute(query, (key,)).fetchone()
        by_heap = conn.execute(
            "select count(*) from reading_rows where device + 0 = %s", (key,)
        ).fetchone()
    assert by_index is not None
    assert by_heap is not None
    return int(by_index[0]), int(by_heap[0])


def test_ingest_writes_into_a_chunk_while_it_is_packed(ingest_dsn: str, layout: Layout):
    """Late rows committed during REINDEX CONCURRENTLY are all in the rebuilt index."""
    fill(ingest_dsn, CLOSED_DAY, 400_000)
    registry = loaded_registry(ingest_dsn)
    store = Store(ingest_dsn, registry, ReplayFilter())
    at = (CLOSED_DAY + timedelta(hours=5)).timestamp()
    stream = first_gateway(layout)
    batches = [continued(stream, registry, at + 10 * b, 5) for b in range(40)]
    stored = 0
    committed_at: list[float] = []
    errors: list[BaseException] = []
    started = threading.Event()

    def ingest() -> None:
        nonlocal stored
        try:
            for batch in batches:
                started.set()
                stored += store.commit(batch).readings
                committed_at.append(time.monotonic())
        except BaseException as exc:  # the test reports it
            errors.append(exc)
            started.set()

    writer = threading.Thread(target=ingest)
    writer.start()
    started.wait(10)
    try:
        began = time.monotonic()
        assert pack(ingest_dsn) == 1
        ended = time.monotonic()
    finally:
        writer.join(60)
        store.close()
    assert not errors
    assert stored == 40 * 5 * 15
    assert any(began < t < ended for t in committed_at), "no commit landed during the rebuild"
    for device in next(iter(layout.gateways.values())):  # 1,000 frames over four devices
        key = count(ingest_dsn, "select key from devices where id = %s", device)
        assert device_rows(ingest_dsn, key) == (750, 750)


def test_a_cut_short_rebuild_is_cleaned_up_by_the_next_pass(ingest_dsn: str):
    fill(ingest_dsn, CLOSED_DAY, 30_000)
    ((_, name, *_),) = btrees(ingest_dsn)
    with (
        psycopg.connect(ingest_dsn, autocommit=True) as reader,
        psycopg.connect(ingest_dsn, autocommit=True) as packer,
    ):
        # A long read: REINDEX CONCURRENTLY waits for its snapshot, its new index built but
        # not yet valid, and is cancelled there by its statement timeout.
        reader.execute("begin isolation level repeatable read")
        reader.execute("select count(*) from reading_rows")
        packer.execute("set statement_timeout = '1s'")
        with pytest.raises(psycopg.errors.QueryCanceled):
            pack_closed_chunks(packer, NOW)
        reader.execute("rollback")
    left = btrees(ingest_dsn)
    assert sorted(str(r[1]) for r in left) == [name, f"{name}_ccnew"]
    assert not any(str(r[4]) for r in left)  # neither is marked packed
    assert pack(ingest_dsn) == 1
    ((_, after, _, _, comment, _),) = btrees(ingest_dsn)
    assert after == name
    assert str(comment).startswith(MARK)


def test_nothing_is_packed_or_dropped_while_another_session_packs(ingest_dsn: str):
    fill(ingest_dsn, CLOSED_DAY, 30_000)
    before = btrees(ingest_dsn)
    with psycopg.connect(ingest_dsn, autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(%s)", (0x5649504B,))
        assert pack(ingest_dsn) == 0
        assert btrees(ingest_dsn) == before
        # Released here, not by the close: the server drops a closed session's locks a moment
        # later, and a pass in that moment still finds the lock held (seen under load).
        holder.execute("select pg_advisory_unlock(%s)", (0x5649504B,))
    assert pack(ingest_dsn) == 1


def test_maintenance_packs_closed_chunks_once(ingest_dsn: str, layout: Layout):
    registry = loaded_registry(ingest_dsn)
    Store(ingest_dsn, registry, ReplayFilter()).commit(
        messages(layout, registry, (CLOSED_DAY + timedelta(hours=1)).timestamp(), 3)
    )
    with psycopg.connect(ingest_dsn, autocommit=True) as conn:
        first = maintain_once(conn, Retention(30, 730, 8), NOW)
        second = maintain_once(conn, Retention(30, 730, 8), NOW)
    assert first is not None
    assert second is not None
    assert (first.packed_indexes, second.packed_indexes) == (1, 0)
