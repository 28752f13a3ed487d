"""Faults mid-stream: the worker killed with SIGKILL, PostgreSQL stopped for 20 seconds."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from ingest.loadgen import Layout, Publisher, forget_session, messages
from tests.ingest.conftest import count, running_ingest, wait_until
from vigil.settings import REPO_ROOT, Settings
from vigil.stack import LocalStack

pytestmark = [pytest.mark.stack, pytest.mark.faults]

ROWS = "select count(*) from readings"
IDENTITIES = "select count(distinct (device_id, seq, metric)) from readings"


def publish_paced(
    settings: Settings, items: list[tuple[str, bytes, int]], seconds: float
) -> threading.Thread:
    """Publish `items` evenly over `seconds` in a background thread, as live gateways would."""

    def run() -> None:
        publisher = Publisher(settings)
        pause = seconds / len(items)
        for topic, payload, _ in items:
            publisher.publish([(topic, payload)])
            time.sleep(pause)
        publisher.close()

    thread = threading.Thread(target=run, name="test-publisher")
    thread.start()
    return thread


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthy(port: int) -> bool:
    """The worker's /healthz passes: connected to the broker and the database, loop turning."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return bool(json.load(r)["status"] == "ok")
    except OSError:
        return False


def forget_sessions(settings: Settings, prefix: str) -> None:
    """A single worker's two sessions (telemetry and events lanes)."""
    for client_id in (f"{prefix}-0of1", f"{prefix}-0of1-events"):
        forget_session(settings, client_id)


@contextmanager
def ingest_process(
    settings: Settings, dsn: str, client_prefix: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`vigil ingest run` as deployed, a process of its own; yields once it is connected."""
    port = free_port()
    env = {
        **os.environ,
        "VIGIL_DATABASE_URL": dsn,
        "VIGIL_STACK_PG_PORT": str(settings.stack_pg_port),
        "VIGIL_STACK_MQTT_PORT": str(settings.stack_mqtt_port),
        "VIGIL_INGEST_BATCH_DEADLINE_S": "0.05",
        "VIGIL_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vigil.cli",
            "ingest",
            "run",
            "--client-prefix",
            client_prefix,
            "--metrics-port",
            str(port),
        ],
        env=env,
        cwd=REPO_ROOT,
    )
    try:
        wait_until(lambda: healthy(port), 30, "the worker to report healthy")
        time.sleep(0.5)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_kill_9_mid_stream_then_restart_loses_nothing_and_stores_nothing_twice(
    settings: Settings, ingest_dsn: str, layout: Layout
):
    items = messages(layout, count=300, frames=10)
    total = sum(n for _, _, n in items)
    prefix = f"test-kill-{uuid.uuid4().hex[:8]}"
    try:
        with ingest_process(settings, ingest_dsn, prefix) as first:
            publisher = publish_paced(settings, items, seconds=4.0)
            wait_until(lambda: count(ingest_dsn, ROWS) > total // 4, 30, "a quarter stored")
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        killed_at = count(ingest_dsn, ROWS)
        assert killed_at < total, "the stream ended before the kill; nothing was tested"
        publisher.join(60)
        with ingest_process(settings, ingest_dsn, prefix):
            wait_until(lambda: count(ingest_dsn, ROWS) >= total, 60, "every reading stored")
            time.sleep(0.5)  # a duplicate would land now
    finally:
        forget_sessions(settings, prefix)
    assert count(ingest_dsn, ROWS) == total
    assert count(ingest_dsn, IDENTITIES) == total
    assert count(ingest_dsn, "select count(*) from ingested_messages") == 300


def test_postgres_stopped_for_20_s_mid_stream_loses_nothing_and_ingest_recovers_alone(
    settings: Settings, stack: LocalStack, ingest_dsn: str, layout: Layout
):
    items = messages(layout, count=400, frames=10)
    total = sum(n for _, _, n in items)
    with running_ingest(settings, ingest_dsn) as service:
        publisher = publish_paced(settings, items, seconds=8.0)
        wait_until(lambda: service.counters.readings > total // 5, 30, "a fifth stored")
        stack.stop_postgres()
        try:
            wait_until(lambda: not service.counters.database_up, 20, "ingest to notice")
            time.sleep(20)
            held = service.counters.readings
        finally:
            stack.start_postgres()
        assert held < total, "the stream ended before the outage; nothing was tested"
        publisher.join(60)
        wait_until(lambda: service.counters.readings >= total, 90, "the backlog after recovery")
        assert service.counters.database_up
    assert count(ingest_dsn, ROWS) == total
    assert count(ingest_dsn, IDENTITIES) == total


def test_sigterm_stops_the_worker_cleanly(settings: Settings, ingest_dsn: str, layout: Layout):
    prefix = f"test-term-{uuid.uuid4().hex[:8]}"
    try:
        with ingest_process(settings, ingest_dsn, prefix) as proc:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0
    finally:
        forget_sessions(settings, prefix)


def test_a_bad_partition_is_refused_with_a_clear_message():
    result = subprocess.run(
        [sys.executable, "-m", "vigil.cli", "ingest", "run", "--partition", "2/2"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "partition 2/2" in result.stderr
