"""The broker-facing assumptions the design rests on, checked against the real Mosquitto."""

from __future__ import annotations

import time
import uuid

import pytest

from bench.loadgen import Publisher, broker_port, forget_session
from ingest.consumer import BrokerConfig, Consumer, Delivery
from ingest.inbox import Inbox
from ingest.metrics import Counters
from vigil.harness import wait_for
from vigil.settings import Settings

pytestmark = pytest.mark.stack


def consumer(settings: Settings, client_id: str, window: int) -> tuple[Consumer, Inbox[Delivery]]:
    inbox: Inbox[Delivery] = Inbox(2**26)
    config = BrokerConfig(
        host=settings.mqtt_host,
        port=broker_port(settings),
        username=settings.mqtt_username,
        password=settings.mqtt_password.get_secret_value(),
        client_id=client_id,
        receive_window=window,
        session_expiry_s=300,
    )
    return Consumer(config, inbox, Counters()), inbox


def drain(inbox: Inbox[Delivery]) -> list[Delivery]:
    got = []
    while (item := inbox.get(timeout=0)) is not None:
        got.append(item)
    return got


@pytest.mark.usefixtures("stack")
def test_unacknowledged_messages_stop_at_the_window_and_come_back_after_a_restart(
    settings: Settings,
):
    topic = f"vigil/v1/w{uuid.uuid4().hex[:8]}/gw-1/up/telemetry"
    client_id = f"test-window-{uuid.uuid4().hex[:8]}"
    first, inbox = consumer(settings, client_id, window=5)
    first.subscribe([topic])
    first.start()
    try:
        assert first.wait_subscribed(10)
        publisher = Publisher(settings)
        publisher.publish((topic, b"%d" % i) for i in range(30))
        publisher.close()
        wait_for(lambda: len(inbox) >= 5, 10, "the first window")
        time.sleep(0.5)
        held = drain(inbox)
        assert [d.payload for d in held] == [b"%d" % i for i in range(5)]
        # Acknowledgements reopen the window. (Mosquitto 2.0.11 then sends more than the two
        # freed places, hence the inbox's own byte bound.)
        first.ack(held[:2])
        wait_for(lambda: len(inbox) >= 2, 10, "more after two acks")
        time.sleep(0.5)
        assert [d.payload for d in drain(inbox)][:2] == [b"5", b"6"]
    finally:
        first.stop()
    # The three never acknowledged, and everything behind them, arrive on the next session.
    second, inbox = consumer(settings, client_id, window=100)
    second.subscribe([topic])
    second.start()
    try:
        wait_for(lambda: len(inbox) >= 28, 10, "the backlog")
        again = drain(inbox)
        assert sorted(int(d.payload) for d in again) == list(range(2, 30))
        second.ack(again)
    finally:
        second.stop()
        forget_session(settings, client_id)
