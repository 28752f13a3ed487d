"""Security, with a real broker, real clients, real gateway processes and a real console:
gateways are fenced into their own topics, revoked ones are cut off at once, data for a device
registered elsewhere is dead-lettered, and installers see neither incidents nor medical notes."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.deadletter import Reason
from tests.gateway.conftest import Account, GatewayProcess, Subscriber, can_connect, press
from tests.gateway.test_broker_auth import RawClient
from tests.ingest.conftest import running_ingest
from tests.provisioning.conftest import PASSWORD, Console, Vigil
from vigil.broker_auth import gateway_client_id
from vigil.harness import wait_for
from vigil.settings import Settings

pytestmark = [pytest.mark.stack, pytest.mark.security]


@pytest.fixture
def provision(vigil: Vigil, signed_in_as: Callable[[str], None]) -> Callable[[], Account]:
    """Registers a gateway in site s1 through the CLI and returns its broker credentials."""
    signed_in_as("inst")

    def make() -> Account:
        gw = f"gw-{uuid.uuid4().hex[:8]}"
        result = vigil("gateway", "add", gw, "--site", "s1", "--json")
        assert result.code == 0, result.err
        return Account(gw, json.loads(result.out)["credentials"]["password"])

    return make


@pytest.fixture
def gateways(settings: Settings) -> Iterator[Callable[[Account], GatewayProcess]]:
    """Real `vigil gateway run` processes for site s1; stopped afterwards."""
    made: list[tuple[GatewayProcess, Path]] = []

    def start(acc: Account) -> GatewayProcess:
        workdir = Path(tempfile.mkdtemp(prefix="vpr-", dir="/tmp"))
        gw = GatewayProcess(workdir, acc, settings.stack_mqtt_port, "--site", "s1")
        made.append((gw, workdir))
        return gw.start()

    yield start
    for gw, workdir in made:
        gw.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def subscriber(settings: Settings) -> Iterator[Subscriber]:
    sub = Subscriber(settings.stack_mqtt_port, "vigil/v1/#", settings)
    yield sub
    sub.close()


def test_a_gateway_cannot_publish_as_another_and_nothing_reaches_subscribers(
    provision: Callable[[], Account], subscriber: Subscriber, settings: Settings
) -> None:
    mine, other = provision(), provision()
    raw = RawClient(settings.stack_mqtt_port, mine)
    try:
        assert raw.publish(f"vigil/v1/s1/{mine.gateway_id}/up/event") == "Success"
        for topic in (
            f"vigil/v1/s1/{other.gateway_id}/up/telemetry",
            f"vigil/v1/s1/{other.gateway_id}/up/event",
            f"vigil/v1/s1/{other.gateway_id}/status",
            f"vigil/v1/s2/{mine.gateway_id}/up/event",  # its own id, another site
            f"vigil/v1/s1/{other.gateway_id}/down/self_test",
        ):
            assert raw.publish(topic) == "Not authorized", topic
        raw.client.subscribe(f"vigil/v1/s1/{other.gateway_id}/down/#", qos=1)
        wait_for(lambda: len(raw.subacks) == 1, 5, "the SUBACK")
        assert raw.subacks == ["Not authorized"]
    finally:
        raw.close()
    time.sleep(0.3)
    from_them = [m.topic for m in subscriber.snapshot() if "/down/" not in m.topic and (
        mine.gateway_id in m.topic or other.gateway_id in m.topic)]  # fmt: skip
    assert from_them == [f"vigil/v1/s1/{mine.gateway_id}/up/event"]


def test_a_wrong_password_or_unknown_user_is_refused(
    provision: Callable[[], Account], settings: Settings
) -> None:
    acc = provision()
    assert can_connect(settings.stack_mqtt_port, acc.gateway_id, acc.password)
    assert not can_connect(settings.stack_mqtt_port, acc.gateway_id, acc.password + "x")
    assert not can_connect(settings.stack_mqtt_port, "gw-nobody", acc.password)
    assert not can_connect(settings.stack_mqtt_port, "", "")


def test_a_revoked_gateway_is_disconnected_at_once_and_cannot_reconnect(
    provision: Callable[[], Account],
    gateways: Callable[[Account], GatewayProcess],
    vigil: Vigil,
    settings: Settings,
) -> None:
    acc = provision()
    events: list[tuple[str, str, float]] = []
    lost = threading.Event()
    # The account may connect only with its own client id, so this client stands in for the
    # gateway; the real gateway process tries after the revocation.
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=gateway_client_id(acc.gateway_id),
                         protocol=mqtt.MQTTv5)  # fmt: skip
    client.username_pw_set(acc.gateway_id, acc.password)
    client.on_connect = lambda c, u, f, rc, p: events.append(("connect", str(rc), time.time()))

    def on_disconnect(c: mqtt.Client, u: object, f: object, rc: object, p: object) -> None:
        events.append(("disconnect", str(rc), time.time()))
        lost.set()

    client.on_disconnect = on_disconnect
    client.reconnect_delay_set(1, 1)
    client.connect("127.0.0.1", settings.stack_mqtt_port, 30)
    client.loop_start()
    try:
        wait_for(lambda: bool(events), 5, "the raw client to connect")
        asked = time.time()
        result = vigil("gateway", "revoke", acc.gateway_id, "--json")
        assert result.code == 0, result.err
        assert json.loads(result.out)["revoked_at"] is not None
        assert lost.wait(5), "the revoked account's client stayed connected"
        _kind, reason, at = next(e for e in events if e[0] == "disconnect")
        assert reason == "Administrative action"
        assert at - asked < 5  # generous: it takes milliseconds (docs/provisioning.md)
        time.sleep(1.5)  # the client keeps trying, every second
        assert all(e[1] != "Success" for e in events if e[0] == "connect" and e[2] > asked)
    finally:
        client.loop_stop()
        client.disconnect()
    assert not can_connect(settings.stack_mqtt_port, acc.gateway_id, acc.password)
    gw = gateways(acc)
    wait_for(lambda: "broker refused the connection" in gw.log(), 15, "the gateway's refusal")


def test_a_device_registered_elsewhere_is_dead_lettered_counted_and_shown(
    provision: Callable[[], Account],
    gateways: Callable[[Account], GatewayProcess],
    vigil: Vigil,
    console: Console,
    settings: Settings,
) -> None:
    mine, theirs = provision(), provision()
    device = f"pb-{uuid.uuid4().hex[:6]}"
    assert (
        vigil("device", "add", device, "--type", "panic", "--gateway", theirs.gateway_id).code == 0
    )
    with running_ingest(settings, console.dsn) as ingest:
        gw = gateways(mine)
        gw.device().send(press(device, 1))
        wait_for(
            lambda: ingest.counters.dead_letters[Reason.WRONG_GATEWAY] >= 1, 15, "the dead letter"
        )
    shown = vigil("gateway", "show", mine.gateway_id, "--json")
    assert shown.code == 0, shown.err
    dead = json.loads(shown.out)["dead_letters"]
    assert [(r["reason"], r["letters"]) for r in dead["reasons"]] == [("wrong_gateway", 1)]
    assert device in dead["reasons"][0]["example"]
    table = vigil("gateway", "show", mine.gateway_id)
    assert "1 messages dead-lettered" in table.err
    assert "wrong_gateway" in table.out
    with psycopg.connect(console.dsn) as conn:
        stored = conn.execute(
            "select count(*) from device_events where device_id = %s", (device,)
        ).fetchone()
    assert stored == (0,)


def test_an_installer_can_neither_act_on_incidents_nor_read_medical_notes(
    console: Console, db: psycopg.Connection
) -> None:
    household = f"h-{uuid.uuid4().hex[:6]}"
    db.execute(
        "insert into households (id, building_id, unit) values (%s, 'b1', '9')", (household,)
    )
    resident = db.execute(
        "insert into residents (household_id, name, medical_notes) values (%s, '孙', '心脏起搏器') "
        "returning id",
        (household,),
    ).fetchone()
    incident = db.execute(
        "insert into incidents (household_id, cause, signal, severity) "
        "values (%s, 'panic', 'alarm', 5) returning id",
        (household,),
    ).fetchone()
    assert resident is not None
    assert incident is not None

    def session(username: str) -> httpx.Client:
        client = httpx.Client(base_url=console.url)
        token = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
        client.headers["Authorization"] = f"Bearer {token.json()['token']}"
        return client

    inst, op = session("inst"), session("op")
    try:
        act = {"action": "acknowledge"}
        assert inst.post(f"/api/incidents/{incident[0]}/actions", json=act).status_code == 403
        assert inst.get("/api/incidents").status_code == 403
        assert inst.get(f"/api/incidents/{incident[0]}").status_code == 403
        assert inst.get(f"/api/residents/{resident[0]}").json()["medical_notes"] is None
        listed = inst.get("/api/residents", params={"household_id": household}).json()
        assert [r["medical_notes"] for r in listed["items"]] == [None]
        # The same requests by an operator succeed: the refusals are the installer's role.
        assert op.get(f"/api/residents/{resident[0]}").json()["medical_notes"] == "心脏起搏器"
        assert op.get(f"/api/incidents/{incident[0]}").status_code == 200
    finally:
        inst.close()
        op.close()
    state = db.execute("select state from incidents where id = %s", (incident[0],)).fetchone()
    assert state == ("new",)
