"""Issue 14, a bad day, shortened: ingest is gone while the district keeps reporting, so the
broker holds a backlog in ingest's persistent sessions; then the broker itself is restarted
with that backlog. Its persistence file stays within the queues' byte bounds, and when ingest
returns every reading and every press is stored once (the books balance). The issue's full case
(a worker gone for 10 minutes under `bench-latency`'s load, alarms meanwhile through a second
worker) is `make bench-worker-gone` (13 minutes, docs/faults.md); this is the same path —
backlog, restart, resume — in seconds.
"""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import Pipeline
from vigil.harness import wait_for
from vigil.stack import MAX_QUEUED_BYTES

pytestmark = [pytest.mark.stack, pytest.mark.faults, pytest.mark.security]

BACKLOG_S = 8.0  # thousands of readings at the feeder's pace: over the 1000 asserted below
SESSIONS = 4  # ingest's telemetry and events lanes, its status and detector clients at most


def test_a_broker_restarted_with_a_backlog_keeps_it_bounded_and_loses_nothing(
    pipeline: Pipeline,
) -> None:
    feeder = pipeline.feeder.start(period=0.02)
    feeder.press()
    wait_for(lambda: pipeline.books().panic_alerts == 1, 60, "the first alert")
    pipeline.ingest.kill()
    feeder.press()  # alarms while ingest is gone: queued on its events session
    time.sleep(BACKLOG_S)
    feeder.press()
    time.sleep(1)
    queued = feeder.sent_readings - pipeline.books().readings
    assert queued > 1000, f"only {queued} readings in the backlog"
    pipeline.stack.stop_mqtt()  # Mosquitto writes its persistence file on the way down
    saved = pipeline.stack.paths.mqtt_data / "mosquitto.db"
    assert saved.exists()
    assert saved.stat().st_size < SESSIONS * MAX_QUEUED_BYTES
    pipeline.stack.start_mqtt()
    pipeline.ingest.start()
    feeder.press()
    time.sleep(2)
    feeder.stop()
    books = pipeline.settle(timeout=180.0)
    assert books.panic_incidents == 4
    print(f"backlog {queued} readings, broker file {saved.stat().st_size} bytes")
