"""The SMS carrier answering 503 while alarms come in, and the notifier killed (SIGKILL) and
restarted in the middle of it: the notifier backs off and keeps the messages; when the carrier
returns each SMS arrives once.

The outage is 20 s, not the issue's minute: with the suite's retry cap (2 s) and lease (5 s,
tests/faults/conftest.py) it already spans many capped retries and the restarted notifier's
takeover of the killed one's claim, which is all a minute exercised. The full minute runs in
simulated time against Alibaba Cloud SMS (tests/faults/test_cloud_faults.py)."""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import Pipeline
from vigil.harness import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.faults]

OUTAGE_S = 20.0  # 10 retry caps, 4 leases
KILL_AFTER_S = 5.0  # the notifier's kill, this long after the first refusal


def test_carrier_errors_delay_sms_and_lose_none(pipeline: Pipeline) -> None:
    carrier = pipeline.carrier
    carrier.fail_for(OUTAGE_S)
    began = time.monotonic()
    feeder = pipeline.feeder.start()
    feeder.press()
    wait_for(lambda: carrier.refused > 0, 60, "a refused attempt")
    feeder.press()
    time.sleep(KILL_AFTER_S)
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
