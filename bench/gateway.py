"""`make bench-gateway`: one gateway process through the real broker to a subscriber.

Two runs on the same feed, one after the other: the baseline forwards every device frame as an
MQTT message of its own (`--batch-readings 1`), then the gateway batches as it does by default.
A feeder process sends three-reading smoke reports as fast as the gateway takes them, and a
panic press every 20 ms on a connection of its own; a counter process subscribes to telemetry,
and this process to events, as ingest and alerting would. The last line printed is one JSON object.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from vigil.broker_auth import BrokerAuth
from vigil.codec import decode_events, decode_telemetry
from vigil.frames import Frame, encode_frame
from vigil.settings import REPO_ROOT, Settings, get_settings
from vigil.stack import LocalStack
from vigil.topics import Topic

FEED_S = 8.0
WARMUP_S = 1.0
PRESS_EVERY_S = 0.02
DEVICES = 1000
SITE = "bench"


@dataclass
class RunResult:
    batch_readings: int
    readings_per_s: float
    messages_per_s: float
    panic_ms: list[float]
    sent_presses: int

    def panic_pct(self, q: float) -> float:
        if not self.panic_ms:
            return float("nan")
        ordered = sorted(self.panic_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _subscriber(settings: Settings, topic: str, client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.username_pw_set(settings.mqtt_username, settings.mqtt_password.get_secret_value())
    subscribed = threading.Event()
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect("127.0.0.1", settings.stack_mqtt_port, 60)
    client.loop_start()
    if not subscribed.wait(10):
        raise RuntimeError(f"no SUBACK for {topic}")
    return client


def _count_telemetry(settings: Settings, topic: str, ready: Any, pipe: Connection) -> None:
    """Counter process: (arrival time, readings) per telemetry message, sent back when asked."""
    arrivals: list[tuple[float, int]] = []

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        arrivals.append((time.time(), len(decode_telemetry(msg.payload))))

    client = _subscriber(settings, topic, f"bench-count-{uuid.uuid4().hex[:6]}")
    client.on_message = on_message
    ready.set()
    pipe.recv()  # the go to report
    client.disconnect()
    client.loop_stop()
    pipe.send(arrivals)


def _feed(socket_path: str, seconds: float, pipe: Connection) -> None:
    """Feeder process: reports as fast as the gateway takes them, and regular panic presses."""
    now = time.time()
    frames = [
        encode_frame(
            Frame(dev=f"sd-{i % DEVICES:04d}", type="smoke", seq=i // DEVICES, ts=now,
                  r={"smoke_obscuration": 0.1, "temperature": 21.5, "battery": 2.98})
        )
        for i in range(50_000)
    ]  # fmt: skip
    reports = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    reports.connect(socket_path)
    presses = 0
    stop = threading.Event()

    def press() -> None:
        nonlocal presses
        button = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        button.connect(socket_path)
        while not stop.wait(PRESS_EVERY_S):
            frame = Frame(dev="pb-0001", type="panic", seq=presses, ts=time.time(), e="button")
            button.send(encode_frame(frame))
            presses += 1
        button.close()

    presser = threading.Thread(target=press)
    presser.start()
    sent = 0
    start = time.time()
    deadline = start + seconds
    while time.time() < deadline:
        chunk = sent % len(frames)
        for packet in frames[chunk : chunk + 1000]:
            reports.send(packet)
        sent += 1000
    stop.set()
    presser.join()
    reports.close()
    pipe.send((start, time.time(), sent * 3, presses))


def _wait_for_socket(path: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited with code {proc.returncode}")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            probe.connect(str(path))
            return
        except OSError:
            time.sleep(0.05)
        finally:
            probe.close()
    raise RuntimeError("gateway did not listen within 20 s")


def run_once(settings: Settings, gateway_id: str, password: str, batch_readings: int) -> RunResult:
    work = Path(tempfile.mkdtemp(prefix="vbench-", dir="/tmp"))
    sock_path = work / "gw.sock"
    telemetry_topic = str(Topic.telemetry(SITE, gateway_id))
    event_topic = str(Topic.event(SITE, gateway_id))
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    count_pipe, count_child = ctx.Pipe()
    counter = ctx.Process(
        target=_count_telemetry, args=(settings, telemetry_topic, ready, count_child)
    )
    counter.start()
    panic_ms: list[float] = []

    def on_event(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        arrived = time.time()
        panic_ms.extend((arrived - e.ts) * 1000 for e in decode_events(msg.payload).events)

    events = _subscriber(settings, event_topic, f"bench-events-{uuid.uuid4().hex[:6]}")
    events.on_message = on_event
    if not ready.wait(20):
        raise RuntimeError("telemetry counter did not subscribe")
    gateway_log = (work / "gateway.log").open("wb")
    gateway = subprocess.Popen(
        [
            sys.executable, "-m", "vigil.cli", "gateway", "run", "--id", gateway_id,
            "--site", SITE, "--socket", str(sock_path), "--queue", str(work / "q.sqlite"),
            "--mqtt-port", str(settings.stack_mqtt_port), "--batch-readings", str(batch_readings),
            "--log-level", "WARNING",
        ],
        env=os.environ | {"VIGIL_GATEWAY_PASSWORD": password},
        cwd=REPO_ROOT,
        stdout=gateway_log,
        stderr=gateway_log,
    )  # fmt: skip
    try:
        _wait_for_socket(sock_path, gateway)
        feed_pipe, feed_child = ctx.Pipe()
        feeder = ctx.Process(target=_feed, args=(str(sock_path), FEED_S, feed_child))
        feeder.start()
        start, end, offered, presses = feed_pipe.recv()
        feeder.join()
        time.sleep(1.0)  # let the last batches and presses arrive
    finally:
        gateway.send_signal(signal.SIGTERM)
        gateway.wait(20)
        gateway_log.close()
        problems = (work / "gateway.log").read_text()
        if problems:
            print(f"gateway log (batch {batch_readings}):\n{problems}", file=sys.stderr)
        count_pipe.send("report")
        arrivals: list[tuple[float, int]] = count_pipe.recv()
        counter.join()
        events.disconnect()
        events.loop_stop()
        shutil.rmtree(work, ignore_errors=True)
    window = [(t, n) for t, n in arrivals if start + WARMUP_S <= t <= end]
    span = end - start - WARMUP_S
    readings = sum(n for _, n in window)
    print(
        f"batch {batch_readings:>4}: offered {offered / (end - start):>9,.0f} readings/s, "
        f"delivered {readings / span:>9,.0f} readings/s in {len(window) / span:>7,.0f} msg/s; "
        f"panic p50 {statistics.median(panic_ms) if panic_ms else float('nan'):.1f} ms "
        f"over {len(panic_ms)}/{presses} presses",
        flush=True,
    )
    return RunResult(batch_readings, readings / span, len(window) / span, panic_ms, presses)


def main() -> None:
    settings = get_settings()
    stack = LocalStack(settings)
    started = not stack.status()["mqtt"]["running"]
    stack.start_mqtt()
    auth = BrokerAuth.for_stack(stack)
    gateway_id = f"bench-{uuid.uuid4().hex[:6]}"
    password = uuid.uuid4().hex
    auth.add_gateway(gateway_id, password)
    try:
        baseline = run_once(settings, gateway_id, password, batch_readings=1)
        batched = run_once(settings, gateway_id, password, batch_readings=500)
    finally:
        auth.remove_gateway(gateway_id)
        if started:
            stack.stop_mqtt()
    result = {
        "readings_per_s": round(batched.readings_per_s),
        "panic_p50_ms": round(statistics.median(batched.panic_ms), 2),
        "panic_p99_ms": round(batched.panic_pct(0.99), 2),
        "panic_presses": f"{len(batched.panic_ms)}/{batched.sent_presses}",
        "messages_per_s": round(batched.messages_per_s),
        "baseline": "one MQTT message per device frame (3 readings), --batch-readings 1",
        "baseline_readings_per_s": round(baseline.readings_per_s),
        "baseline_panic_p99_ms": round(baseline.panic_pct(0.99), 2),
        "ratio": round(batched.readings_per_s / baseline.readings_per_s, 1),
        "cores": os.cpu_count(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
