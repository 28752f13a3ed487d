"""Each gateway has its own broker account, fenced in by the ACL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.gateway.conftest import (
    Account,
    GatewayProcess,
    Subscriber,
    can_connect,
    report,
    wait_until,
)
from vigil.broker_auth import BrokerAuth, BrokerAuthError, gateway_acl
from vigil.settings import Settings
from vigil.stack import LocalStack

pytestmark = [pytest.mark.stack, pytest.mark.security]


class RawClient:
    """A bare MQTT 5 client: it sees PUBACK and SUBACK reason codes."""

    def __init__(self, port: int, acc: Account) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
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
        wait_until(lambda: mid in self.pubacks, 5, f"PUBACK for {topic}")
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
        # Mosquitto grants a wildcard subscription and checks each message on delivery, so
        # what counts is which commands reach the gateway.
        raw.client.subscribe("vigil/v1/+/+/down/#", qos=1)
        wait_until(lambda: len(raw.subacks) == 1, 5, "the SUBACK")
        for gw in (other, mine):
            sub.client.publish(f"vigil/v1/s1/{gw.gateway_id}/down/silence", b"{}", qos=1)
        wait_until(lambda: bool(raw.received), 5, "the gateway's own command")
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
    wait_until(lambda: "broker refused the connection" in gw.log(), 10, "the refusal in the log")
    assert "Bad user name or password" in gw.log() or "Not authorized" in gw.log()
    time.sleep(0.5)
    assert sub.snapshot() == []
    assert gw.stop() == 0


def test_revoking_an_account_locks_the_gateway_out(
    account: Callable[[], Account], stack: LocalStack, settings: Settings
) -> None:
    acc = account()
    BrokerAuth.for_stack(stack).remove_gateway(acc.gateway_id)
    wait_until(
        lambda: not can_connect(settings.stack_mqtt_port, acc.gateway_id, acc.password),
        10,
        "the broker to forget the account",
    )
    assert gateway_acl(acc.gateway_id) not in stack.paths.mqtt_acl.read_text()


def test_account_names_are_checked(tmp_path: Path) -> None:
    auth = BrokerAuth(tmp_path / "passwd", tmp_path / "acl", "vigil")
    with pytest.raises(BrokerAuthError, match="service account"):
        auth.add_gateway("vigil", "pw")
    with pytest.raises(ValueError, match="invalid gateway id"):
        auth.add_gateway("gw/1", "pw")
    with pytest.raises(BrokerAuthError, match="non-empty password"):
        auth.add_gateway("gw-1", "")
    with pytest.raises(BrokerAuthError, match="no gateway account"):
        auth.remove_gateway("gw-1")


def test_the_acl_fences_each_gateway_in(tmp_path: Path) -> None:
    auth = BrokerAuth(tmp_path / "passwd", tmp_path / "acl", "vigil")
    auth.add_gateway("gw-b", "pw")
    auth.add_gateway("gw-a", "pw")
    assert auth.gateways() == ["gw-a", "gw-b"]
    assert (tmp_path / "acl").read_text() == (
        "user vigil\ntopic readwrite #\n\n"
        "user gw-a\ntopic write vigil/v1/+/gw-a/up/#\ntopic write vigil/v1/+/gw-a/status\n"
        "topic read vigil/v1/+/gw-a/down/#\n\n"
        "user gw-b\ntopic write vigil/v1/+/gw-b/up/#\ntopic write vigil/v1/+/gw-b/status\n"
        "topic read vigil/v1/+/gw-b/down/#\n"
    )
    assert oct((tmp_path / "passwd").stat().st_mode & 0o777) == "0o600"
