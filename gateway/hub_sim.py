"""A zigbee2mqtt hub's side, for tests and benchmarks: the hub's own Mosquitto (a real one, on
loopback, with a password) and a publisher that publishes as zigbee2mqtt does (`bridge/state`
and `bridge/devices` retained, device states retained or not, availability).

The payloads themselves come from zigbee-herdsman-converters (tests/zigbee/produce.js); this
module only carries them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from vigil.stack import MOSQUITTO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HubBroker:
    """The hub's Mosquitto: one listener on 127.0.0.1, one user, no persistence."""

    def __init__(self, username: str = "hub", password: str | None = None) -> None:
        self.username = username
        self.password = password or uuid.uuid4().hex
        self.port = free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="vigil-hub-"))
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> HubBroker:
        self._dir.chmod(0o755)  # the broker may drop to its own user
        passwd = self._dir / "passwd"
        subprocess.run(
            [shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd", "-c", "-b",
             str(passwd), self.username, self.password],
            check=True, capture_output=True,
        )  # fmt: skip
        passwd.chmod(0o644)
        conf = self._dir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous false",
            f"password_file {passwd}",
            "persistence false",
            "max_queued_messages 100000",
        ]
        if os.geteuid() == 0:
            lines.append("user root")
        conf.write_text("\n".join(lines) + "\n")
        log = (self._dir / "mosquitto.log").open("ab")
        self._proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            if self._proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"the hub's Mosquitto did not start: {self.log()}")

    def log(self) -> str:
        path = self._dir / "mosquitto.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> HubBroker:
        return self.start()

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()


class HubPublisher:
    """Publishes on the hub's broker as zigbee2mqtt does, QoS 1, waiting for each PUBACK."""

    def __init__(self, broker: HubBroker, base_topic: str = "zigbee2mqtt") -> None:
        self.base = base_topic
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"z2m-{uuid.uuid4().hex[:8]}"
        )
        self.client.username_pw_set(broker.username, broker.password)
        self.client.connect("127.0.0.1", broker.port, 30)
        self.client.loop_start()

    def raw(self, subtopic: str, payload: bytes, *, retain: bool = False) -> None:
        info = self.client.publish(f"{self.base}/{subtopic}", payload, qos=1, retain=retain)
        info.wait_for_publish(10)

    def bridge_state(self, online: bool) -> None:
        state = json.dumps({"state": "online" if online else "offline"}).encode()
        self.raw("bridge/state", state, retain=True)

    def devices(self, entries: list[dict[str, Any]]) -> None:
        self.raw("bridge/devices", json.dumps(entries).encode(), retain=True)

    def state(self, name: str, payload: dict[str, Any], *, retain: bool = True) -> None:
        self.raw(name, json.dumps(payload).encode(), retain=retain)

    def availability(self, name: str, online: bool) -> None:
        state = json.dumps({"state": "online" if online else "offline"}).encode()
        self.raw(f"{name}/availability", state, retain=True)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
