"""The SMS carrier answering 503 for a minute while alarms come in, and the notifier killed
(SIGKILL) and restarted in the middle of it: the notifier backs off and keeps the messages;
when the carrier returns each SMS arrives once."""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import Pipeline
from vigil.harness import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.faults]

OUTAGE_S = 60.0


def test_a_minute_of_carrier_errors_delays_sms_and_loses_none(pipeline: Pipeline) -> None:
    carrier = pipeline.carrier
    carrier.fail_for(OUTAGE_S)
    began = time.monotonic()
    feeder = pipeline.feeder.start()
    feeder.press()
    wait_for(lambda: carrier.refused > 0, 60, "a refused attempt")
    feeder.press()
    time.sleep(10)
    pipeline.notifier.kill()  # mid-outage, perhaps mid-attempt
    pipeline.notifier.start()
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - began) - 3))
    assert carrier.messages == [], "nothing gets through while the carrier refuses"
    assert pipeline.books().outbox_sms_open > 0, "the messages wait in the outbox"
    feeder.press()
    feeder.stop()
    books = pipeline.settle(timeout=90)
    assert books.panic_incidents == 3
    attempts = pipeline.one("select max(attempts) from notification_outbox where channel = 'sms'")
    assert attempts >= 2
