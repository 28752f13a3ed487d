"""Issue 18 end to end: an independent DC-09 dialler (my-dc09-spt, AES-256) and siadc09's frames
drive `vigil dc09 run` as a process; the panel's fire reaches the console's live stream and the
family's SMS through the broker, ingest with its detector stage, alerting and the notifier; the
restore, a panic, NULL polls then silence, and a receiver restart with a repeated message."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from websockets.sync.client import ClientConnection, connect

from bench.alerting import live_headers
from bench.loadgen import forget_session
from firmware_sim.district import District, build_district, seed
from gateway.dc09 import registry
from gateway.dc09.frame import frame_of
from tests.fix_stack import scratch_var
from tests.gateway.dc09.frames import siadc09_frame
from vigil.broker_auth import BrokerAuth
from vigil.harness import free_port, healthy, wait_for, wait_for_port
from vigil.settings import Settings
from vigil.stack import LocalStack

pytestmark = pytest.mark.stack

SEED = 18
GATEWAY = "dc09-rx-e2e"
KEY = bytes(range(32))  # AES-256
ACCOUNT = "4711"
POLLED = "0815"  # a second panel, supervised every 2 s, sending in the clear
BUILDING_PANEL = "0B01"  # a building's fire panel (no household)


@pytest.fixture
def district(migrated_db: str, stack: LocalStack) -> tuple[str, District, str]:
    """A small district, the receiver's gateway with its broker account, two panels' accounts
    (one per household that has contacts), and a zone of the first mapped to its kitchen."""
    d = build_district(SEED, 1, 8)
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        seed(conn, d)
        site = d.sites[0].id
        conn.execute(
            "insert into gateways (id, site_id, mqtt_username) values (%s, %s, %s)",
            (GATEWAY, site, GATEWAY),
        )
        homes = [h.id for h in d.households if any(c.household_id == h.id for c in d.contacts)]
        registry.add_account(conn, registry.NewAccount(
            ACCOUNT, GATEWAY, household_id=homes[0], key=KEY.hex(), key_format="hex",
            poll_s=3600))  # fmt: skip
        registry.add_account(conn, registry.NewAccount(
            POLLED, GATEWAY, household_id=homes[-1], poll_s=2))  # fmt: skip
        registry.add_account(conn, registry.NewAccount(
            BUILDING_PANEL, GATEWAY, building_id=d.buildings[0].id))  # fmt: skip
        registry.import_csv(conn, f"kind,account,zone,room\ndc09_zone,{ACCOUNT},3,厨房 kitchen\n")
    password = uuid.uuid4().hex
    BrokerAuth.for_stack(stack).add_gateway(GATEWAY, password, site)
    return migrated_db, d, password


@pytest.fixture
def services(
    district: tuple[str, District, str], settings: Settings
) -> Iterator[tuple[str, int, dict[str, str], Path]]:
    """ingest, alerting, the notifier and the web app as processes; yields the database, the
    web app's port, the environment for `vigil dc09 run`, and the var dir."""
    dsn, _, password = district
    ingest_port, web_port = free_port(), free_port()
    prefix = f"t-dc09-{uuid.uuid4().hex[:8]}"
    with scratch_var() as var:
        env = {
            **os.environ,
            "VIGIL_DATABASE_URL": dsn,
            "VIGIL_VAR_DIR": str(var),
            "VIGIL_MQTT_PORT": str(settings.stack_mqtt_port),
            "VIGIL_STACK_MQTT_PORT": str(settings.stack_mqtt_port),
            "VIGIL_SMS_PROVIDER": "demo",
            "VIGIL_METRICS_PORT": "0",
            "VIGIL_GATEWAY_PASSWORD": password,
        }
        commands = [
            ["ingest", "run", "--client-prefix", prefix, "--metrics-port", str(ingest_port)],
            ["alerting", "run"],
            ["notifier", "run"],
            ["console", "run", "--port", str(web_port)],
        ]
        procs = [_spawn(cmd, env, var / f"proc{i}.log") for i, cmd in enumerate(commands)]
        try:
            wait_for(lambda: healthy(ingest_port), 60, "ingest to be healthy")
            time.sleep(1.0)
            yield dsn, web_port, env, var
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


def _spawn(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen([sys.executable, "-m", "vigil.cli", *cmd], env=env, stdout=out,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)  # fmt: skip


def _receiver(env: dict[str, str], var: Path, port: int) -> subprocess.Popen[bytes]:
    with psycopg.connect(env["VIGIL_DATABASE_URL"], autocommit=True) as conn:
        row = conn.execute("select site_id from gateways where id = %s", (GATEWAY,)).fetchone()
    assert row is not None
    proc = _spawn(["dc09", "run", "--id", GATEWAY, "--site", str(row[0]), "--host", "127.0.0.1",
                   "--tcp-port", str(port), "--udp-port", str(port), "--reload-s", "1"],
                  env, var / "dc09.log")  # fmt: skip
    wait_for(lambda: _listening(port), 30, "the DC-09 receiver to listen")
    return proc


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _send(port: int, raw: bytes) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(b"\n" + raw + b"\r")
        reply = b""
        while not reply.endswith(b"\r"):
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
    return reply[9:].split(b'"')[1].decode().lstrip("*")


def _incident(ws: ClientConnection, household: str, timeout: float) -> dict[str, Any]:
    """The household's first fire incident on the stream (the district's own devices, never
    started here, may open others for it, such as offline)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no incident for {household} on the live stream")
        message = json.loads(ws.recv(timeout=left))
        incident = message.get("incident") or {}
        if (
            message.get("type") == "incident"
            and incident.get("household_id") == household
            and incident.get("cause") in ("fire", "smoke")
        ):
            return dict(incident)


def _events(dsn: str, device: str) -> list[tuple[str, float, dict[str, Any]]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "select kind, value, detail from device_events where device_id = %s order by time, seq",
            (device,),
        ).fetchall()
    return [(str(k), float(v), dict(d)) for k, v, d in rows]


def _alert_kinds(dsn: str, device: str) -> list[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("select kind from alerts where device_id = %s", (device,)).fetchall()
    return [str(r[0]) for r in rows]


def _household(dsn: str, account: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("select household_id from dc09_accounts where account = %s",
                           (account,)).fetchone()  # fmt: skip
    assert row is not None
    return str(row[0])


def _incident_detail(port: int, incident: int, headers: dict[str, str]) -> dict[str, Any]:
    return dict(_get(port, f"/api/incidents/{incident}", headers))


def _get(port: int, path: str, headers: dict[str, str]) -> Any:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.load(r)


def _texts(dsn: str, household: str) -> list[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "select body from sms_demo_messages where recipient in (select c.phone from contacts "
            "c join residents r on r.id = c.resident_id where r.household_id = %s)",
            (household,),
        ).fetchall()
    return [str(r[0]) for r in rows]


def test_a_panel_fire_reaches_the_live_stream_and_the_family_sms(
    services: tuple[str, int, dict[str, str], Path],
) -> None:
    from my_dc09_spt import dc09_spt

    dsn, web_port, env, var = services
    port = free_port()
    receiver = _receiver(env, var, port)
    device = f"dc09-{ACCOUNT}"
    household = _household(dsn, ACCOUNT)
    wait_for_port(web_port)
    headers = live_headers(dsn)
    try:
        with connect(f"ws://127.0.0.1:{web_port}/api/live", open_timeout=10,
                     additional_headers=headers) as ws:  # fmt: skip
            assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
            panel = dc09_spt.dc09_spt(ACCOUNT, receiver=1, line=2)
            panel.set_path("main", "primary", "127.0.0.1", port, account=ACCOUNT, key=KEY,
                           type="TCP")  # fmt: skip
            panel.send_msg("ADM-CID", {"code": 111, "q": 1, "zone": 3, "area": 1})
            incident = _incident(ws, household, timeout=60)
            wait_for(lambda: panel.notSent() == 0, 30, "the dialler to see its ACK")
        # The detectors see a batch before ingest commits it: the incident may come first.
        wait_for(
            lambda: ("smoke_alarm", 1.0) in [(k, v) for k, v, _ in _events(dsn, device)],
            30,
            "the fire event committed",
        )
        fire = next(d for k, _, d in _events(dsn, device) if k == "smoke_alarm")
        assert (fire["source"], fire["account"], fire["code"], fire["zone"], fire["room"]) == (
            "dc09", ACCOUNT, "111", "003", "厨房 kitchen")  # fmt: skip
        assert incident["household_id"] == household
        # The console's incident page shows the panel's account, zone and code with the alarm.
        shown = _incident_detail(web_port, int(incident["id"]), headers)["source_events"]
        assert {(e["source"], e["account"], e["zone"], e["code"], e["kind"]) for e in shown} >= {
            ("dc09", ACCOUNT, "003", "111", "smoke_alarm")}  # fmt: skip
        texts = wait_for(lambda: _texts(dsn, household), 60, "the family SMS")
        assert texts

        # The restore and a panic, from the same dialler; each raised once.
        panel.send_msg("ADM-CID", {"code": 111, "q": 3, "zone": 3, "area": 1})
        panel.send_msg("SIA-DCS", {"code": "PA", "zone": 1})
        panel.send_msg("SIA-DCS", {"code": "ZZ", "zone": 9})  # no such code: kept and shown
        wait_for(lambda: panel.notSent() == 0, 30, "the dialler's queue to empty")
        wait_for(lambda: [k for k, _, _ in _events(dsn, device)].count("button") == 1, 30,
                 "the panic")  # fmt: skip
        assert [(k, v) for k, v, _ in _events(dsn, device) if k == "smoke_alarm"] == [
            ("smoke_alarm", 1.0), ("smoke_alarm", 0.0)]  # fmt: skip
        wait_for(lambda: {"smoke", "panic"} <= set(_alert_kinds(dsn, device)), 30,
                 "the smoke and panic alerts of the panel")  # fmt: skip
        unknown = wait_for(lambda: _get(web_port, "/api/source-events?unknown=true", headers),
                           30, "the unknown code on the console")  # fmt: skip
        assert [(e["account"], e["code"], e["zone"], e["known"]) for e in unknown] == [
            (ACCOUNT, "ZZ", "9", False)]  # fmt: skip
    finally:
        _stop(receiver)


def test_repeat_across_a_kill_polls_then_silence(
    services: tuple[str, int, dict[str, str], Path],
) -> None:
    dsn, _, env, var = services
    port = free_port()
    polled = f"dc09-{POLLED}"
    receiver = _receiver(env, var, port)
    try:
        fire = siadc09_frame("SIA-DCS", b"Nri1/FA002", account="815", seq=31)
        fire = frame_of(fire[8:].replace(b"#815", b"#0815"))[1:-1]  # leading zero kept
        assert _send(port, fire) == "ACK"
        for seq in range(3):
            null = siadc09_frame("NULL", b"", account="815", seq=seq)
            assert _send(port, frame_of(null[8:].replace(b"#815", b"#0815"))[1:-1]) == "ACK"
            time.sleep(0.5)
        # A building's fire panel: raised like any other (no household, no family SMS).
        panel_fire = siadc09_frame("SIA-DCS", b"Nri1/FA017", account="B01", seq=5)
        assert _send(port, frame_of(panel_fire[8:].replace(b"#B01", b"#0B01"))[1:-1]) == "ACK"
        wait_for(lambda: "smoke" in _alert_kinds(dsn, f"dc09-{BUILDING_PANEL}"), 30,
                 "the building panel's alarm")  # fmt: skip
        # Bad frames are refused, and the receiver stays up.
        assert _send(port, b"0000" + fire[4:]) == "NAK"
        assert _send(port, siadc09_frame("SIA-DCS", b"Nri1/FA001", account="9999")) == "DUH"
        # Silence: the link is down at the poll deadline (2 s + 2 s grace).
        wait_for(lambda: ("availability", 0.0) in [(k, v) for k, v, _ in _events(dsn, polled)],
                 30, "the link-down event")  # fmt: skip
    finally:
        receiver.kill()  # kill -9: what it took in must survive
        receiver.wait()
    # The panel got no ACK for a resend (say the line dropped): it repeats after the restart.
    receiver = _receiver(env, var, port)
    try:
        time.sleep(1.0)
        again = siadc09_frame("SIA-DCS", b"Nri1/FA002", account="815", seq=31)
        assert _send(port, frame_of(again[8:].replace(b"#815", b"#0815"))[1:-1]) == "ACK"
        wait_for(lambda: ("availability", 1.0) in [(k, v) for k, v, _ in _events(dsn, polled)],
                 30, "the link-up event")  # fmt: skip
        time.sleep(2.0)
        fires = [(k, v) for k, v, _ in _events(dsn, polled) if k == "smoke_alarm"]
        assert fires == [("smoke_alarm", 1.0)]
    finally:
        _stop(receiver)
