"""`kill -9` of the ingest worker mid-stream, a press arriving while it is down, and a restart
(as systemd or compose would): the broker kept the unacknowledged messages, ingest stores each
once, and the detectors raise each press once."""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import Pipeline
from vigil.harness import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.faults]


def test_kill_9_of_ingest_loses_nothing_and_doubles_nothing(pipeline: Pipeline) -> None:
    feeder = pipeline.feeder.start()
    feeder.press()
    wait_for(lambda: pipeline.books().panic_alerts == 1, 60, "the first alert")
    feeder.press()  # in flight when the worker dies
    pipeline.ingest.kill()
    stored_at_kill = pipeline.books().readings
    feeder.press()  # while ingest is down
    time.sleep(2)
    assert pipeline.books().readings == stored_at_kill, "nothing is stored while ingest is down"
    pipeline.ingest.start()
    feeder.press()
    time.sleep(2)
    feeder.stop()
    books = pipeline.settle()
    assert books.panic_incidents == 4
    assert stored_at_kill < books.readings
