"""Real models' payloads (made by zigbee-herdsman-converters) through the adapter's mapping and
state tracker: every alarm, restoral, press, test, low battery and tamper once and only once,
also when the hub replays its retained states or the adapter restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.zigbee2mqtt_map import ExposeMap
from tests.zigbee.converters import produce
from tests.zigbee.harness import RecordingBridge, adapter, publish_devices, publish_state
from tests.zigbee.models import MODELS, Model
from vigil.provisioning.zigbee import device_id

pytestmark = pytest.mark.zigbee


@pytest.fixture(scope="module")
def produced() -> dict[str, Any]:
    return produce([m.spec() for m in MODELS])


def _events(bridge: RecordingBridge, since: int) -> list[tuple[str, float]]:
    return [(e.kind, e.value) for e in bridge.events[since:]]


def test_the_converters_found_the_models_we_meant(produced: dict[str, Any]) -> None:
    found = {e["friendly_name"]: e["definition"]["model"] for e in produced["devices"]}
    assert found == {m.friendly_name: m.model for m in MODELS}
    assert len({m.model for m in MODELS if m.vigil_type}) >= 10


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.key)
def test_each_message_gives_exactly_the_expected_events(
    model: Model, produced: dict[str, Any], tmp_path: Path
) -> None:
    (entry,) = [e for e in produced["devices"] if e["friendly_name"] == model.friendly_name]
    plan = ExposeMap.load().plan(entry)
    if model.vigil_type is None:
        assert plan is None
        return
    assert plan is not None
    assert plan.vigil_type == model.vigil_type
    assert plan.vigil_id == device_id(model.ieee)
    bridge = RecordingBridge(tmp_path / "q.sqlite")
    z = adapter(bridge.path, bridge)
    publish_devices(z, [entry])
    payloads = produced["payloads"][model.friendly_name]
    for (step, expected), payload in zip(model.steps, payloads, strict=True):
        before = len(bridge.events)
        if payload is not None:
            publish_state(z, model.friendly_name, payload)
        assert _events(bridge, before) == expected, (step, payload)
    assert {e.dev for e in bridge.events} <= {plan.vigil_id}
    assert all(e.detail["source"] == "zigbee2mqtt" and e.detail["model"] == model.model
               for e in bridge.events)  # fmt: skip
    presses = [e for e in bridge.events if e.kind == "button"]
    assert all(e.detail["reason"] == "panic" for e in presses)
    seqs = [e.seq for e in bridge.events]
    assert seqs == list(range(1, len(seqs) + 1))


def test_replays_and_restarts_raise_nothing_twice(produced: dict[str, Any], tmp_path: Path) -> None:
    """Every model's whole scenario; then the hub restarts and publishes every device's last
    state again (retained), and the adapter restarts and gets the retained states once more."""
    path = tmp_path / "q.sqlite"
    bridge = RecordingBridge(path)
    z = adapter(path, bridge)
    publish_devices(z, produced["devices"])
    last: dict[str, dict[str, Any]] = {}
    expected: list[tuple[str, str, float]] = []
    for model in MODELS:
        dev = device_id(model.ieee)
        for (_, want), payload in zip(model.steps, produced["payloads"][model.friendly_name],
                                      strict=True):  # fmt: skip
            if payload is not None:
                publish_state(z, model.friendly_name, payload)
                last[model.friendly_name] = payload
            expected += [(dev, k, v) for k, v in want]
    got = [(e.dev, e.kind, e.value) for e in bridge.events]
    assert got == expected
    n = len(bridge.events)
    z.handle("zigbee2mqtt/bridge/state", b'{"state":"offline"}')
    z.handle("zigbee2mqtt/bridge/state", b'{"state":"online"}')
    for name, payload in last.items():  # the hub, restarted, publishes its cached states
        publish_state(z, name, payload, retained=True)
    assert len(bridge.events) == n
    restarted = adapter(path, bridge)  # the adapter's own restart: memory from disk
    for name, payload in last.items():  # retained messages before bridge/devices
        publish_state(restarted, name, payload, retained=True)
    publish_devices(restarted, produced["devices"])
    assert len(bridge.events) == n, _events(bridge, n)
    assert [u for u, _ in bridge.upstream] == [False, True]


def test_unmapped_devices_are_listed_with_their_model_and_exposes(
    produced: dict[str, Any], tmp_path: Path
) -> None:
    bridge = RecordingBridge(tmp_path / "q.sqlite")
    z = adapter(bridge.path, bridge)
    publish_devices(z, produced["devices"])
    report = z.report()
    assert [u["model"] for u in report["unmapped"]] == ["LED1545G12"]
    assert "binary:state" in report["unmapped"][0]["exposes"]
    assert len(report["devices"]) == len(MODELS) - 1
    bulb = next(m for m in MODELS if m.vigil_type is None)
    publish_state(z, bulb.friendly_name, {"state": "ON"})
    assert bridge.events == []
    assert bulb.friendly_name in {u["friendly_name"] for u in report["unmapped"]}
    assert (tmp_path / "q.json").exists()


def test_availability_and_the_hub_state(produced: dict[str, Any], tmp_path: Path) -> None:
    bridge = RecordingBridge(tmp_path / "q.sqlite")
    z = adapter(bridge.path, bridge)
    publish_devices(z, produced["devices"])
    smoke = MODELS[0]
    topic = f"zigbee2mqtt/{smoke.friendly_name}/availability"
    for payload in (
        b'{"state":"online"}',
        b'{"state":"offline"}',
        b"offline",
        b'{"state":"online"}',
    ):
        z.handle(topic, payload)
    assert _events(bridge, 0) == [("availability", 0.0), ("availability", 1.0)]
    z.handle("zigbee2mqtt/bridge/state", b"offline")  # legacy plain payload
    z.handle("zigbee2mqtt/bridge/state", b'{"state":"online"}')
    assert [u for u, _ in bridge.upstream] == [False, True]


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[1, 2]",
        b'"smoke"',
        b"",
        b'{"smoke": "maybe", "battery": "full"}',
        b"\xff\xfe",
    ],
)
def test_malformed_payloads_are_refused_and_lose_nothing_else(
    payload: bytes, produced: dict[str, Any], tmp_path: Path
) -> None:
    bridge = RecordingBridge(tmp_path / "q.sqlite")
    z = adapter(bridge.path, bridge)
    publish_devices(z, produced["devices"])
    smoke = MODELS[0]
    z.handle(f"zigbee2mqtt/{smoke.friendly_name}", payload)
    z.handle("zigbee2mqtt/bridge/devices", b"{broken")
    z.handle("zigbee2mqtt/no/such/device", b'{"smoke": true}')
    assert bridge.events == []
    publish_state(z, smoke.friendly_name, {"smoke": True, "battery_low": False, "test": False})
    assert _events(bridge, 0) == [("smoke_alarm", 1.0)]
    assert bridge.rejected >= 1
