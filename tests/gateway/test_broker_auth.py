"""Each gateway has its own broker account, fenced in by its role (dynamic security)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.gateway.conftest import Account, GatewayProcess, Subscriber, can_connect, report
from vigil.broker_auth import BrokerAuth, BrokerAuthError, gateway_acls, gateway_client_id
from vigil.harness import wait_for
from vigil.settings import Settings
from vigil.stack import LocalStack

pytestmark = [pytest.mark.stack, pytest.mark.security]


class RawClient:
    """A bare MQTT 5 client: it sees PUBACK and SUBACK reason codes."""

    def __init__(self, port: int, acc: Account) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=gateway_client_id(acc.gateway_id),
            protocol=mqtt.MQTTv5,
        )
        self.client.username_pw_set(acc.gateway_id, acc.password)
        self.pubacks: dict[int, str] = {}
        self.subacks: list[str] = []
        self.received: list[str] = []
        self.client.on_message = lambda c, u, m: self.received.append(m.topic)
        self._connected = threading.Event()
        self.client.on_connect = lambda *a: self._connected.set()
        self.client.on_publish = lambda c, u, mid, rc, p: self.pubacks.__setitem__(mid, str(rc))
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subacks.extend(map(str, rcs))
        self.client.connect("127.0.0.1", port, 30)
        self.client.loop_start()
        assert self._connected.wait(5)

    def publish(self, topic: str) -> str:
        mid = self.client.publish(topic, b'{"v":1}', qos=1).mid
        wait_for(lambda: mid in self.pubacks, 5, f"PUBACK for {topic}")
        return self.pubacks[mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_a_gateway_may_publish_only_under_its_own_id(
    account: Callable[[], Account],
    subscriber: Callable[[str], Subscriber],
    settings: Settings,
) -> None:
    mine, other = account(), account()
    sub = subscriber("vigil/v1/#")
    raw = RawClient(settings.stack_mqtt_port, mine)
    try:
        assert raw.publish(f"vigil/v1/s1/{mine.gateway_id}/up/telemetry") == "Success"
        assert raw.publish(f"vigil/v1/s1/{mine.gateway_id}/status") == "Success"
        refused = [
            f"vigil/v1/s1/{other.gateway_id}/up/telemetry",
            f"vigil/v1/s1/{other.gateway_id}/up/event",
            f"vigil/v1/s1/{other.gateway_id}/status",
            f"vigil/v1/s1/{mine.gateway_id}/down/silence",
            "vigil/v1/s1/elsewhere",
        ]
        for topic in refused:
            assert raw.publish(topic) == "Not authorized", topic
        # A subscription wider than its own downlink is refused outright; its own one is
        # granted, and a command for another gateway never reaches it.
        raw.client.subscribe("vigil/v1/+/+/down/#", qos=1)
        wait_for(lambda: len(raw.subacks) == 1, 5, "the SUBACK")
        assert raw.subacks == ["Not authorized"]
        raw.client.subscribe(f"vigil/v1/+/{mine.gateway_id}/down/#", qos=1)
        wait_for(lambda: len(raw.subacks) == 2, 5, "the second SUBACK")
        assert raw.subacks[1] == "Granted QoS 1"
        for gw in (other, mine):
            sub.client.publish(f"vigil/v1/s1/{gw.gateway_id}/down/silence", b"{}", qos=1)
        wait_for(lambda: bool(raw.received), 5, "the gateway's own command")
        time.sleep(0.3)
        assert raw.received == [f"vigil/v1/s1/{mine.gateway_id}/down/silence"]
    finally:
        raw.close()
    ours = (f"/{mine.gateway_id}/", f"/{other.gateway_id}/")
    published_by_gateway = [
        m.topic
        for m in sub.snapshot()
        if "/down/" not in m.topic and any(part in m.topic for part in ours)
    ]
    assert sorted(published_by_gateway) == [
        f"vigil/v1/s1/{mine.gateway_id}/status",
        f"vigil/v1/s1/{mine.gateway_id}/up/telemetry",
    ]


def test_wrong_credentials_are_refused_and_the_gateway_keeps_accepting_frames(
    account: Callable[[], Account],
    subscriber: Callable[[str], Subscriber],
    gateway: Callable[..., GatewayProcess],
    settings: Settings,
) -> None:
    acc = account()
    assert not can_connect(settings.stack_mqtt_port, acc.gateway_id, "wrong")
    assert not can_connect(settings.stack_mqtt_port, "nobody", acc.password)
    sub = subscriber(f"vigil/v1/+/{acc.gateway_id}/#")
    gw = gateway(Account(acc.gateway_id, "wrong"))
    gw.device().send(report("sd-1", 1, battery=3.0))
    wait_for(lambda: "broker refused the connection" in gw.log(), 10, "the refusal in the log")
    assert "Bad user name or password" in gw.log() or "Not authorized" in gw.log()
    time.sleep(0.5)
    assert sub.snapshot() == []
    assert gw.stop() == 0


def test_revoking_an_account_locks_the_gateway_out(
    account: Callable[[], Account], stack: LocalStack, settings: Settings
) -> None:
    acc = account()
    auth = BrokerAuth.for_stack(stack)
    assert acc.gateway_id in auth.gateways()
    auth.remove_gateway(acc.gateway_id)
    assert not can_connect(settings.stack_mqtt_port, acc.gateway_id, acc.password)
    assert acc.gateway_id not in auth.gateways()
    assert auth.gateway_rights(acc.gateway_id) == []
    with pytest.raises(BrokerAuthError, match="no gateway account"):
        auth.remove_gateway(acc.gateway_id)


def test_account_names_are_checked_before_the_broker_is_asked() -> None:
    auth = BrokerAuth("127.0.0.1", 1, "vigil", "pw")  # nothing listens on port 1
    with pytest.raises(BrokerAuthError, match="service account"):
        auth.add_gateway("vigil", "pw")
    with pytest.raises(ValueError, match="invalid gateway id"):
        auth.add_gateway("gw/1", "pw")
    with pytest.raises(ValueError, match="invalid site"):
        auth.add_gateway("gw-1", "pw", site="Site One")
    with pytest.raises(BrokerAuthError, match="non-empty password"):
        auth.add_gateway("gw-1", "")
    with pytest.raises(BrokerAuthError, match="cannot reach the broker"):
        auth.remove_gateway("gw-1")


def test_the_role_fences_each_gateway_in() -> None:
    assert [(a["acltype"], a["topic"]) for a in gateway_acls("gw-a")] == [
        ("publishClientSend", "vigil/v1/+/gw-a/up/telemetry"),
        ("publishClientSend", "vigil/v1/+/gw-a/up/event"),
        ("publishClientSend", "vigil/v1/+/gw-a/status"),
        ("subscribePattern", "vigil/v1/+/gw-a/down/#"),
        ("publishClientReceive", "vigil/v1/+/gw-a/down/#"),
    ]
    assert {a["topic"] for a in gateway_acls("gw-a", site="s1")} == {
        "vigil/v1/s1/gw-a/up/telemetry",
        "vigil/v1/s1/gw-a/up/event",
        "vigil/v1/s1/gw-a/status",
        "vigil/v1/s1/gw-a/down/#",
    }
    assert all(a["allow"] for a in gateway_acls("gw-a"))


def test_the_broker_holds_the_role_it_was_given(
    account: Callable[[], Account], stack: LocalStack
) -> None:
    acc = account()
    rights = BrokerAuth.for_stack(stack).gateway_rights(acc.gateway_id)
    assert sorted((a["acltype"], a["topic"]) for a in rights) == sorted(
        (a["acltype"], a["topic"]) for a in gateway_acls(acc.gateway_id)
    )


def test_rekeying_accounts_again_and_again_keeps_the_broker_up(
    account: Callable[[], Account], stack: LocalStack, settings: Settings
) -> None:
    """Mosquitto 2.0.11 died (a segfault in libc) by the fifth re-key when a role still held
    by its client was deleted before that client: each full test run lost its broker about
    once in five. The client goes first now."""
    auth, pid = BrokerAuth.for_stack(stack), stack.mqtt_pid()
    passwords = {acc.gateway_id: acc.password for acc in (account() for _ in range(5))}
    for round_ in range(3):
        for gateway_id, old in passwords.items():
            passwords[gateway_id] = new = f"rekeyed-{round_}-{old}"
            auth.add_gateway(gateway_id, new)
            assert can_connect(settings.stack_mqtt_port, gateway_id, new)
            assert not can_connect(settings.stack_mqtt_port, gateway_id, old)
    assert stack.mqtt_pid() == pid
