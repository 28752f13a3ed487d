"""Issue 17 end to end: real zigbee2mqtt payloads (zigbee-herdsman-converters) published on a
real Mosquitto as a hub would, through `vigil gateway run --source zigbee2mqtt`, the test stack's
broker, ingest with its detector stage, alerting and the notifier, to the console's live stream
and the family's SMS. Alarm then restoral, the test button, low battery, tamper, an SOS press,
a device unavailable, the hub offline, the hub restarting and replaying its retained states,
the adapter restarting, malformed and unknown payloads: every alert once and only once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from websockets.sync.client import ClientConnection, connect

from bench.alerting import live_headers
from bench.loadgen import forget_session
from firmware_sim.district import District, build_district, seed
from gateway.hub_sim import HubBroker, HubPublisher, free_port
from tests.fix_stack import scratch_var
from tests.zigbee.converters import produce
from tests.zigbee.models import BY_KEY, MODELS, Model
from vigil.broker_auth import BrokerAuth
from vigil.harness import healthy, wait_for_port
from vigil.provisioning.zigbee import device_id
from vigil.settings import REPO_ROOT, Settings
from vigil.stack import LocalStack

pytestmark = [pytest.mark.stack, pytest.mark.zigbee]

HUB_GW = f"z2m-{uuid.uuid4().hex[:6]}"


def wait_for(probe: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


@dataclass
class World:
    dsn: str
    web_port: int
    district: District
    households: dict[str, str]  # model key -> household
    hub: HubBroker
    pub: HubPublisher
    produced: dict[str, Any]
    adapter: Callable[[], subprocess.Popen[bytes]]
    var: Path
    adapters: list[subprocess.Popen[bytes]]
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)  # last state per device

    def alerts(self, device: str | None = None) -> list[tuple[str, str, str]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            rows = conn.execute(
                "select device_id, kind, evidence->>'rule' from alerts "
                "where device_id like 'zb-%%' or device_id = %s order by id",
                (HUB_GW,),
            ).fetchall()
        return [(d, k, r) for d, k, r in rows if device is None or d == device]

    def events(self, device: str) -> list[tuple[str, float]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            rows = conn.execute(
                "select kind, value from device_events where device_id = %s order by time, seq",
                (device,),
            ).fetchall()
        return [(k, float(v)) for k, v in rows]

    def payloads(self, key: str) -> list[dict[str, Any] | None]:
        return list(self.produced["payloads"][BY_KEY[key].friendly_name])


@pytest.fixture
def world(migrated_db: str, settings: Settings, stack: LocalStack) -> Iterator[World]:
    district = build_district(17, 1, 16)
    gw = district.gateways[0]
    households = [h.id for h in district.households if h.building_id == gw.building_id]
    mapped = [m for m in MODELS if m.vigil_type is not None]
    homes = {m.key: households[i % 2] for i, m in enumerate(mapped)}
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        seed(conn, district)
        conn.execute(
            "insert into gateways (id, site_id, building_id, mqtt_username) "
            "values (%s, %s, %s, %s)",
            (HUB_GW, gw.site_id, gw.building_id, HUB_GW),
        )
        for m in mapped:
            conn.execute(
                "insert into devices (id, device_type, gateway_id, household_id, room, source, "
                "model, external_id) values (%s, %s, %s, %s, %s, 'zigbee2mqtt', %s, %s)",
                (device_id(m.ieee), m.vigil_type, HUB_GW, homes[m.key], m.key, m.model, m.ieee),
            )
    password = uuid.uuid4().hex
    auth = BrokerAuth.for_stack(stack)
    auth.add_gateway(HUB_GW, password, gw.site_id)
    produced = produce([m.spec() for m in MODELS])
    ingest_port, web_port = free_port(), free_port()
    prefix = f"t-z2m-{uuid.uuid4().hex[:8]}"
    procs: list[subprocess.Popen[bytes]] = []
    with scratch_var() as var, HubBroker() as hub:
        env = {
            **os.environ,
            "VIGIL_DATABASE_URL": migrated_db,
            "VIGIL_VAR_DIR": str(var),
            "VIGIL_MQTT_PORT": str(settings.stack_mqtt_port),
            "VIGIL_SMS_PROVIDER": "demo",
            "VIGIL_METRICS_PORT": "0",
        }

        def start(name: str, cmd: list[str], extra: dict[str, str] | None = None) -> Any:
            log = (var / f"{name}.log").open("ab")
            proc = subprocess.Popen(
                [sys.executable, "-m", "vigil.cli", *cmd],
                env=env | (extra or {}), stdout=log, stderr=log, cwd=REPO_ROOT,
            )  # fmt: skip
            procs.append(proc)
            return proc

        def adapter() -> subprocess.Popen[bytes]:
            cmd = ["gateway", "run", "--source", "zigbee2mqtt", "--id", HUB_GW,
                   "--site", gw.site_id, "--queue", str(var / "z2m.queue.sqlite"),
                   "--mqtt-port", str(settings.stack_mqtt_port), "--status-s", "1",
                   "--hub-host", "127.0.0.1", "--hub-port", str(hub.port),
                   "--hub-user", hub.username]  # fmt: skip
            secrets = {"VIGIL_GATEWAY_PASSWORD": password, "VIGIL_HUB_PASSWORD": hub.password}
            proc: subprocess.Popen[bytes] = start("adapter", cmd, secrets)
            adapters.append(proc)
            return proc

        adapters: list[subprocess.Popen[bytes]] = []

        pub = HubPublisher(hub)
        try:
            start("ingest", ["ingest", "run", "--client-prefix", prefix,
                             "--metrics-port", str(ingest_port)])  # fmt: skip
            start("alerting", ["alerting", "run"])
            start("notifier", ["notifier", "run"])
            start("serve", ["console", "run", "--port", str(web_port)])
            wait_for(lambda: healthy(ingest_port), 90, "ingest to be healthy")
            wait_for_port(web_port)
            yield World(
                migrated_db, web_port, district, homes, hub, pub, produced, adapter, var, adapters
            )
        finally:
            # The processes' logs outlive the scratch folder, for a failure's post-mortem.
            keep = REPO_ROOT / "var" / "zigbee-e2e-logs"
            keep.mkdir(parents=True, exist_ok=True)
            for log in var.glob("*.log"):
                shutil.copy(log, keep / log.name)
            pub.close()
            for p in procs:
                if p.poll() is None:
                    p.terminate()
            for p in procs:
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
            for lane in ("", "-events"):
                forget_session(settings, f"{prefix}-0of1{lane}")
            forget_session(settings, f"vigil-gw-{HUB_GW}")
            auth.remove_gateway(HUB_GW)


def _incident(ws: ClientConnection, household: str, cause: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {cause} incident for {household} on the live stream")
        message = json.loads(ws.recv(timeout=left))
        incident = message.get("incident") or {}
        if (
            message.get("type") == "incident"
            and incident.get("household_id") == household
            and (incident.get("cause") == cause)
        ):
            return dict(incident)


def _texts(dsn: str, household: str) -> list[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "select body from sms_demo_messages where recipient in (select c.phone from contacts "
            "c join residents r on r.id = c.resident_id where r.household_id = %s)",
            (household,),
        ).fetchall()
    return [str(r[0]) for r in rows]


def _send(w: World, model: Model, step: int, *, retain: bool = True) -> dict[str, Any]:
    payload = w.payloads(model.key)[step]
    assert payload is not None
    w.pub.state(model.friendly_name, payload, retain=retain)
    w.sent[model.friendly_name] = payload
    return payload


def test_zigbee_devices_through_the_whole_pipeline(world: World) -> None:
    w = world
    smoke, tuya_smoke, sos = BY_KEY["heiman_smoke"], BY_KEY["tuya_smoke"], BY_KEY["tuya_sos"]
    door, leak = BY_KEY["aqara_door"], BY_KEY["aqara_leak"]
    smoke_id, sos_id, door_id = device_id(smoke.ieee), device_id(sos.ieee), device_id(door.ieee)
    tuya_id = device_id(tuya_smoke.ieee)
    w.pub.bridge_state(True)
    w.pub.devices(w.produced["devices"])
    _send(w, smoke, 0)  # quiet: nothing
    w.pub.raw("home/ikea_bulb", b'{"state":"ON"}', retain=True)  # an unmapped device
    w.adapter()
    url = f"ws://127.0.0.1:{w.web_port}/api/live"
    with connect(url, open_timeout=10, additional_headers=live_headers(w.dsn)) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
        # The smoke alarm: on the live stream and in the family's SMS.
        _send(w, smoke, 1)
        incident = _incident(ws, w.households["heiman_smoke"], "fire", timeout=60)
        assert incident["signal"] == "alarm"
        texts = wait_for(lambda: _texts(w.dsn, w.households["heiman_smoke"]), 60, "family SMS")
        assert texts
        # Restoral, the test button, low battery.
        for step in (2, 3, 4, 5, 6, 7):
            _send(w, smoke, step)
        # An SOS press: a panic incident and an SMS to that household's family.
        _send(w, sos, 0)
        _incident(ws, w.households["tuya_sos"], "panic", timeout=60)
    wait_for(lambda: any("紧急" in t or "mergency" in t for t in _texts(
        w.dsn, w.households["tuya_sos"])), 60, "the SOS family SMS")  # fmt: skip
    # Tamper and its restoral on the Tuya detector.
    for step in range(4):
        _send(w, tuya_smoke, step)
    # A device unavailable, then back; a leak and its end.
    w.pub.availability(door.friendly_name, False)
    _send(w, leak, 0)
    wait_for(lambda: "offline" in {k for _, k, _ in w.alerts(door_id)}, 60, "offline alert")
    w.pub.availability(door.friendly_name, True)
    _send(w, leak, 1)
    # Malformed and unknown payloads change nothing.
    w.pub.raw(smoke.friendly_name, b"{not json", retain=False)
    w.pub.raw(smoke.friendly_name, b'{"smoke": "maybe"}', retain=False)
    w.pub.raw("home/not_paired", b'{"smoke": true}', retain=False)
    # The hub goes offline, then restarts and publishes every retained state again.
    w.pub.bridge_state(False)
    wait_for(lambda: (HUB_GW, "gateway_offline", "gateway_status") in w.alerts(), 60,
             "the hub's gateway_offline alert")  # fmt: skip
    w.pub.bridge_state(True)
    time.sleep(2.0)
    before = w.alerts()
    for name, last in w.sent.items():
        # zigbee2mqtt sends its cached states on startup; `action` is never cached.
        cached = {k: v for k, v in last.items() if not k.startswith("action")}
        w.pub.state(name, cached, retain=True)
    _restart_adapter(w)
    time.sleep(5.0)
    after = w.alerts()
    # A restart of the adapter is its gateway going away and back, like Vigil's own gateways:
    # one gateway_offline; nothing at all from the devices' replayed states.
    devices_only = [a for a in after if a[0] != HUB_GW]
    assert devices_only == [a for a in before if a[0] != HUB_GW], set(after) - set(before)

    expected = {
        (smoke_id, "smoke", "device_declared"),
        (smoke_id, "smoke", "restored"),
        (smoke_id, "battery_low", "device_declared"),
        (sos_id, "panic", "panic_press"),
        (tuya_id, "smoke", "device_declared"),
        (tuya_id, "tamper", "tamper"),
        (tuya_id, "tamper", "restored"),
        (door_id, "offline", "device_declared"),
        (door_id, "offline", "restored"),
        (device_id(leak.ieee), "water_leak", "device_declared"),
        (device_id(leak.ieee), "water_leak", "restored"),
        (HUB_GW, "gateway_offline", "gateway_status"),
    }
    deadline = time.monotonic() + 60
    while not expected <= set(w.alerts()) and time.monotonic() < deadline:
        time.sleep(0.2)
    got = w.alerts()
    missing = expected - set(got)
    assert not missing, (missing, [(d, w.events(d), w.alerts(d)) for d, _, _ in missing])
    hub_offline = [a for a in got if a[0] == HUB_GW]
    assert len(hub_offline) == 2, "the hub's offline, and the adapter's own restart"
    devices = sorted(a for a in got if a[0] != HUB_GW)
    assert devices == sorted(a for a in expected if a[0] != HUB_GW), "once each, no other"
    # The test button was a self-test, stored as such; never a fire.
    assert ("self_test", 1.0) in w.events(smoke_id)
    assert w.events(smoke_id).count(("smoke_alarm", 1.0)) == 1
    assert w.events(sos_id).count(("button", 1.0)) == 1
    with psycopg.connect(w.dsn, autocommit=True) as conn:
        counts = conn.execute(
            "select (select count(*) from dead_letters), "
            "(select count(*) from incidents where household_id = %s and cause = 'fire'), "
            "(select count(*) from incidents where cause = 'tamper' and state = 'resolved')",
            (w.households["heiman_smoke"],),
        ).fetchone()
    # Nothing dead-lettered; one fire incident; the tamper incident closed by its restoral.
    assert counts == (0, 1, 1)
    report = json.loads((w.var / "z2m.zigbee2mqtt.json").read_text())
    assert [u["model"] for u in report["unmapped"]] == ["LED1545G12"]


def _restart_adapter(w: World) -> None:
    """SIGTERM the running adapter and start a new one (its memory is on disk)."""
    log = (w.var / "adapter.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
    old = w.adapters[-1]
    old.terminate()
    assert old.wait(30) == 0
    w.adapter()
