"""Ingest's slots become the engine's, its metric codes pass as they are (one vocabulary); events
such as a button press follow."""

from __future__ import annotations

import numpy as np

from detectors import codes
from detectors.codes import METRIC_CODE
from detectors.engine import DetectorEngine
from detectors.registry import Device
from ingest.columns import Readings
from ingest.detection.stage import slot_map, translate, translate_run
from ingest.registry import Registry
from ingest.sink import ReadingBatch
from ingest.validate import EventRow
from vigil import device_types
from vigil.device_types import METRIC_CODE as INGEST_CODE
from vigil.frames import Frame


def test_ingest_and_the_detectors_share_one_vocabulary_of_metrics_and_types() -> None:
    assert codes.METRIC_CODE is device_types.METRIC_CODE  # the kernels' and ingest's decoder's
    assert codes.TYPE_CODE is device_types.TYPE_CODE
    assert codes.METRICS[codes.SMOKE] == "smoke_obscuration"
    assert codes.DEVICE_TYPES[codes.PIR_TYPE] == "pir"


def test_a_batch_keeps_watched_devices_and_carries_events_after_readings() -> None:
    reg = Registry()
    snapshot = reg.apply(
        3,
        [("gw-1", "s1")],
        [("sm-1", "smoke", "gw-1"), ("pb-1", "panic", "gw-1"), ("x-1", "smoke", "gw-1")],
    )
    # The engine watches the panic button and the smoke detector, in another order; not x-1.
    engine = DetectorEngine([Device("pb-1", "panic", "h1"), Device("sm-1", "smoke", "h1")])
    slots = slot_map(engine, snapshot.device_ids)
    assert slots.tolist() == [1, 0, -1]
    readings = Readings(
        np.array([0, 2, 0], np.int32),
        np.array(
            [INGEST_CODE["temperature"], INGEST_CODE["temperature"], INGEST_CODE["battery"]],
            np.int32,
        ),
        np.array([1, 1, 2], np.int64),
        np.array([10.0, 11.0, 12.0]),
        np.array([10.5, 11.5, 12.5]),
        np.array([21.0, 22.0, 3.0]),
    )
    events = (
        EventRow(1, "pb-1", 7, 13.0, 13.2, "button", 1.0, b"{}"),
        EventRow(0, "sm-1", 8, 14.0, 14.2, "alarm", 1.0, b"{}"),  # not a detector input
    )
    batch = ReadingBatch("gw-1", 5, 20.0, False, snapshot, readings, events)
    rows, rx = translate(batch, slots)
    assert rows.slot.tolist() == [1, 1, 0]
    assert rows.metric.tolist() == [
        METRIC_CODE["temperature"],
        METRIC_CODE["battery"],
        METRIC_CODE["button"],
    ]
    assert rows.ts.tolist() == [10.0, 12.0, 13.0]
    assert rows.value.tolist() == [21.0, 3.0, 1.0]
    assert rx.tolist() == [10.5, 12.5, 13.2]
    assert rows.received_at.tolist() == [20.0, 20.0, 20.0]
    alerts = engine.process(rows)
    assert [a.kind for a in alerts] == ["panic"]


def test_the_silence_button_of_a_kitchen_detector_reaches_the_engine_as_a_hush() -> None:
    assert Frame(dev="sm-1", type="smoke", seq=1, ts=1.0, e="hush").problem() is None
    assert Frame(dev="mu-1", type="multi", seq=1, ts=1.0, e="hush").problem() is None
    assert "unknown event" in (
        Frame(dev="h-1", type="heat", seq=1, ts=1.0, e="hush").problem() or ""
    )
    reg = Registry()
    snapshot = reg.apply(4, [("gw-1", "s1")], [("sm-1", "smoke", "gw-1")])
    engine = DetectorEngine([Device("sm-1", "smoke", "h1", "kitchen")])
    slots = slot_map(engine, snapshot.device_ids)
    none = np.zeros(0, np.int32)
    readings = Readings(none, none, np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0))
    events = (EventRow(0, "sm-1", 9, 30.0, 30.1, "hush", 1.0, b"{}"),)
    batch = ReadingBatch("gw-1", 6, 31.0, False, snapshot, readings, events)
    rows, _ = translate(batch, slots)
    assert rows.metric.tolist() == [METRIC_CODE["hush"]]
    [alert] = engine.process(rows)
    assert (alert.kind, alert.rule, alert.signal) == ("hush", "hush_button", "supervisory")
    assert "hushed for 10 min" in alert.reason
    assert alert.score == 600.0


def test_telemetry_messages_translated_as_one_run_give_the_rows_of_each_in_turn() -> None:
    snapshot = Registry().apply(
        5, [("gw-1", "s1")], [("sm-1", "smoke", "gw-1"), ("x-1", "smoke", "gw-1")]
    )
    engine = DetectorEngine([Device("sm-1", "smoke", "h1")])
    slots = slot_map(engine, snapshot.device_ids)
    temperature = INGEST_CODE["temperature"]

    def message(gseq: int, received: float, devices: list[int]) -> ReadingBatch:
        n = len(devices)
        ts = np.arange(n, dtype=np.float64) + 10.0 * gseq
        readings = Readings(
            np.array(devices, np.int32),
            np.full(n, temperature, np.int32),
            np.full(n, gseq, np.int64),
            ts,
            ts + 0.5,
            np.arange(n, dtype=np.float64) + 20.0 + gseq,
        )
        return ReadingBatch("gw-1", gseq, received, False, snapshot, readings, ())

    run = [message(1, 100.0, [0, 1, 0]), message(2, 101.0, [1]), message(3, 102.0, [0, 0])]
    rows, rx = translate_run(run, slots)
    one_by_one = [translate(b, slots) for b in run]
    for name in ("ts", "slot", "metric", "value", "received_at"):
        expected = np.concatenate([getattr(r, name) for r, _ in one_by_one])
        assert getattr(rows, name).tolist() == expected.tolist(), name
    assert rx.tolist() == np.concatenate([x for _, x in one_by_one]).tolist()
    assert rows.received_at.tolist() == [100.0, 100.0, 102.0, 102.0]  # x-1's rows are dropped
