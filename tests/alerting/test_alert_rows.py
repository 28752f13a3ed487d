"""The detector stage's hand-over: real detector alerts written and turned into an incident."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from alerting import store
from alerting.policies import PolicyBook
from alerting.triage import triage_pending
from detectors.alert import Alert
from detectors.engine import DetectorEngine
from detectors.registry import Device
from ingest.detection.alerts import write_alerts
from tests.alerting.fix_alerting import seed

pytestmark = pytest.mark.stack


def test_a_panic_press_through_the_detector_engine_opens_an_incident(
    conn: psycopg.Connection[Any], policy_dir: Path
) -> None:
    seed(conn)
    engine = DetectorEngine([Device("pb-1", "panic", "h1", "bedroom", gateway_id="gw-1")])
    pressed = time.time()
    batch, rejected = engine.encode(
        ["pb-1"], ["button"], np.array([pressed]), np.array([1.0]), np.array([pressed + 0.02])
    )
    assert len(rejected) == 0
    alerts = engine.process(batch)
    assert [a.kind for a in alerts] == ["panic"]
    conn.execute("listen vigil_alert")
    [alert_id] = write_alerts(conn, alerts, gateway_ts={"pb-1": pressed + 0.01})
    assert [n.payload for n in conn.notifies(timeout=2, stop_after=1)] == [str(alert_id)]
    [iid] = triage_pending(conn, PolicyBook(policy_dir), now=datetime.now(UTC))
    row = store.load(conn, iid)
    assert (row.cause, row.signal, row.severity) == ("panic", "alarm", 5)
    assert row.hops["device"] == pytest.approx(pressed, abs=1e-3)
    assert row.hops["gateway"] == pytest.approx(pressed + 0.01, abs=1e-3)
    assert row.hops["ingest"] == pytest.approx(pressed + 0.02, abs=1e-3)
    evidence = store.get_detail(conn, iid).alerts[0]["evidence"]
    assert evidence["rule"] == "panic_press"


def test_bad_alerts_are_refused_before_anything_is_written(
    conn: psycopg.Connection[Any],
) -> None:
    good = Alert(
        ts=time.time(),
        device_id="pb-1",
        household_id=None,
        kind="panic",
        signal="alarm",
        severity=5,
        score=1.0,
        reason="r",
        rule="panic_press",
    )
    bad = Alert(
        ts=time.time(),
        device_id="pb-1",
        household_id=None,
        kind="panic",
        signal="emergency",
        severity=5,
        score=1.0,
        reason="r",
        rule="x",
    )
    with pytest.raises(ValueError, match="signal must be one of"):
        write_alerts(conn, [good, bad])
    count = conn.execute("select count(*) from alerts").fetchone()
    assert count is not None
    assert count[0] == 0
    no_arrival = Alert(
        ts=time.time(),
        device_id="pb-1",
        household_id=None,
        kind="panic",
        signal="alarm",
        severity=5,
        score=float("nan"),
        reason="r",
        rule="x",
    )
    [alert_id] = write_alerts(conn, [no_arrival])
    assert alert_id > 0


def test_an_alert_decided_again_after_a_redelivery_is_written_once(
    conn: psycopg.Connection[Any],
) -> None:
    pressed = time.time()
    alert = Alert(
        ts=pressed, device_id="pb-1", household_id=None, kind="panic", signal="alarm",
        severity=5, score=1.0, reason="r", rule="panic_press",
    )  # fmt: skip
    later = Alert(
        ts=pressed + 5, device_id="pb-1", household_id=None, kind="panic", signal="alarm",
        severity=5, score=1.0, reason="r", rule="panic_press",
    )  # fmt: skip
    [first] = write_alerts(conn, [alert])
    conn.execute("listen vigil_alert")
    [second] = write_alerts(conn, [alert, later])  # the first again, after an ingest crash
    assert second != first
    assert [n.payload for n in conn.notifies(timeout=1, stop_after=2)] == [str(second)]
    rows = conn.execute("select id from alerts order by id").fetchall()
    assert [r[0] for r in rows] == [first, second]
