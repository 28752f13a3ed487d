"""The embeddable gateway for foreign sources, on the real test broker: PUBACK-resolved futures,
events first, status and last will, and a kill -9 mid-way that loses nothing and doubles nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from gateway.bridge import Bridge, BridgeConfig, BridgeStoppedError, Reading
from gateway.foreign_state import Memory, changes
from gateway.link import BrokerConfig
from tests.gateway.conftest import Account, Subscriber, wait_until
from tests.gateway.foreign_feeder import snapshot
from vigil.codec import Event, EventBatch, TelemetryBatch
from vigil.settings import REPO_ROOT, Settings
from vigil.topics import PREFIX

NOW = 1_763_740_800.0


def _bridge(acc: Account, settings: Settings, workdir: Path, **kw: float) -> Bridge:
    return Bridge(
        BridgeConfig(
            gateway_id=acc.gateway_id,
            site="test-site",
            queue_path=workdir / "bridge.queue.sqlite",
            broker=BrokerConfig(
                "127.0.0.1",
                settings.stack_mqtt_port,
                acc.gateway_id,
                acc.password,
                f"vigil-gw-{acc.gateway_id}",
            ),
            status_interval_s=kw.get("status_s", 0.5),
            batch_delay_s=kw.get("batch_s", 0.05),
        )
    )


def test_emit_resolves_once_the_broker_has_the_events(
    account: Callable[[], Account],
    subscriber: Callable[[str], Subscriber],
    settings: Settings,
    workdir: Path,
) -> None:
    acc = account()
    sub = subscriber(f"{PREFIX}/test-site/{acc.gateway_id}/#")
    bridge = _bridge(acc, settings, workdir)
    bridge.start()
    try:
        press = Event(dev="zb-1", seq=1, ts=NOW, rx=NOW, kind="button", value=1.0,
                      detail={"source": "zigbee2mqtt", "reason": "panic"})  # fmt: skip
        bridge.read(
            [Reading("zb-1", "battery_pct", 87.0, NOW), Reading("zb-1", "link_quality", 80, NOW)]
        )
        gseq = bridge.emit([press]).result(timeout=15)
        assert gseq > 0
        wait_until(
            lambda: any(isinstance(u, TelemetryBatch) for u in sub.uplinks()), 10, "telemetry"
        )
        events = [u for u in sub.uplinks() if isinstance(u, EventBatch)]
        assert [(e.dev, e.kind, e.detail["reason"]) for b in events for e in b.events] == [
            ("zb-1", "button", "panic")
        ]
        telemetry = [u for u in sub.uplinks() if isinstance(u, TelemetryBatch)]
        assert sorted(m for t in telemetry for m in t.metric) == ["battery_pct", "link_quality"]
        wait_until(lambda: any(s.state == "online" for s in sub.statuses()), 10, "online status")
        bridge.set_upstream(False, "hub offline")
        wait_until(lambda: sub.statuses()[-1].state == "offline", 10, "offline status")
        bridge.set_upstream(True)
        wait_until(lambda: sub.statuses()[-1].state == "online", 10, "online again")
    finally:
        bridge.stop()
    assert sub.statuses()[-1].state == "offline"  # the goodbye
    late = bridge.emit([press])
    assert isinstance(late.exception(timeout=1), BridgeStoppedError)


def test_events_wait_on_disk_while_the_broker_is_away(
    account: Callable[[], Account],
    subscriber: Callable[[str], Subscriber],
    settings: Settings,
    workdir: Path,
) -> None:
    acc = account()
    wrong = Account(acc.gateway_id, "not-the-password")
    bridge = _bridge(wrong, settings, workdir)
    bridge.start()
    event = Event(dev="zb-2", seq=1, ts=NOW, rx=NOW, kind="smoke_alarm", value=1.0)
    future = bridge.emit([event])
    time.sleep(1.0)
    assert not future.done()  # refused by the broker: not acknowledged, still queued
    bridge.stop()
    assert isinstance(future.exception(timeout=1), BridgeStoppedError)
    sub = subscriber(f"{PREFIX}/test-site/{acc.gateway_id}/up/#")
    again = _bridge(acc, settings, workdir)
    again.start()
    try:
        wait_until(lambda: len(sub.uplinks()) == 1, 15, "the queued event after the restart")
    finally:
        again.stop()
    (batch,) = sub.uplinks()
    assert isinstance(batch, EventBatch)
    assert [(e.dev, e.kind) for e in batch.events] == [("zb-2", "smoke_alarm")]


def _expected(steps: int) -> list[tuple[str, str, float]]:
    """Every transition of the feeder's sequence, with the pure rule and no interruption."""
    memory: dict[str, Memory] = {}
    out = []
    for step in range(steps):
        dev, snap = snapshot(step)
        events, memory[dev] = changes(dev, memory.get(dev, Memory()), snap, NOW)
        out += [(e.dev, e.kind, e.value) for e in events]
    return out


def test_killing_the_adapter_mid_way_loses_nothing_and_doubles_nothing(
    account: Callable[[], Account],
    subscriber: Callable[[str], Subscriber],
    settings: Settings,
    workdir: Path,
) -> None:
    acc = account()
    sub = subscriber(f"{PREFIX}/test-site/{acc.gateway_id}/up/event")
    steps = 240
    port = str(settings.stack_mqtt_port)
    feeder = "tests.gateway.foreign_feeder"
    args = [sys.executable, "-m", feeder, str(workdir), port, acc.gateway_id, acc.password]
    args += [str(steps), "0.005"]
    log = (workdir / "feeder.log").open("ab")
    first = subprocess.Popen(args, cwd=REPO_ROOT, stdout=log, stderr=log, env=os.environ)
    steps_log = workdir / "steps.log"
    wait_until(lambda: steps_log.exists() and len(steps_log.read_text().split()) > 60, 20, "steps")
    first.send_signal(signal.SIGKILL)
    first.wait()
    fed = len(steps_log.read_text().split())
    assert fed < steps, "the feeder finished before it was killed: nothing was tested"
    second = subprocess.Popen(args, cwd=REPO_ROOT, stdout=log, stderr=log, env=os.environ)
    assert second.wait(60) == 0, (workdir / "feeder.log").read_text()
    expected = _expected(steps)
    # Ingest drops a message it has seen (same gateway and gseq): so does the count here.
    seen: dict[int, EventBatch] = {}
    wait_until(
        lambda: sum(len(b.events) for b in _unique(sub, seen).values()) >= len(expected),
        20,
        "every event",
    )
    time.sleep(0.5)
    got = [(e.dev, e.kind, e.value) for b in _unique(sub, seen).values() for e in b.events]
    assert sorted(got) == sorted(expected)
    for dev in {d for d, _k, _v in expected}:  # per device, in order, with rising seq
        mine = [e for g in sorted(seen) for e in seen[g].events if e.dev == dev]
        assert [(e.kind, e.value) for e in mine] == [(k, v) for d, k, v in expected if d == dev]
        assert [e.seq for e in mine] == list(range(1, len(mine) + 1))


def _unique(sub: Subscriber, seen: dict[int, EventBatch]) -> dict[int, EventBatch]:
    for batch in sub.uplinks():
        if isinstance(batch, EventBatch):
            seen.setdefault(batch.gseq, batch)
    return seen
