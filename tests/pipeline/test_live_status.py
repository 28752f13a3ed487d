"""Live status in the registry, written by a real `vigil ingest run`: a real gateway process's
retained status makes it online, its last will (kill -9) offline; a device's last_seen and
battery follow what ingest commits; none of it counts as a registry change."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import psycopg
import pytest

from tests.console.conftest import running_app, seeded_database, sign_in
from tests.fix_stack import scratch_var
from tests.pipeline.running import IngestProcess
from tests.pipeline.test_detector_stage import publish
from vigil.broker_auth import BrokerAuth
from vigil.codec import TelemetryBatch, encode
from vigil.harness import wait_for
from vigil.settings import Settings
from vigil.stack import LocalStack
from vigil.topics import Topic

pytestmark = pytest.mark.stack


def row(dsn: str, sql: str, *params: Any) -> tuple[Any, ...]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        found = conn.execute(sql, params).fetchone()
    assert found is not None
    return tuple(found)


def registry_version(dsn: str) -> int:
    return int(row(dsn, "select version from registry_version")[0])


def test_gateway_status_and_device_last_seen_reach_the_registry(
    stack: LocalStack, schema_template: str, settings: Settings
) -> None:
    gw, password, device = f"gw-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex, uuid.uuid4().hex[:8]
    auth = BrokerAuth.for_stack(stack)
    auth.add_gateway(gw, password)
    with seeded_database(stack, schema_template) as dsn, scratch_var() as var:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                "insert into gateways (id, site_id, building_id, mqtt_username) "
                "values (%s, 's1', 'b1', %s)",
                (gw, gw),
            )
            conn.execute(
                "insert into devices (id, device_type, gateway_id, household_id) "
                "values (%s, 'smoke', %s, 'h1')",
                (device, gw),
            )
        version = registry_version(dsn)
        listener = psycopg.connect(dsn, autocommit=True)
        listener.execute("listen vigil_device_health")
        ingest = IngestProcess(
            dsn,
            var,
            settings,
            VIGIL_INGEST_STATUS_INTERVAL_S="0.3",
            VIGIL_INGEST_LAST_SEEN_INTERVAL_S="0.3",
        )
        gateway: subprocess.Popen[bytes] | None = None
        try:
            ingest.start()
            env = {**os.environ, "VIGIL_VAR_DIR": str(var)}
            with (var / "gateway.log").open("wb") as log:
                gateway = subprocess.Popen(
                    [sys.executable, "-m", "vigil.cli", "gateway", "run", "--id", gw, "--site",
                     "s1", "--socket", str(var / "gw.sock"), "--queue", str(var / "gw.sqlite"),
                     "--mqtt-port", str(settings.stack_mqtt_port), "--status-s", "1"],
                    env={**env, "VIGIL_GATEWAY_PASSWORD": password},
                    stdout=log, stderr=log,
                )  # fmt: skip
            sql = "select status, status_since, last_seen from gateways where id = %s"
            wait_for(lambda: row(dsn, sql, gw)[0] == "online", 30, "the gateway online")
            _, since, _ = row(dsn, sql, gw)
            assert since is not None

            # A device's report: last_seen is its device time, battery_v its voltage.
            dev_sql = (
                "select extract(epoch from last_seen)::float8, battery_v from devices where id = %s"
            )
            account = (gw, password)
            for n, battery in enumerate((2.9, 2.8), start=1):
                ts = time.time() - 1.0
                batch = TelemetryBatch(
                    gw=gw, gseq=n, sent=ts + 0.1, dev=[device, device], seq=[2 * n, 2 * n + 1],
                    ts=[ts, ts], rx=[ts + 0.05] * 2, metric=["smoke_obscuration", "battery"],
                    value=[0.2, battery],
                )  # fmt: skip
                publish(settings, Topic.telemetry("s1", gw), encode(batch), account)

                def reported(ts: float = ts) -> tuple[Any, ...] | None:
                    found = row(dsn, dev_sql, device)
                    return found if found[0] and abs(found[0] - ts) < 1e-3 else None

                seen = wait_for(reported, 15, "last_seen at the report")
                assert seen[1] == pytest.approx(battery)
            assert row(dsn, sql, gw)[2] is not None, "the gateway's last_seen"

            assert gateway is not None
            gateway.kill()  # no clean disconnect: the broker publishes the last will
            gateway.wait(10)
            killed = time.time()
            wait_for(lambda: row(dsn, sql, gw)[0] == "offline", 30, "the gateway offline")
            assert row(dsn, sql, gw)[1].timestamp() >= killed - 1.0

            assert registry_version(dsn) == version, "status writes are not registry changes"
            # Each change of status was announced to the console's live stream, once.
            told = [
                json.loads(n.payload)
                for n in listener.notifies(timeout=2.0)
                if json.loads(n.payload).get("gateway_id") == gw
            ]
            assert [t["status"] for t in told] == ["online", "offline"]
            assert told[1]["since"] == pytest.approx(row(dsn, sql, gw)[1].timestamp())
            with running_app(dsn, settings) as app:
                client = sign_in(app, "inst")
                shown = client.get(f"/api/gateways/{gw}").json()
                assert shown["status"] == "offline"
                assert shown["status_since"] is not None
                health = client.get(f"/api/devices/{device}").json()
                assert health["battery_v"] == pytest.approx(2.8)
                assert health["health"]["offline"] is False
        finally:
            listener.close()
            if gateway is not None and gateway.poll() is None:
                gateway.kill()
                gateway.wait(10)
            ingest.stop()
            auth.remove_gateway(gw)
