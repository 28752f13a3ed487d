"""PostgreSQL stopped for 10 s and started again under a steady stream: ingest keeps its batch
and retries, alerting and the notifier reconnect, and the books balance without anyone's help.

10 s is twice the longest wait of ingest's retries (vigil.backoff, capped at 5 s) and the
suite's notifier lease, so every service retries at its cap before the database returns."""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import Pipeline
from vigil.harness import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.faults]

OUTAGE_S = 10.0


def test_a_database_restart_loses_nothing_and_doubles_nothing(pipeline: Pipeline) -> None:
    feeder = pipeline.feeder.start()
    feeder.press()
    wait_for(lambda: pipeline.books().carrier_sms > 0, 60, "the first SMS")
    pipeline.stack.stop_postgres()
    try:
        feeder.press()  # an alarm while the database is away
        time.sleep(OUTAGE_S)
    finally:
        pipeline.stack.start_postgres()
    feeder.press()
    time.sleep(2)
    feeder.stop()
    books = pipeline.settle()
    assert books.panic_incidents == 3
    for service in pipeline.services.values():
        assert service.proc is not None, service.name
        assert service.proc.poll() is None, service.name
