"""A real gateway process between a device socket and the real broker."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable

import pytest

from tests.gateway.conftest import Account, GatewayProcess, Subscriber, press, report
from vigil.codec import Command, EventBatch, TelemetryBatch, decode_uplink, encode
from vigil.frames import Frame
from vigil.harness import wait_for
from vigil.settings import Settings
from vigil.topics import Topic

pytestmark = pytest.mark.stack


def readings_of(batches: list[TelemetryBatch | EventBatch]) -> list[tuple[str, int, str, float]]:
    return [
        (b.dev[i], b.seq[i], b.metric[i], b.value[i])
        for b in batches
        if isinstance(b, TelemetryBatch)
        for i in range(len(b))
    ]


def events_of(batches: list[TelemetryBatch | EventBatch]) -> list[tuple[str, int, str, float]]:
    return [
        (e.dev, e.seq, e.kind, e.value)
        for b in batches
        if isinstance(b, EventBatch)
        for e in b.events
    ]


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_frames_arrive_batched_and_refused_frames_are_counted_not_forwarded(
    account: Callable[[], Account],
    subscriber: Callable[[str], Subscriber],
    gateway: Callable[..., GatewayProcess],
    protocol: str,
) -> None:
    acc = account()
    sub = subscriber(f"vigil/v1/+/{acc.gateway_id}/#")
    gw = gateway(acc, "--protocol", protocol)
    dev = gw.device()
    for seq in range(100):
        dev.send(report("sd-1", seq, temperature=20 + seq / 10, battery=3.0))
    dev.send(press("pb-1", 1))
    dev.send(report("sd-1", 100, temperature=200.0))
    dev.send(Frame(dev="hd-1", type="heat", seq=1, ts=time.time(), r={"smoke_obscuration": 1}))
    dev.send_raw(b"junk")

    wait_for(lambda: len(readings_of(sub.uplinks())) >= 200, 10, "200 readings")
    wait_for(
        lambda: any(s.rejected_frames == 3 for s in sub.statuses()), 10, "a status with 3 refusals"
    )
    batches = sub.uplinks()
    assert sorted(readings_of(batches)) == sorted(
        [("sd-1", s, "temperature", 20 + s / 10) for s in range(100)]
        + [("sd-1", s, "battery", 3.0) for s in range(100)]
    )
    assert events_of(batches) == [("pb-1", 1, "button", 1.0)]
    assert len(batches) < 20  # batched, not one message per frame
    assert all(b.gw == acc.gateway_id for b in batches)
    status = sub.statuses()[-1]
    assert status.state == "online"
    assert status.devices == 2
    log = gw.log()
    assert "rejected frame: sd-1: temperature: 200.0 outside -40.0..150.0" in log
    assert "rejected frame: hd-1: unknown metric 'smoke_obscuration' for device type 'heat'" in log
    assert "rejected frame: neither a JSON object nor a MessagePack map" in log


def test_a_restarted_gateway_never_reuses_a_sequence_number(
    account: Callable[[], Account],
    subscriber: Callable[[str], Subscriber],
    gateway: Callable[..., GatewayProcess],
) -> None:
    acc = account()
    sub = subscriber(f"vigil/v1/+/{acc.gateway_id}/up/#")
    gw = gateway(acc, "--batch-readings", "10")
    for seq in range(50):
        gw.device().send(report("sd-1", seq, battery=3.0))
    gw.device().send(press("pb-1", 1))
    wait_for(lambda: len(readings_of(sub.uplinks())) == 50, 10, "the first 50 readings")
    wait_for(lambda: len(events_of(sub.uplinks())) == 1, 10, "the first press")
    first = [b.gseq for b in sub.uplinks()]
    assert gw.stop() == 0
    gw.start()
    dev = gw.device()
    dev.send(press("pb-1", 2))
    for seq in range(50, 100):
        dev.send(report("sd-1", seq, battery=3.0))
    wait_for(lambda: len(readings_of(sub.uplinks())) == 100, 10, "all 100 readings")
    wait_for(lambda: len(events_of(sub.uplinks())) == 2, 10, "the second press")
    second = [b.gseq for b in sub.uplinks()][len(first) :]
    assert sorted(first) == list(range(1, len(first) + 1)), (first, gw.log())
    assert min(second) > max(first)
    assert len(set(second)) == len(second)


def test_stopping_publishes_offline_status(
    account: Callable[[], Account],
    subscriber: Callable[[str], Subscriber],
    gateway: Callable[..., GatewayProcess],
) -> None:
    acc = account()
    sub = subscriber(f"vigil/v1/+/{acc.gateway_id}/status")
    gw = gateway(acc)
    wait_for(lambda: any(s.state == "online" for s in sub.statuses()), 10, "online status")
    assert gw.stop() == 0
    wait_for(lambda: sub.statuses()[-1].state == "offline", 10, "offline status")


def test_mosquitto_sub_reads_the_json_encoding(
    account: Callable[[], Account],
    gateway: Callable[..., GatewayProcess],
    settings: Settings,
) -> None:
    acc = account()
    gw = gateway(acc, "--encoding", "json")
    common = [
        "mosquitto_sub", "-p", str(settings.stack_mqtt_port), "-u", settings.mqtt_username,
        "-P", settings.mqtt_password.get_secret_value(), "-q", "1",
        "-c", "-i", f"test-json-{acc.gateway_id}", "-t", f"vigil/v1/+/{acc.gateway_id}/up/#",
    ]  # fmt: skip
    # -E: make the persistent session and its subscription, then exit; the second run gets
    # what the broker kept for it, so nothing depends on how fast mosquitto_sub starts.
    subprocess.run([*common, "-E"], check=True, timeout=10)
    dev = gw.device()
    dev.send(report("sd-7", 3, smoke_obscuration=0.4, temperature=21.5))
    dev.send(press("pb-7", 9))
    out = subprocess.run(
        [*common, "-v", "-C", "2", "-W", "20"], check=True, timeout=25, capture_output=True,
        text=True,
    ).stdout  # fmt: skip
    messages = {}
    for line in out.splitlines():
        topic, _, payload = line.partition(" ")
        if topic.startswith("vigil/v1/"):
            messages[Topic.parse(topic).kind.name] = (topic, payload)
    assert set(messages) == {"TELEMETRY", "EVENT"}
    topic, payload = messages["TELEMETRY"]
    doc = json.loads(payload)
    assert doc["dev"] == ["sd-7", "sd-7"]
    assert doc["metric"] == ["smoke_obscuration", "temperature"]
    assert doc["value"] == [0.4, 21.5]
    assert isinstance(decode_uplink(payload.encode(), Topic.parse(topic)), TelemetryBatch)
    topic, payload = messages["EVENT"]
    assert json.loads(payload)["events"][0]["kind"] == "button"


def test_downlink_commands_reach_the_gateway(
    account: Callable[[], Account],
    subscriber: Callable[[str], Subscriber],
    gateway: Callable[..., GatewayProcess],
) -> None:
    acc = account()
    sub = subscriber(f"vigil/v1/+/{acc.gateway_id}/status")
    gw = gateway(acc)
    wait_for(lambda: any(s.state == "online" for s in sub.statuses()), 10, "online status")
    command = Command(cmd="silence", dev="sd-1", id="c0ffee")
    down = Topic.down("test-site", acc.gateway_id, "silence")
    sub.client.publish(str(down), encode(command), qos=1)
    sub.client.publish(str(down), b"not a command", qos=1)
    wait_for(lambda: "command silence for sd-1 (id c0ffee)" in gw.log(), 10, "the command")
    wait_for(lambda: "refused command on" in gw.log(), 10, "the refusal of the bad command")
