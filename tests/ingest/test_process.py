"""`vigil ingest run` as a process: a clean stop on SIGTERM, a clear refusal of a bad partition.
(Its faults, kill -9 mid-stream and the database away, are tests/faults/.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bench.loadgen import Layout, forget_sessions
from vigil.harness import free_port, healthy, wait_for
from vigil.settings import REPO_ROOT, Settings

pytestmark = pytest.mark.stack


@contextmanager
def ingest_process(
    settings: Settings, dsn: str, client_prefix: str, metrics_port: int | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """`vigil ingest run` as deployed, a process of its own; yields once it is connected."""
    port = metrics_port or free_port()
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
        wait_for(lambda: healthy(port), 30, "the worker to report healthy")
        time.sleep(0.5)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_sigterm_stops_the_worker_cleanly(settings: Settings, ingest_dsn: str, layout: Layout):
    prefix = f"test-term-{uuid.uuid4().hex[:8]}"
    try:
        with ingest_process(settings, ingest_dsn, prefix) as proc:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0
    finally:
        forget_sessions(settings, f"{prefix}-0of1")


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
