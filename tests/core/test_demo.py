"""`make demo` brings the stack up, and Ctrl-C leaves no process behind; its simulator raises
a fire and a panic alarm within the first minute."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import msgspec
import numpy as np
import pytest
import typer

from detectors.codes import METRIC_CODE
from detectors.engine import Batch, DetectorEngine
from detectors.registry import Device
from firmware_sim import cli as sim_cli
from firmware_sim.district import build_district
from firmware_sim.link import GatewayLink, socket_path
from firmware_sim.runner import Opening, RunConfig, Runner
from tests.firmware_sim.receiver import Receiver
from tests.fix_stack import TEST_MQTT_PORT, TEST_PG_PORT, scratch_var
from vigil.cli import demo
from vigil.stack import _pid_alive

START = 1_763_780_000.0
FIRST_MINUTE_S = 60.0


def _processes_using(path: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _pid_alive(int(entry.name)):
            try:
                cmd = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(path) in cmd:
                found.append(int(entry.name))
    return found


def _demo_frames(tmp: Path, duration_s: float) -> tuple[list[dict[str, object]], list[str]]:
    """The frames and ground truth of the demo's simulator, unpaced, from START."""
    district = build_district(demo.DEMO_SEED, 2, 50)
    config = RunConfig(
        seed=demo.DEMO_SEED,
        speed=0,
        duration_s=duration_s,
        sim_start=START,
        scenarios=demo.DEMO_SCENARIOS,
        scenarios_per_hour=demo.DEMO_SCENARIOS_PER_HOUR,
        opening=demo.DEMO_OPENING,
        pre_roll_s=demo.DEMO_PRE_ROLL_S,
    )
    receivers = {g.id: Receiver(socket_path(tmp, g.id)) for g in district.gateways}
    links = {g: GatewayLink(g, r.path) for g, r in receivers.items()}
    truth = io.StringIO()
    try:
        for link in links.values():
            link.connect()
        Runner(district, config, links, truth).run()
    finally:
        for link in links.values():
            link.close()
    decode = msgspec.msgpack.Decoder().decode
    frames = [decode(p) for r in receivers.values() for p in r.join()]
    return frames, truth.getvalue().splitlines()


def _alerts(frames: list[dict[str, object]]) -> list[tuple[float, str, str, str]]:
    """(time, kind, signal, household) of the alerts the detectors raise on the frames."""
    district = build_district(demo.DEMO_SEED, 2, 50)
    devices = [
        Device(d.id, d.type, d.household_id, d.room) for d in district.devices if d.household_id
    ]
    slot = {d.device_id: i for i, d in enumerate(devices)}
    rows: list[tuple[float, int, int, float]] = []
    for f in frames:
        dev, ts = str(f["dev"]), float(f["ts"])  # type: ignore[arg-type]
        if dev not in slot:
            continue
        if "r" in f:
            readings = f["r"]
            assert isinstance(readings, dict)
            rows += [(ts, slot[dev], METRIC_CODE[m], v) for m, v in readings.items()]
        else:
            rows.append((ts, slot[dev], METRIC_CODE[str(f["e"])], float(f["x"])))  # type: ignore[arg-type]
    rows.sort(key=lambda r: r[0])
    columns = [np.array(c) for c in zip(*rows, strict=True)]
    engine = DetectorEngine(devices)
    batch = Batch.of(
        columns[0], columns[1].astype(np.int32), columns[2].astype(np.int8), columns[3]
    )
    household = {d.device_id: d.household_id for d in devices}
    return [(a.ts, a.kind, a.signal, household[a.device_id]) for a in engine.process(batch)]


def test_the_demo_alarms_within_its_first_minute_and_keeps_going(tmp_path: Path) -> None:
    frames, truth = _demo_frames(tmp_path, 6 * FIRST_MINUTE_S)
    played = [json.loads(line) for line in truth]
    onsets = {t["name"]: t["onset_ts"] - START for t in reversed(played)}  # the first of each
    assert onsets["panic_press"] <= FIRST_MINUTE_S / 2
    assert onsets["flaming_fire"] <= FIRST_MINUTE_S / 2
    alerts = _alerts(frames)
    first: dict[str, float] = {}
    for ts, kind, sig, _ in alerts:
        if sig == "alarm":
            first.setdefault(kind, ts - START)
    assert first["panic"] <= FIRST_MINUTE_S
    assert first["fire"] <= FIRST_MINUTE_S, first
    # About a scenario a minute, and alarms in several homes within the first six minutes.
    assert len(played) >= 5
    assert len({h for _, _, sig, h in alerts if sig == "alarm"}) >= 3
    # Nothing before its scenario's onset: a scenario's takeover of a device is no alarm.
    onset_of = {t["household"]: t["onset_ts"] for t in reversed(played)}
    early = [a for a in alerts if a[3] not in onset_of or a[0] < onset_of[a[3]]]
    assert early == []


def test_the_demo_starts_the_simulator_with_its_schedule() -> None:
    args = demo.sim_args()
    openings = [Opening.parse(args[i + 1]) for i, a in enumerate(args) if a == "--opening"]
    assert tuple(openings) == demo.DEMO_OPENING
    assert args[args.index("--pre-roll") + 1] == f"{demo.DEMO_PRE_ROLL_S:g}"
    run = typer.main.get_command(sim_cli.app).commands["run"]  # type: ignore[attr-defined]
    known = {opt for p in run.params for opt in p.opts}
    assert {a for a in args if a.startswith("--")} <= known


@pytest.mark.stack
def test_ctrl_c_stops_everything_the_demo_started() -> None:
    with scratch_var() as var:
        _run_demo_and_interrupt(var)


def _run_demo_and_interrupt(var: Path) -> None:
    env = {
        **os.environ,
        "VIGIL_VAR_DIR": str(var),
        "VIGIL_STACK_PG_PORT": str(TEST_PG_PORT + 200),
        "VIGIL_STACK_MQTT_PORT": str(TEST_MQTT_PORT + 200),
        "VIGIL_CONSOLE_PORT": str(TEST_PG_PORT + 201),
    }
    demo = subprocess.Popen(
        [sys.executable, "-m", "vigil.cli", "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert demo.stdout is not None
    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = demo.stdout.readline()
        seen.append(line)
        if "Press Ctrl-C" in line or not line:
            break
    assert any("Vigil demo is running" in line for line in seen), "".join(seen)
    assert _processes_using(var), "the demo should have started servers under its var dir"
    console_url = f"http://127.0.0.1:{TEST_PG_PORT + 201}/api/config"
    assert any(f"Console: http://127.0.0.1:{TEST_PG_PORT + 201}/" in line for line in seen)
    assert any("sign in as admin" in line for line in seen)
    with urllib.request.urlopen(console_url, timeout=10) as response:
        assert response.status == 200
    demo.send_signal(signal.SIGINT)
    rest, _ = demo.communicate(timeout=60)
    assert demo.returncode == 0, rest
    assert "stopped" in rest
    assert _processes_using(var) == []
