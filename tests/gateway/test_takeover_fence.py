"""A gateway's login cannot take over another client's session, nor fill the broker.

Issue 14 (1, 7): a gateway's login with ingest's client id threw ingest off and wiped its
session (12 of 20 acknowledged alarms lost); one gateway could disconnect another; one stored a
20 MiB retained message. Each gateway account is now bound to `vigil-gw-<id>`, the broker
refuses packets over the wire contract's limit, and a gateway may retain only on its own
three topics.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.gateway.conftest import Account
from vigil.broker_auth import GATEWAY_ROLE_PREFIX, gateway_client_id, with_service_account
from vigil.codec import MAX_MESSAGE_BYTES
from vigil.harness import wait_for
from vigil.settings import Settings
from vigil.stack import MAX_PACKET_BYTES

pytestmark = [pytest.mark.stack, pytest.mark.security]


class Session:
    """One MQTT 5 connection that records its CONNACK and its disconnection."""

    def __init__(
        self, port: int, client_id: str, user: str, password: str, *, persistent: bool = False
    ) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.client.username_pw_set(user, password)
        self.connack: list[str] = []
        self.lost = threading.Event()
        self.pubacks: dict[int, str] = {}
        self.client.on_connect = lambda c, u, f, rc, p: self.connack.append(str(rc))
        self.client.on_disconnect = lambda *a: self.lost.set()
        self.client.on_publish = lambda c, u, mid, rc, p: self.pubacks.__setitem__(mid, str(rc))
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600 if persistent else 0
        self.client.connect("127.0.0.1", port, 30, clean_start=not persistent, properties=props)
        self.client.loop_start()
        wait_for(lambda: bool(self.connack), 5, f"the CONNACK for {client_id}")

    @property
    def accepted(self) -> bool:
        return self.connack[0] == "Success"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _service(settings: Settings, client_id: str) -> Session:
    return Session(
        settings.stack_mqtt_port,
        client_id,
        settings.mqtt_username,
        settings.mqtt_password.get_secret_value(),
        persistent=True,
    )


@pytest.mark.parametrize(
    "victim", ["vigil-ingest-0of1", "vigil-ingest-0of1-events", "vigil-detectors-0of1"]
)
def test_a_gateway_login_cannot_take_a_service_client_id(
    account: Callable[[], Account], settings: Settings, victim: str
) -> None:
    acc = account()
    victim_id = f"{victim}-{uuid.uuid4().hex[:6]}"
    ingest = _service(settings, victim_id)
    try:
        assert ingest.accepted
        thief = Session(settings.stack_mqtt_port, victim_id, acc.gateway_id, acc.password)
        try:
            assert not thief.accepted, "a gateway's login took ingest's client id"
            assert thief.connack == ["Not authorized"]
        finally:
            thief.close()
        time.sleep(0.3)
        assert not ingest.lost.is_set(), "ingest was thrown off its session"
    finally:
        ingest.close()


def test_a_gateway_cannot_disconnect_another(
    account: Callable[[], Account], settings: Settings
) -> None:
    a, b = account(), account()
    port = settings.stack_mqtt_port
    victim = Session(port, gateway_client_id(b.gateway_id), b.gateway_id, b.password)
    try:
        assert victim.accepted
        for client_id in (gateway_client_id(b.gateway_id), f"x-{uuid.uuid4().hex[:6]}", ""):
            thief = Session(port, client_id, a.gateway_id, a.password)
            try:
                assert not thief.accepted, f"gateway a connected as {client_id!r}"
            finally:
                thief.close()
        time.sleep(0.3)
        assert not victim.lost.is_set(), "gateway b was thrown off"
        own = Session(port, gateway_client_id(a.gateway_id), a.gateway_id, a.password)
        assert own.accepted  # its own id still works
        own.close()
    finally:
        victim.close()


def test_no_message_over_the_limit_and_no_retained_message_off_its_topics(
    account: Callable[[], Account], settings: Settings
) -> None:
    acc = account()
    port = settings.stack_mqtt_port
    gw = Session(port, gateway_client_id(acc.gateway_id), acc.gateway_id, acc.password)
    status_topic = f"vigil/v1/s1/{acc.gateway_id}/status"
    try:
        mid = gw.client.publish(f"vigil/v1/s1/{acc.gateway_id}/up/x1", b"{}", qos=1, retain=True)
        wait_for(lambda: mid.mid in gw.pubacks, 5, "the PUBACK")
        assert gw.pubacks[mid.mid] == "Not authorized"
        gw.client.publish(status_topic, b"x" * (20 * 1024 * 1024), qos=1, retain=True)
        assert gw.lost.wait(10), "the broker took a 20 MiB packet"
    finally:
        gw.close()
    assert MAX_MESSAGE_BYTES < MAX_PACKET_BYTES < 2 * MAX_MESSAGE_BYTES
    retained: list[int] = []
    reader = _service(settings, f"t-{uuid.uuid4().hex[:8]}")
    reader.client.on_message = lambda c, u, m: retained.append(len(m.payload))
    reader.client.subscribe(status_topic, qos=1)
    time.sleep(0.5)
    reader.close()
    assert retained == []


def test_accounts_from_before_the_binding_get_it_when_the_broker_starts() -> None:
    old = {
        "clients": [
            {"username": "gw-old", "roles": [{"rolename": f"{GATEWAY_ROLE_PREFIX}gw-old"}]},
            {"username": "someone", "roles": []},
        ],
        "roles": [
            {
                "rolename": f"{GATEWAY_ROLE_PREFIX}gw-old",
                "acls": [
                    {"acltype": "publishClientSend", "topic": "vigil/v1/+/gw-old/up/#"},
                    {"acltype": "publishClientSend", "topic": "vigil/v1/+/gw-old/status"},
                ],
            }
        ],
    }
    new = with_service_account(old, "vigil", "service-password")
    clients = {c["username"]: c for c in new["clients"]}
    assert clients["gw-old"]["clientid"] == "vigil-gw-gw-old"
    assert "clientid" not in clients["someone"]
    assert "clientid" not in clients["vigil"]
    role = next(r for r in new["roles"] if r["rolename"] == f"{GATEWAY_ROLE_PREFIX}gw-old")
    assert [a["topic"] for a in role["acls"]] == [
        "vigil/v1/+/gw-old/up/telemetry",
        "vigil/v1/+/gw-old/up/event",
        "vigil/v1/+/gw-old/status",
    ]
    assert clients["vigil"]["iterations"] >= 10_000
