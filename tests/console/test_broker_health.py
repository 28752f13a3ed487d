"""The broker's bounds (issue 14, 7 and 8): packet size, queues by bytes, abandoned sessions,
and the operators told when it sheds messages."""

from __future__ import annotations

import threading
import uuid

import paho.mqtt.client as mqtt
import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ingest.broker_watch import DROPPED_TOPIC, STORE_BYTES_TOPIC, BrokerWatch
from vigil.settings import Settings
from vigil.stack import MAX_QUEUED_BYTES, LocalStack

pytestmark = [pytest.mark.security]


@pytest.mark.stack
def test_the_broker_runs_with_byte_bounded_queues_and_expiring_sessions(
    stack: LocalStack, settings: Settings
) -> None:
    conf = stack.paths.mqtt_conf.read_text()
    assert "max_queued_bytes 0" not in conf
    assert f"max_queued_bytes {MAX_QUEUED_BYTES}" in conf
    assert "persistent_client_expiration 7d" in conf
    assert "max_packet_size " in conf
    # The figures the console's alert comes from are published by this broker.
    got: dict[str, bytes | bytearray] = {}
    said: list[str] = []  # what the broker answered, for the failure message
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}")
    client.username_pw_set(settings.mqtt_username, settings.mqtt_password.get_secret_value())

    def on_connect(c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        said.append(f"connect: {reason}")
        c.subscribe([(DROPPED_TOPIC, 0), (STORE_BYTES_TOPIC, 0)])

    def on_subscribe(
        _c: mqtt.Client, _u: object, _m: int, codes: list[ReasonCode], _p: Properties
    ) -> None:
        said.append(f"subscribe: {[str(r) for r in codes]}")

    def on_message(_c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        got[m.topic] = m.payload
        if len(got) == 2:
            done.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect("127.0.0.1", settings.stack_mqtt_port)
    client.loop_start()
    try:
        # Retained, so they come at once when the broker has published them; a broker started
        # (or restarted by a fault test) moments ago publishes them within one sys_interval.
        assert done.wait(35), f"only {sorted(got)} of the broker's $SYS figures came; {said}"
    finally:
        client.loop_stop()
        client.disconnect()
    assert int(got[DROPPED_TOPIC]) >= 0


def test_a_rise_in_the_dropped_count_is_a_drop_and_a_restart_is_not() -> None:
    watch = BrokerWatch("b:1")
    watch.on_sys(DROPPED_TOPIC, b"5", now=100.0)
    assert watch.figures.last_drop is None  # the count it started with says nothing
    watch.on_sys(DROPPED_TOPIC, b"9", now=200.0)
    assert watch.figures.last_drop == 200.0
    watch.on_sys(DROPPED_TOPIC, b"0", now=300.0)  # the broker restarted
    assert watch.figures.last_drop == 200.0
    watch.on_sys(STORE_BYTES_TOPIC, b"not a number", now=400.0)
    assert watch.figures.store_bytes is None


@pytest.mark.stack
def test_shedding_shows_on_the_device_health_page(
    console_app: FastAPI, console_dsn: str, clients: dict[str, TestClient]
) -> None:
    watch = BrokerWatch("127.0.0.1:1883")
    watch.on_sys(DROPPED_TOPIC, b"10")
    watch.on_sys(DROPPED_TOPIC, b"250")
    watch.on_sys(STORE_BYTES_TOPIC, b"1048576")
    with psycopg.connect(console_dsn, autocommit=True) as conn:
        watch.write(conn)
    try:
        [broker] = clients["op"].get("/api/devices/health").json()["brokers"]
        assert broker["shedding"] is True
        assert (broker["dropped"], broker["store_bytes"]) == (250, 1048576)
    finally:
        with psycopg.connect(console_dsn, autocommit=True) as conn:
            conn.execute("delete from broker_health")
