"""`kill -9` of the alerting service while alerts arrive, one raised while it is down, and a
restart: every alert becomes one incident, each notified once. (An escalation timer across a
SIGKILL is tests/alerting/test_restarts.py.)"""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import Pipeline
from vigil.harness import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.faults]


def test_kill_9_of_alerting_loses_no_incident_and_doubles_none(pipeline: Pipeline) -> None:
    feeder = pipeline.feeder.start()
    feeder.press()
    wait_for(lambda: pipeline.books().panic_incidents == 1, 60, "the first incident")
    feeder.press()
    time.sleep(0.05)  # its alert on the way, perhaps mid-triage
    pipeline.alerting.kill()
    feeder.press()  # alert stored, nobody to triage it
    wait_for(lambda: pipeline.books().panic_alerts == 3, 30, "the alerts while alerting is down")
    pipeline.alerting.start()
    feeder.press()
    time.sleep(1)
    feeder.stop()
    books = pipeline.settle()
    assert books.panic_incidents == 4
