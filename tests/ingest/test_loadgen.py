"""The load generator stays a faithful gateway: valid batches, device time never ahead of the
clock, QoS 1 with every PUBACK awaited, also past packet id 65535 and across a lost connection."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from bench.loadgen import Layout, Publisher, broker_port, round_robin, streams
from vigil.codec import decode_telemetry
from vigil.harness import wait_for
from vigil.settings import Settings


def test_device_time_never_runs_ahead_of_the_clock_however_fast_messages_are_made():
    gens = streams(Layout.make("lg", 2, 7))
    start = time.time()
    last: dict[str, float] = {}
    seqs: dict[str, int] = {}
    for _ in range(50):  # 2,000 frames a gateway in well under two seconds
        now = time.time()
        for topic, payload, n in round_robin(gens, 5, 8, now):
            batch = decode_telemetry(payload)
            assert n == len(batch) == 24
            assert topic.endswith(f"/{batch.gw}/up/telemetry")
            assert max(batch.ts) <= now
            assert max(batch.rx) <= batch.sent <= now
            for dev, seq, ts in zip(batch.dev, batch.seq, batch.ts, strict=True):
                if dev in last and seq != seqs[dev]:  # the next frame of the device
                    assert ts > last[dev]
                    assert seq == seqs[dev] + 1
                last[dev], seqs[dev] = ts, seq
    assert min(last.values()) >= start - 0.1


def test_a_slow_stream_spaces_frames_a_millisecond_apart_as_gateways_do():
    gen = streams(Layout.make("lg", 1, 3))[0]
    first, second = gen.batches(2, 4, 1_000_000.0)
    assert [first.gseq, second.gseq] == [1, 2]
    ts = sorted(set(first.ts + second.ts))
    assert ts == pytest.approx([1_000_000.0 - 0.001 * k for k in range(8, 0, -1)])
    assert second.sent == 1_000_000.0
    assert first.seq == [1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2]
    assert first.dev[:3] == ["lg-gw0-sd0"] * 3


class Subscriber:
    """Collects every payload published on a topic filter."""

    def __init__(self, settings: Settings, topic_filter: str) -> None:
        self.topic = topic_filter
        self.payloads: list[bytes] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(
            settings.mqtt_username, settings.mqtt_password.get_secret_value()
        )
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_connect = lambda c, *_: c.subscribe(topic_filter, qos=1)
        self.client.connect(settings.mqtt_host, broker_port(settings))
        self.client.loop_start()
        assert self._subscribed.wait(10)

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.payloads.append(bytes(msg.payload))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def subscriber(stack: object, settings: Settings) -> Iterator[Subscriber]:
    sub = Subscriber(settings, f"vigil/v1/lg{uuid.uuid4().hex[:8]}/gw-1/up/telemetry")
    try:
        yield sub
    finally:
        sub.close()


@pytest.mark.stack
def test_every_message_is_delivered_with_a_window_smaller_than_a_write(
    settings: Settings, subscriber: Subscriber
):
    publisher = Publisher(settings, window=3)
    publisher._mid = 65_530  # the packet ids wrap around to 1 on the way
    publisher.publish(((subscriber.topic, b"%d" % i) for i in range(40)), timeout=10)
    publisher.flush(10)
    assert publisher.sent == 40
    assert publisher.refused == 0
    publisher.close()
    wait_for(lambda: len(subscriber.payloads) >= 40, 10, "the messages")
    assert subscriber.payloads == [b"%d" % i for i in range(40)]


@pytest.mark.stack
def test_messages_in_flight_when_the_connection_drops_are_sent_again(
    settings: Settings, subscriber: Subscriber
):
    publisher = Publisher(settings, window=500)
    wait_for(publisher.client.is_connected, 10, "the publisher's connection")
    head, topic = bytes(4000), subscriber.topic
    publisher.publish((topic, head + b"%d" % i) for i in range(400))
    sock = publisher.client.socket()
    assert isinstance(sock, socket.socket)
    sock.shutdown(socket.SHUT_RDWR)  # lost, as a broker restart or a network fault would
    publisher.publish((topic, head + b"%d" % i) for i in range(400, 500))
    publisher.flush(30)
    assert publisher.connections == 2
    publisher.close()
    wait_for(lambda: len(set(subscriber.payloads)) >= 500, 15, "every message")
    assert {p[4000:] for p in subscriber.payloads} == {b"%d" % i for i in range(500)}
