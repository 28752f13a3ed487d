"""Gateway test helpers: real gateway processes, real broker accounts, a device and a subscriber."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from vigil.broker_auth import BrokerAuth, gateway_client_id
from vigil.codec import EventBatch, GatewayStatus, TelemetryBatch, decode_status, decode_uplink
from vigil.frames import Frame, encode_frame
from vigil.harness import wait_for
from vigil.settings import REPO_ROOT, Settings
from vigil.stack import LocalStack
from vigil.topics import GATEWAY_ID_PATTERN, Topic, TopicKind


@dataclass(frozen=True)
class Account:
    gateway_id: str
    password: str


def can_connect(port: int, username: str, password: str) -> bool:
    # A gateway's login is bound to its client id (the service account may use any).
    bound = GATEWAY_ID_PATTERN.fullmatch(username) is not None
    client_id = gateway_client_id(username) if bound else ""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.username_pw_set(username, password)
    result: list[bool] = []
    client.on_connect = lambda c, u, f, reason, p: result.append(not reason.is_failure)
    try:
        client.connect("127.0.0.1", port, 5)
    except OSError:
        return False
    deadline = time.monotonic() + 5
    while not result and time.monotonic() < deadline:
        client.loop(0.05)
    client.disconnect()
    return bool(result and result[0])


@pytest.fixture
def account(stack: LocalStack, settings: Settings) -> Iterator[Callable[[], Account]]:
    """Makes gateway accounts on the test broker; removes them afterwards."""
    auth = BrokerAuth.for_stack(stack)
    made: list[str] = []

    def make() -> Account:
        acc = Account(f"gw-{uuid.uuid4().hex[:10]}", uuid.uuid4().hex)
        auth.add_gateway(acc.gateway_id, acc.password)
        made.append(acc.gateway_id)
        wait_for(
            lambda: can_connect(settings.stack_mqtt_port, acc.gateway_id, acc.password),
            10,
            "the broker to reload its accounts",
        )
        return acc

    yield make
    for gw in made:
        with contextlib.suppress(Exception):
            auth.remove_gateway(gw)


@dataclass
class Received:
    topic: str
    payload: bytes
    at: float  # time.time() on arrival

    @property
    def kind(self) -> TopicKind:
        return Topic.parse(self.topic).kind

    def uplink(self) -> TelemetryBatch | EventBatch:
        return decode_uplink(self.payload, Topic.parse(self.topic))

    def status(self) -> GatewayStatus:
        return decode_status(self.payload)


class Subscriber:
    """A QoS 1 subscriber with a persistent session that survives broker restarts."""

    def __init__(self, port: int, topic_filter: str, settings: Settings) -> None:
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._filter = topic_filter
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"test-sub-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )  # fmt: skip
        self.client.username_pw_set(
            settings.mqtt_username, settings.mqtt_password.get_secret_value()
        )
        self.client.on_connect = self._connected
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._message
        self.client.reconnect_delay_set(1, 1)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", port, 30, properties=props)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise AssertionError("subscriber got no SUBACK")

    def _connected(self, client: mqtt.Client, *_: Any) -> None:
        client.subscribe(self._filter, qos=1)

    def _message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Received(msg.topic, bytes(msg.payload), time.time()))

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.messages)

    def uplinks(self) -> list[TelemetryBatch | EventBatch]:
        return [m.uplink() for m in self.snapshot() if m.kind is not TopicKind.STATUS]

    def statuses(self) -> list[GatewayStatus]:
        return [m.status() for m in self.snapshot() if m.kind is TopicKind.STATUS]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def subscriber(stack: LocalStack, settings: Settings) -> Iterator[Callable[[str], Subscriber]]:
    made: list[Subscriber] = []

    def make(topic_filter: str) -> Subscriber:
        sub = Subscriber(settings.stack_mqtt_port, topic_filter, settings)
        made.append(sub)
        return sub

    yield make
    for sub in made:
        sub.close()


class Device:
    """One device connection to a gateway's SOCK_SEQPACKET socket."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.connect(str(path))

    def send(self, frame: Frame) -> None:
        self.sock.send(encode_frame(frame))

    def send_raw(self, packet: bytes) -> None:
        self.sock.send(packet)

    def close(self) -> None:
        self.sock.close()


def report(dev: str, seq: int, **readings: float) -> Frame:
    return Frame(dev=dev, type="smoke", seq=seq, ts=time.time(), r=readings)


def press(dev: str, seq: int) -> Frame:
    return Frame(dev=dev, type="panic", seq=seq, ts=time.time(), e="button", x=1.0)


class GatewayProcess:
    """`vigil gateway run` in a process of its own, as in production."""

    def __init__(self, workdir: Path, account: Account, port: int, *extra: str) -> None:
        self.workdir = workdir
        self.account = account
        self.socket_path = workdir / "gw.sock"
        self.queue_path = workdir / "gw.queue.sqlite"
        self.log_path = workdir / "gw.log"
        self.args = [
            sys.executable, "-m", "vigil.cli", "gateway", "run",
            "--id", account.gateway_id, "--site", "test-site",
            "--socket", str(self.socket_path), "--queue", str(self.queue_path),
            "--mqtt-port", str(port), "--status-s", "0.5", *extra,
        ]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> GatewayProcess:
        env = os.environ | {"VIGIL_GATEWAY_PASSWORD": self.account.password}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=log, env=env, cwd=REPO_ROOT)
        wait_for(self._listening, 20, f"the gateway to listen ({self.log()})")
        return self

    def _listening(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"gateway exited {self.proc.returncode}: {self.log()}")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            probe.connect(str(self.socket_path))
        except OSError:
            return False
        finally:
            probe.close()
        return True

    def device(self) -> Device:
        return Device(self.socket_path)

    def stop(self) -> int:
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        return code

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A short folder: a Unix socket path must stay under 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="vgw-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def gateway(
    workdir: Path, settings: Settings, stack: LocalStack
) -> Iterator[Callable[..., GatewayProcess]]:
    """Starts gateway processes (account, extra CLI options); stops them afterwards."""
    made: list[GatewayProcess] = []

    def start(acc: Account, *extra: str, port: int | None = None) -> GatewayProcess:
        gw = GatewayProcess(workdir, acc, port or settings.stack_mqtt_port, *extra)
        made.append(gw)
        return gw.start()

    yield start
    for gw in made:
        gw.stop()
