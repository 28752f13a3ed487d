"""The detector stage in a real `vigil ingest run`: a panic press published by a gateway's own
broker account becomes an alert, the real alerting service opens an incident, the notifier
texts the family; fire readings raise a fire alert; a gateway's offline status raises a
gateway alert; the engine's state is saved at the stop."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from detectors.alert import Alert
from detectors.engine import DetectorEngine
from firmware_sim.district import District, build_district, seed
from ingest.columns import EMPTY
from ingest.detection.stage import Decided, DetectorStage
from ingest.registry import Registry
from ingest.sink import ReadingBatch
from ingest.validate import EventRow
from tests.fix_stack import scratch_var
from vigil.broker_auth import BrokerAuth, gateway_client_id
from vigil.codec import Event, EventBatch, GatewayStatus, TelemetryBatch, encode
from vigil.harness import free_port, healthy, wait_for
from vigil.settings import Settings
from vigil.stack import LocalStack
from vigil.topics import Topic

pytestmark = pytest.mark.stack

T = TypeVar("T")


@dataclass(frozen=True)
class PressGateway:
    """A gateway of its own (id, password, site) behind which two panic buttons are moved."""

    id: str
    password: str
    site: str
    panic: str
    household: str
    other_panic: str


@pytest.fixture
def district_dsn(migrated_db: str) -> tuple[str, District]:
    district = build_district(7, 1, 20)
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        seed(conn, district)
    return migrated_db, district


@pytest.fixture
def press_gateway(
    district_dsn: tuple[str, District], stack: LocalStack, settings: Settings
) -> Iterator[PressGateway]:
    """A broker account and a registry row for a fresh gateway id, removed afterwards."""
    dsn, district = district_dsn
    panic, other = [d for d in district.devices if d.type == "panic"][:2]
    assert panic.household_id is not None
    site = next(g.site_id for g in district.gateways if g.id == panic.gateway_id)
    gw = PressGateway(
        f"gw-{uuid.uuid4().hex[:10]}",
        uuid.uuid4().hex,
        site,
        panic.id,
        panic.household_id,
        other.id,
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "insert into gateways (id, site_id, mqtt_username) values (%s, %s, %s)",
            (gw.id, site, gw.id),
        )
        conn.execute(
            "update devices set gateway_id = %s where id = any(%s)", (gw.id, [panic.id, other.id])
        )
    auth = BrokerAuth.for_stack(stack)
    auth.add_gateway(gw.id, gw.password)
    try:
        yield gw
    finally:
        auth.remove_gateway(gw.id)


@pytest.fixture
def services(
    district_dsn: tuple[str, District], press_gateway: PressGateway, settings: Settings
) -> Iterator[tuple[str, District, int]]:
    """ingest (with detectors), alerting and the notifier as subprocesses; yields the ingest
    worker's metrics port."""
    dsn, district = district_dsn
    port = free_port()
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
            ["ingest", "run", "--client-prefix", f"t-{uuid.uuid4().hex[:8]}",
             "--metrics-port", str(port)],
            ["alerting", "run"],
            ["notifier", "run"],
        ]  # fmt: skip
        procs = []
        for i, cmd in enumerate(commands):
            log = (var / f"proc{i}.log").open("w")
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "vigil.cli", *cmd], env=env, stdout=log, stderr=log
                )
            )
        try:
            wait_for(lambda: healthy(port), 60, "ingest to be healthy")
            yield dsn, district, port
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
            saved = DetectorEngine.load(var / "detectors" / "engine-0of1.npz")
            watched = {d.id for d in district.devices if d.household_id is not None}
            assert set(saved.registry.slot_of) == watched, "state saved at the stop"


def publish(
    settings: Settings, topic: Topic, payload: bytes, account: tuple[str, str] | None = None
) -> None:
    """Publish as a gateway's account, or as the service account."""
    client_id = gateway_client_id(account[0]) if account else f"t-{uuid.uuid4().hex[:8]}"
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    user, password = account or (
        settings.mqtt_username,
        settings.mqtt_password.get_secret_value(),
    )
    client.username_pw_set(user, password)
    client.connect("127.0.0.1", settings.stack_mqtt_port)
    client.loop_start()
    client.publish(str(topic), payload, qos=1).wait_for_publish(10)
    client.loop_stop()
    client.disconnect()


def _one(dsn: str, sql: str, *params: Any) -> tuple[Any, ...] | None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql, params).fetchone()


def test_a_panic_press_becomes_an_incident_and_a_family_sms(
    services: tuple[str, District, int], press_gateway: PressGateway, settings: Settings
) -> None:
    dsn, _, _ = services
    gw = press_gateway
    pressed = time.time() - 0.5  # the press reached the gateway 0.1 s later, sent at once
    batch = EventBatch(
        gw=gw.id,
        gseq=1,
        sent=pressed + 0.1,
        events=[Event(dev=gw.panic, seq=1, ts=pressed, rx=pressed + 0.1, kind="button")],
    )
    publish(settings, Topic.event(gw.site, gw.id), encode(batch), (gw.id, gw.password))

    alert = wait_for(
        lambda: _one(
            dsn,
            "select kind, household_id, evidence, extract(epoch from ts), incident_id "
            "from alerts where device_id = %s and incident_id is not null",
            gw.panic,
        ),
        30,
        "the panic alert and its incident",
    )
    kind, household, evidence, ts, incident_id = alert
    assert (kind, household) == ("panic", gw.household)
    assert abs(float(ts) - pressed) < 0.01
    assert abs(evidence["gateway_ts"] - (pressed + 0.1)) < 1e-6
    hops = wait_for(
        lambda: _one(dsn, "select hops from incidents where id = %s", incident_id), 10, "hops"
    )[0]
    assert hops["device"] <= hops["gateway"] <= hops["ingest"] <= hops["detector"]
    sms = wait_for(
        lambda: _one(
            dsn,
            "select count(*) from sms_demo_messages where recipient in "
            "(select c.phone from contacts c join residents r on r.id = c.resident_id "
            "where r.household_id = %s) having count(*) > 0",
            gw.household,
        ),
        30,
        "the family SMS at the demo provider",
    )
    assert sms[0] >= 1

    # The same message again, as after a redelivery: the engine sees the press's timestamp a
    # second time and raises nothing. A press of the other button, published after it (and
    # decoded after it: one worker, arrival order), shows the repeat has been through.
    account = (gw.id, gw.password)
    publish(settings, Topic.event(gw.site, gw.id), encode(batch), account)
    later = time.time() - 0.2
    marker = EventBatch(
        gw=gw.id,
        gseq=2,
        sent=later,
        events=[Event(dev=gw.other_panic, seq=1, ts=later, rx=later, kind="button")],
    )
    publish(settings, Topic.event(gw.site, gw.id), encode(marker), account)
    wait_for(
        lambda: _one(dsn, "select id from alerts where device_id = %s", gw.other_panic),
        30,
        "the other press",
    )
    assert _one(dsn, "select count(*) from alerts where device_id = %s", gw.panic) == (1,)


def test_fire_readings_raise_a_fire_alert(
    services: tuple[str, District, int], settings: Settings
) -> None:
    dsn, district, _ = services
    multi = next(d for d in district.devices if d.type == "multi" and d.household_id)
    gateway = next(g for g in district.gateways if g.id == multi.gateway_id)
    now = time.time()
    normal = [(now - 600 + 30 * i, 0.2, 21.0) for i in range(15)]
    ramp = [(now - 100 + 10 * i, 2.0 + 3 * i, 23.0 + 3 * i) for i in range(8)]
    rows = normal + ramp
    batch = TelemetryBatch(
        gw=gateway.id,
        gseq=2,
        sent=now,
        dev=[multi.id] * (2 * len(rows)),
        seq=list(range(1, 2 * len(rows) + 1)),
        ts=[t for t, _, _ in rows for _ in range(2)],
        rx=[t + 0.01 for t, _, _ in rows for _ in range(2)],
        metric=["smoke_obscuration", "temperature"] * len(rows),
        value=[v for _, smoke, temp in rows for v in (smoke, temp)],
    )
    publish(settings, Topic.telemetry(gateway.site_id, gateway.id), encode(batch))
    found = wait_for(
        lambda: _one(
            dsn, "select kind from alerts where device_id = %s and kind = 'fire'", multi.id
        ),
        30,
        "the fire alert",
    )
    assert found == ("fire",)


def test_a_gateway_reporting_offline_raises_a_gateway_alert(
    services: tuple[str, District, int], settings: Settings
) -> None:
    dsn, district, _ = services
    gateway = district.gateways[0]
    status = GatewayStatus(gw=gateway.id, state="offline", ts=time.time())
    publish(settings, Topic.status(gateway.site_id, gateway.id), encode(status))
    found = wait_for(
        lambda: _one(dsn, "select kind from alerts where device_id = %s", gateway.id),
        30,
        "the gateway alert",
    )
    assert found == ("gateway_offline",)


def test_a_full_queue_holds_ingest_back_and_loses_nothing(
    district_dsn: tuple[str, District],
) -> None:
    dsn, district = district_dsn
    registry = Registry()
    with psycopg.connect(dsn, autocommit=True) as conn:
        snapshot = registry.load(conn)
    panics = [d for d in district.devices if d.type == "panic"][:3]
    now = time.time()
    batches = [
        ReadingBatch(
            d.gateway_id,
            n,
            now,
            False,
            snapshot,
            EMPTY,
            (
                EventRow(
                    snapshot.device_slot[d.id], d.id, 1, now - 1, now - 0.5, "button", 1.0, b"{}"
                ),
            ),
        )
        for n, d in enumerate(panics)
    ]
    stage = DetectorStage(dsn, queue_max=1)

    def submit_all() -> None:
        for b in batches:
            stage.submit(b)

    submitter = threading.Thread(target=submit_all)
    submitter.start()
    submitter.join(0.5)
    assert submitter.is_alive(), "submit waits while the queue is full"
    stage.start()
    submitter.join(30)
    assert not submitter.is_alive()
    stage.stop()
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("select device_id from alerts where kind = 'panic'").fetchall()
    assert sorted(r[0] for r in rows) == sorted(d.id for d in panics)


def test_an_alert_the_database_refuses_costs_only_itself(
    district_dsn: tuple[str, District],
) -> None:
    dsn, _ = district_dsn
    now = time.time()

    def alert(device: str, severity: int) -> Decided:
        return Decided(
            Alert(now, device, None, "tamper", "supervisory", severity, 1.0, "r", "tamper")
        )

    stage = DetectorStage(dsn)
    stage._pending = [alert("bad", 9), alert("good", 3)]  # severity is 1..5 in the schema
    stage._flush(final=True)
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("select device_id from alerts").fetchall()
    assert rows == [("good",)]
    assert stage._pending == []
