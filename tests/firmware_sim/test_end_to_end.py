"""`vigil sim run` through real gateway processes to the real broker."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import typer
from paho.mqtt.enums import CallbackAPIVersion

from firmware_sim.district import build_district
from firmware_sim.gateways import gateway_command
from gateway import cli as gateway_cli
from vigil.codec import Encoding, EventBatch, TelemetryBatch, decode_uplink
from vigil.settings import Settings
from vigil.stack import LocalStack
from vigil.topics import Topic

GATEWAYS = ("gw-0001", "gw-0002")


class Subscriber:
    """The service account, listening to every gateway's uplink."""

    def __init__(self, settings: Settings, port: int) -> None:
        self.readings: list[tuple[str, int, str]] = []
        self.events: list[tuple[str, str, float, float]] = []  # dev, kind, value, ts
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sim-e2e")
        self.client.username_pw_set(
            settings.mqtt_username, settings.mqtt_password.get_secret_value()
        )
        self.client.on_message = self._message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("vigil/v1/+/+/up/#", qos=1)
        self.client.loop_start()
        assert subscribed.wait(10)

    def _message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        batch = decode_uplink(msg.payload, Topic.parse(msg.topic))
        with self.lock:
            if isinstance(batch, TelemetryBatch):
                self.readings += zip(batch.dev, batch.seq, batch.metric, strict=True)
            elif isinstance(batch, EventBatch):
                self.events += [(e.dev, e.kind, e.value, e.ts) for e in batch.events]

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.mark.stack
def test_sim_frames_reach_the_broker_through_gateways(
    stack: LocalStack, settings: Settings, tmp_path: Path
) -> None:
    for gw in GATEWAYS:  # queues left by an earlier run would be replayed into this one
        (settings.var_dir / "gateways" / f"{gw}.queue.sqlite").unlink(missing_ok=True)
    sub = Subscriber(settings, settings.stack_mqtt_port)
    truth = tmp_path / "truth.jsonl"
    env = {
        **os.environ,
        "VIGIL_VAR_DIR": str(settings.var_dir),
        "VIGIL_STACK_PG_PORT": str(settings.stack_pg_port),
        "VIGIL_STACK_MQTT_PORT": str(settings.stack_mqtt_port),
    }
    try:
        result = subprocess.run(
            [sys.executable, "-m", "vigil.cli", "sim", "run", "-g", "2", "-d", "12",
             "--seed", "9", "--speed", "900", "--duration", "1h", "--no-register",
             "--scenario", "panic_press", "--scenarios-per-hour", "12", "--truth", str(truth)],
            capture_output=True, text=True, env=env, check=False, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr + result.stdout
        sent = int(re.search(r"(\d+) readings \(", result.stdout.replace("\n", " ")).group(1))  # type: ignore[union-attr]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with sub.lock:
                if len(sub.readings) + len(sub.events) >= sent:
                    break
            time.sleep(0.1)
    finally:
        sub.stop()
    devices = {d.id for d in build_district(9, 2, 12).devices}
    assert len(set(sub.readings)) + len(sub.events) == sent, "every reading and event, once"
    assert {dev for dev, _, _ in sub.readings} == devices
    lines = [json.loads(line) for line in truth.read_text().splitlines()]
    assert lines, "a panic press was played"
    presses = {(dev, ts) for dev, kind, value, ts in sub.events if kind == "button" and value == 1}
    for line in lines:
        (dev,) = line["devices"]
        assert (dev, line["onset_ts"]) in presses


def test_gateway_command_uses_only_options_the_gateway_has() -> None:
    run = typer.main.get_command(gateway_cli.app).commands["run"]  # type: ignore[attr-defined]
    known = {opt for p in run.params for opt in p.opts}
    cmd = gateway_command("gw-0001", "wenxin", Path("/tmp/x.sock"), Encoding.JSON, 1883)
    assert cmd[:5] == [sys.executable, "-m", "vigil.cli", "gateway", "run"]
    options = [a for a in cmd[5:] if a.startswith("--")]
    assert set(options) <= known
    assert {"--id", "--site", "--socket", "--encoding", "--mqtt-port"} <= set(options)
