"""Issue 6's end-to-end test: a panic press in the simulator reaches the console stream and the
family's SMS, through a real gateway process, the broker, ingest with its detector stage, the
alerting service, the notifier (demo SMS provider) and the web app's live stream."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from websockets.sync.client import ClientConnection, connect

from bench.alerting import live_headers
from bench.loadgen import forget_session
from firmware_sim.district import District, build_district, seed
from firmware_sim.gateways import GatewayFleet
from firmware_sim.link import GatewayLink, socket_path
from firmware_sim.runner import RunConfig, Runner
from tests.fix_stack import scratch_var
from vigil.harness import free_port, healthy, wait_for, wait_for_port
from vigil.settings import Settings
from vigil.stack import LocalStack

pytestmark = pytest.mark.stack

SEED = 21
PLAYED_S = 2700.0  # the district's last 45 minutes: the scenario's press falls 15-30 min in


@pytest.fixture
def district(migrated_db: str) -> tuple[str, District]:
    district = build_district(SEED, 1, 16)
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        seed(conn, district)
    return migrated_db, district


@pytest.fixture
def pipeline(
    district: tuple[str, District], settings: Settings, stack: LocalStack
) -> Iterator[tuple[str, int]]:
    """ingest (with detectors), alerting, the notifier and the web app as processes; yields the
    database and the web app's port once ingest is subscribed."""
    dsn, _ = district
    ingest_port, web_port = free_port(), free_port()
    prefix = f"t-sim-{uuid.uuid4().hex[:8]}"
    with scratch_var() as var:
        env = {
            **os.environ,
            "VIGIL_DATABASE_URL": dsn,
            "VIGIL_VAR_DIR": str(var),
            "VIGIL_MQTT_PORT": str(settings.stack_mqtt_port),
            "VIGIL_SMS_PROVIDER": "demo",
            "VIGIL_METRICS_PORT": "0",
        }
        commands = [
            ["ingest", "run", "--client-prefix", prefix, "--metrics-port", str(ingest_port)],
            ["alerting", "run"],
            ["notifier", "run"],
            ["console", "run", "--port", str(web_port)],
        ]
        procs = []
        for i, cmd in enumerate(commands):
            log = (var / f"proc{i}.log").open("w")
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "vigil.cli", *cmd], env=env, stdout=log, stderr=log
                )
            )
        try:
            wait_for(lambda: healthy(ingest_port), 60, "ingest to be healthy")
            time.sleep(1.0)  # both sessions' subscriptions confirmed
            yield dsn, web_port
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
            for client_id in (f"{prefix}-0of1", f"{prefix}-0of1-events"):
                forget_session(settings, client_id)


@pytest.fixture
def gateways(
    district: tuple[str, District], settings: Settings, stack: LocalStack
) -> Iterator[dict[str, GatewayLink]]:
    """The district's gateways as real processes, each with its own broker account, and the
    simulator's links to them."""
    _, d = district
    fleet = GatewayFleet(settings)
    links = {g.id: GatewayLink(g.id, socket_path(settings.var_dir, g.id)) for g in d.gateways}
    try:
        for g in d.gateways:  # a queue left by an earlier run would be replayed into this one
            (settings.var_dir / "gateways" / f"{g.id}.queue.sqlite").unlink(missing_ok=True)
            fleet.start(g.id, g.site_id, settings.stack_mqtt_port)
        for link in links.values():
            link.connect(timeout_s=30.0)
        yield links
    finally:
        for link in links.values():
            link.close()
        fleet.stop()


def incident_of(ws: ClientConnection, household: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no incident for {household} on the live stream")
        message = json.loads(ws.recv(timeout=left))
        if message.get("type") == "incident" and (
            message["incident"].get("household_id") == household
        ):
            return dict(message["incident"])


def test_a_simulated_panic_press_reaches_the_console_stream_and_the_family_sms(
    district: tuple[str, District],
    pipeline: tuple[str, int],
    gateways: dict[str, GatewayLink],
) -> None:
    _, d = district
    dsn, web_port = pipeline
    url = f"ws://127.0.0.1:{web_port}/api/live"
    wait_for_port(web_port)
    with connect(url, open_timeout=10, additional_headers=live_headers(dsn)) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
        truth = io.StringIO()
        config = RunConfig(
            seed=SEED,
            speed=0,  # unpaced: the district's past, as fast as the gateway takes it
            duration_s=PLAYED_S,
            scenarios=("panic_press",),
            scenarios_per_hour=1.0,
            sim_start=time.time() - PLAYED_S,
        )
        Runner(d, config, gateways, truth).run()
        lines = [json.loads(line) for line in truth.getvalue().splitlines()]
        assert lines, "the scenario's press was played"
        press = lines[0]
        (panic,) = press["devices"]
        incident = incident_of(ws, press["household"], timeout=60)
    assert incident["cause"] == "panic"
    with psycopg.connect(dsn, autocommit=True) as conn:
        alert = conn.execute(
            "select extract(epoch from ts), evidence from alerts "
            "where device_id = %s and kind = 'panic' order by ts limit 1",
            (panic,),
        ).fetchone()
    assert alert is not None
    assert abs(float(alert[0]) - press["onset_ts"]) < 1e-3, "the press's own device time"
    assert alert[1]["gateway_ts"] >= press["onset_ts"]  # stamped by the gateway on receipt
    texts = wait_for(
        lambda: _family_texts(dsn, press["household"]), 30, "the family SMS at the demo provider"
    )
    assert any("紧急呼叫" in t or "Emergency call" in t for t in texts), texts


def _family_texts(dsn: str, household: str) -> list[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "select body from sms_demo_messages where recipient in (select c.phone from contacts "
            "c join residents r on r.id = c.resident_id where r.household_id = %s)",
            (household,),
        ).fetchall()
    return [str(r[0]) for r in rows]
