"""Live status folding, and the triggers that keep status writes from counting as registry edits."""

from __future__ import annotations

import time

import numpy as np
import psycopg
from hypothesis import given
from hypothesis import strategies as st

from ingest.columns import Readings
from ingest.liveness import FOLD_BATCHES, DeviceFold, GatewayState, Liveness, _gateway_rows
from ingest.registry import Registry
from ingest.validate import Checked
from ingest.wire import MessageKey
from vigil.device_types import METRIC_CODE


def test_the_fold_keeps_the_newest_time_and_battery_per_device() -> None:
    fold = DeviceFold()
    fold.add(np.array([2, 0, 2], np.int32), np.array([10.0, 5.0, 7.0]))
    fold.add_readings([_batteries([2, 2, 0], [9.0, 8.0, 5.0], [2.7, 2.9, 3.0])])
    slots, seen, battery = fold.take()
    assert slots.tolist() == [0, 2]
    assert seen.tolist() == [5.0, 10.0]
    assert battery == [3.0, 2.7]
    fold.written(slots)
    fold.add_readings([_batteries([2], [8.5], [2.5])])  # older battery; time not newer either
    assert fold.take()[0].tolist() == [2]
    assert fold.take()[2] == [2.7]
    fold.written(np.array([2]))
    fold.add(np.array([1], np.int32), np.array([4.0]))
    slots, seen, battery = fold.take()
    assert (slots.tolist(), seen.tolist(), battery) == ([1], [4.0], [None])


def _batteries(device: list[int], ts: list[float], value: list[float]) -> Readings:
    n = len(device)
    return Readings(
        np.array(device, np.int32),
        np.full(n, METRIC_CODE["battery"], np.int32),
        np.arange(n, dtype=np.int64),
        np.array(ts),
        np.array(ts),
        np.array(value),
    )


def _reference_fold(
    batches: list[Readings], seen: dict[int, float], battery: dict[int, tuple[float, float]]
) -> None:
    """What a fold does, reading by reading: the newest time; of the fold's battery readings
    per device the newest (the later of equals), kept if newer than the one held."""
    newest: dict[int, tuple[float, float]] = {}
    for r in batches:
        for d, m, t, v in zip(
            r.device.tolist(), r.metric.tolist(), r.ts.tolist(), r.value.tolist(), strict=True
        ):
            seen[d] = max(seen.get(d, t), t)
            if m == METRIC_CODE["battery"] and (d not in newest or t >= newest[d][0]):
                newest[d] = (t, v)
    for d, (t, v) in newest.items():
        if d not in battery or t > battery[d][0]:
            battery[d] = (t, v)


@given(
    st.lists(
        st.lists(
            st.tuples(
                st.integers(0, 5),
                st.sampled_from([METRIC_CODE["battery"], METRIC_CODE["temperature"]]),
                st.integers(0, 4).map(float),  # few times: equal times are common
                st.integers(0, 9).map(float),
            ),
            max_size=8,
        ),
        max_size=4,
    ),
    st.integers(1, 3),
)
def test_the_folds_kernel_does_what_the_reference_does(rows, folds):
    fold = DeviceFold()
    seen: dict[int, float] = {}
    battery: dict[int, tuple[float, float]] = {}
    batches = [
        Readings(
            np.array([r[0] for r in b], np.int32),
            np.array([r[1] for r in b], np.int32),
            np.zeros(len(b), np.int64),
            np.array([r[2] for r in b], np.float64),
            np.array([r[2] for r in b], np.float64),
            np.array([r[3] for r in b], np.float64),
        )
        for b in rows
    ]
    for k in range(folds):  # the batches over several folds, each written between them
        part = batches[k::folds]
        fold.add_readings(part)
        _reference_fold(part, seen, battery)
        slots, newest, volts = fold.take()
        fold.written(slots)
        for slot, t in zip(slots.tolist(), newest.tolist(), strict=True):
            assert t == seen[slot]
        for slot, v in zip(slots.tolist(), volts, strict=True):
            assert v == (battery[slot][1] if slot in battery else None)
    assert set(np.flatnonzero(~np.isnan(fold.seen)).tolist()) == set(seen)


def _message(gateway: str, device: list[int], ts: list[float], battery: list[float]) -> Checked:
    readings = _batteries(device, ts, battery)
    return Checked("t", b"", MessageKey(gateway, 1, 0.0), 0, readings, [], [])


def test_a_batch_handed_over_with_its_readings_folds_as_one_gathered_from_its_messages() -> None:
    messages = [
        _message("gw-1", [0, 1], [5.0, 6.0], [3.0, 2.9]),
        _message("gw-2", [1, 2], [7.0, 1.0], [2.8, 3.1]),
    ]
    folded = []
    for handed in (None, Readings.concat([m.readings for m in messages])):
        liveness = Liveness("postgresql://unused", Registry(), 5.0, 60.0)
        liveness.committed(messages, handed)
        liveness.fold()
        slots, seen, battery = liveness._devices.take()
        folded.append((slots.tolist(), seen.tolist(), battery, sorted(liveness._heard)))
    assert folded[0] == folded[1] == ([0, 1, 2], [5.0, 7.0, 1.0], [3.0, 2.8, 3.1], ["gw-1", "gw-2"])


def test_committed_batches_are_folded_once_a_few_wait_not_held_until_the_next_write() -> None:
    """What waits for the fold stays bounded under a steady stream: it held every batch of
    `interval_s` (5 s of the stream, with its payloads) and ingest's RSS swung by 100 MB."""
    liveness = Liveness("postgresql://127.0.0.1:1/unused", Registry(), 3600.0, 3600.0)
    liveness.start()
    try:
        for k in range(10 * FOLD_BATCHES):
            liveness.committed([_message("gw-1", [k], [float(k)], [3.0])])
        deadline = time.monotonic() + 5.0
        while len(liveness._pending) >= FOLD_BATCHES and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(liveness._pending) < FOLD_BATCHES
    finally:
        liveness.close()
    # Folded, not lost: every device's time is there for the next write.
    assert liveness._devices.seen.tolist() == list(range(10 * FOLD_BATCHES))


def test_gateway_rows_merge_status_and_traffic() -> None:
    rows = _gateway_rows(
        ["a", "b", "c"],
        {"a": GatewayState(True, 100.0, 100.0), "b": GatewayState(False, 50.0, None)},
        {"a": 120.0, "c": 90.0},
    )
    assert rows == (
        ["a", "b", "c"],
        ["online", "offline", None],
        [100.0, 50.0, None],
        [120.0, None, 90.0],
    )


def test_status_columns_are_not_registry_changes_but_registry_columns_are(
    ingest_dsn: str,
) -> None:
    with psycopg.connect(ingest_dsn, autocommit=True) as conn:

        def version() -> int:
            row = conn.execute("select version from registry_version").fetchone()
            assert row is not None
            return int(row[0])

        conn.execute("insert into sites (id, name) values ('s1', 'site')")
        conn.execute("insert into gateways (id, site_id, mqtt_username) values ('g1', 's1', 'g1')")
        conn.execute(
            "insert into devices (id, device_type, gateway_id) values ('d1', 'smoke', 'g1')"
        )
        device, gateway = ("d1",), ("g1",)
        before = version()
        conn.execute("update devices set last_seen = now(), battery_v = 3 where id = %s", device)
        conn.execute(
            "update gateways set status = 'offline', status_since = now(), last_seen = now() "
            "where id = %s",
            gateway,
        )
        assert version() == before
        conn.execute("update devices set room = 'hall' where id = %s", device)
        assert version() == before + 1
        conn.execute("update gateways set building_id = null where id = %s", gateway)
        assert version() == before + 2
        conn.execute("update households set away_until = now() where true")
        assert version() == before + 3
