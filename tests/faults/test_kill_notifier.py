"""`kill -9` of the notifier mid-send: the carrier has taken the message but the notifier dies
before it hears back. The restarted notifier claims the row again when its lease runs out and
sends it with the same idempotency key, so the carrier keeps one message, not two."""

from __future__ import annotations

import pytest

from tests.faults.conftest import Pipeline
from vigil.harness import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.faults]


def test_kill_9_of_the_notifier_mid_send_sends_each_sms_once(pipeline: Pipeline) -> None:
    carrier = pipeline.carrier
    feeder = pipeline.feeder.start()
    feeder.press()
    wait_for(lambda: pipeline.books().outbox_sms > 0 and carrier.messages, 60, "the first SMS")
    wait_for(lambda: pipeline.books().outbox_sms_open == 0, 60, "the first SMS sent")
    carrier.answer_delay_s = 10.0  # the carrier takes the next message and keeps us waiting
    accepted = len(carrier.messages)
    feeder.press()
    wait_for(lambda: len(carrier.messages) > accepted, 60, "the carrier to take the message")
    pipeline.notifier.kill()  # mid-send: taken by the carrier, not yet recorded as sent
    carrier.answer_delay_s = 0.0
    posts_before = len(carrier.posts)
    pipeline.notifier.start()
    feeder.press()
    feeder.stop()
    books = pipeline.settle(timeout=120)
    assert books.panic_incidents == 3
    repeats = len(carrier.posts) - len(set(carrier.posts))
    assert repeats >= 1, "the interrupted message was sent again (and the carrier kept one)"
    assert len(carrier.posts) > posts_before
