"""The broker's bounds (issue 14, 7 and 8): packet size, queues by bytes, abandoned sessions,
and the operators told when it sheds messages."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from ingest.broker_watch import DROPPED_TOPIC, STORE_BYTES_TOPIC, BrokerWatch
from vigil.harness import free_port, stop_process, wait_for, wait_for_port
from vigil.stack import MAX_QUEUED_BYTES, MOSQUITTO, LocalStack

pytestmark = [pytest.mark.security]


@pytest.mark.stack
def test_the_broker_runs_with_byte_bounded_queues_and_expiring_sessions(stack: LocalStack) -> None:
    conf = stack.paths.mqtt_conf.read_text()
    assert "max_queued_bytes 0" not in conf
    assert f"max_queued_bytes {MAX_QUEUED_BYTES}" in conf
    assert "persistent_client_expiration 7d" in conf
    assert "max_packet_size " in conf


@contextlib.contextmanager
def small_broker(tmp: Path) -> Iterator[int]:
    """A Mosquitto of its own whose sessions hold 3 messages, with $SYS every second: its
    dropping is cheap to cause (the stack's holds 256 MiB)."""
    port = free_port()
    conf = tmp / "small.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "sys_interval 1\nmax_queued_messages 3\nmax_inflight_messages 1\nlog_dest none\n"
    )
    broker = subprocess.Popen([MOSQUITTO, "-c", str(conf)])
    try:
        wait_for_port(port)
        yield port
    finally:
        stop_process(broker)


def test_a_real_broker_shedding_is_seen_as_a_drop(tmp_path: Path) -> None:
    """Mosquitto publishes the dropped count only when it changes: the first count ingest's
    watch ever sees is the drop itself, and must count as one."""
    watch = BrokerWatch("small")
    with small_broker(tmp_path) as port:
        idle = mqtt.Client(CallbackAPIVersion.VERSION2, "idle", clean_session=False)
        idle.connect("127.0.0.1", port)
        idle.subscribe("work", 1)
        idle.loop(1.0)
        idle.disconnect()  # a persistent session, gone: its queue fills, then sheds
        watcher = mqtt.Client(CallbackAPIVersion.VERSION2, "watcher")
        watcher.on_connect = lambda c, *_: c.subscribe([(DROPPED_TOPIC, 0), (STORE_BYTES_TOPIC, 0)])
        watcher.on_message = lambda _c, _u, m: watch.on_sys(
            m.topic, bytes(m.payload), retained=bool(m.retain)
        )
        watcher.connect("127.0.0.1", port)
        watcher.loop_start()
        try:
            time.sleep(1.5)  # a sys_interval with nothing dropped: no count comes
            assert watch.figures.last_drop is None
            sender = mqtt.Client(CallbackAPIVersion.VERSION2, "sender")
            sender.connect("127.0.0.1", port)
            sender.loop_start()
            for i in range(10):
                sender.publish("work", str(i), qos=1).wait_for_publish(5)
            sender.disconnect()
            sender.loop_stop()
            wait_for(lambda: watch.figures.last_drop, 10, "the broker's dropped count")
        finally:
            watcher.loop_stop()
            watcher.disconnect()
    assert watch.figures.dropped is not None
    assert watch.figures.dropped >= 7
    assert watch.figures.store_bytes is not None


def test_a_rise_in_the_dropped_count_is_a_drop_and_a_restart_is_not() -> None:
    watch = BrokerWatch("b:1")
    watch.on_sys(DROPPED_TOPIC, b"5", now=100.0, retained=True)
    assert watch.figures.last_drop is None  # where the count stood before we watched
    watch.on_sys(DROPPED_TOPIC, b"9", now=200.0)
    assert watch.figures.last_drop == 200.0
    watch.on_sys(DROPPED_TOPIC, b"0", now=300.0)  # the broker restarted
    assert watch.figures.last_drop == 200.0
    watch.on_sys(STORE_BYTES_TOPIC, b"not a number", now=400.0)
    assert watch.figures.store_bytes is None
    fresh = BrokerWatch("b:2")
    fresh.on_sys(DROPPED_TOPIC, b"0", now=10.0)  # a broker's first count: nothing dropped
    assert fresh.figures.last_drop is None
    fresh.on_sys(DROPPED_TOPIC, b"3", now=20.0)
    assert fresh.figures.last_drop == 20.0
    live = BrokerWatch("b:3")  # no count seen before: a live one is a change, from 0
    live.on_sys(DROPPED_TOPIC, b"4", now=30.0)
    assert live.figures.last_drop == 30.0


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
