"""Mosquitto stopped and started again under a steady stream: the gateway holds its backlog on
disk, ingest's persistent session resumes, and the books balance without anyone's help."""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import Pipeline
from vigil.harness import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.faults]

OUTAGE_S = 5.0


def test_a_broker_restart_loses_nothing_and_doubles_nothing(pipeline: Pipeline) -> None:
    feeder = pipeline.feeder.start()
    feeder.press()
    wait_for(lambda: pipeline.books().readings > 0, 60, "the first readings")
    pipeline.stack.stop_mqtt()
    try:
        feeder.press()  # an alarm while the broker is away
        time.sleep(OUTAGE_S)
    finally:
        pipeline.stack.start_mqtt()
    feeder.press()
    time.sleep(2)
    feeder.stop()
    books = pipeline.settle()
    assert books.panic_incidents == 3
    assert pipeline.ingest.proc is not None
    assert pipeline.ingest.proc.poll() is None
