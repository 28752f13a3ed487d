"""The runner against stand-in gateways on real SOCK_SEQPACKET sockets."""

from __future__ import annotations

import io
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest

from firmware_sim.device import periodic_metrics, report_period
from firmware_sim.district import District, build_district
from firmware_sim.link import GatewayLink, socket_path
from firmware_sim.runner import Opening, RunConfig, Runner, RunStats, UplinkSwitch
from firmware_sim.scenarios import play
from tests.firmware_sim.receiver import Receiver
from vigil.device_types import device_type
from vigil.frames import decode_frame

START = 1_763_780_000.0
decode = msgspec.msgpack.Decoder().decode


@dataclass
class Played:
    stats: RunStats
    packets: dict[str, list[bytes]]
    truth: list[dict[str, Any]]

    def frames(self) -> list[dict[str, Any]]:
        return [decode(p) for ps in self.packets.values() for p in ps]


def _play(
    tmp: Path,
    district: District,
    config: RunConfig,
    uplinks: dict[str, UplinkSwitch] | None = None,
) -> Played:
    receivers = {g.id: Receiver(socket_path(tmp, g.id)) for g in district.gateways}
    links = {g: GatewayLink(g, r.path) for g, r in receivers.items()}
    for link in links.values():
        link.connect()
    truth = io.StringIO()
    try:
        stats = Runner(district, config, links, truth, uplinks).run()
    finally:
        for link in links.values():
            link.close()
    packets = {g: r.join() for g, r in receivers.items()}
    lines = [json.loads(line) for line in truth.getvalue().splitlines()]
    return Played(stats, packets, lines)


def test_every_frame_arrives_in_order_per_device(tmp_path: Path) -> None:
    district = build_district(3, 2, 40)
    cfg = RunConfig(seed=3, speed=0, duration_s=4 * 3600, sim_start=START, scenarios_per_hour=12)
    played = _play(tmp_path, district, cfg)
    frames = played.frames()
    assert len(frames) == played.stats.frames > 1000
    types = {d.id: d.type for d in district.devices}
    gateway_of = {d.id: d.gateway_id for d in district.devices}
    last: dict[str, tuple[int, float]] = {}
    for gw, packets in played.packets.items():
        for p in packets:
            f = decode(p)
            dev = f["dev"]
            assert gateway_of[dev] == gw, "each device talks to its own gateway"
            assert f["type"] == types[dev]
            seq, ts = last.get(dev, (0, 0.0))
            assert f["seq"] == seq + 1, "per-device sequence without gaps"
            assert f["ts"] >= ts, "in time order per device"
            last[dev] = (f["seq"], f["ts"])
            assert START <= f["ts"] < START + 4 * 3600
            assert decode_frame(p).problem() is None, f
    assert set(last) == set(types), "every device was heard"
    readings = sum(len(f["r"]) if "r" in f else 1 for f in frames)
    assert readings == played.stats.readings


def test_quiet_devices_report_on_their_period_with_battery(tmp_path: Path) -> None:
    district = build_district(4, 1, 30)
    cfg = RunConfig(seed=4, speed=0, duration_s=3600, sim_start=START, scenarios=())
    frames = _play(tmp_path, district, cfg).frames()
    for d in district.devices:
        mine = [f for f in frames if f["dev"] == d.id and "r" in f and "battery" in f["r"]]
        expected = 3600 / report_period(device_type(d.type))
        assert abs(len(mine) - expected) <= 1, (d.id, len(mine))
        assert set(mine[0]["r"]) == set(periodic_metrics(device_type(d.type)))


def test_same_seed_same_frames_at_any_speed(tmp_path: Path) -> None:
    district = build_district(5, 2, 30)
    base = {"seed": 5, "duration_s": 1800.0, "sim_start": START, "scenarios_per_hour": 30.0}
    a = _play(tmp_path / "a", district, RunConfig(speed=0, **base))  # type: ignore[arg-type]
    b = _play(tmp_path / "b", district, RunConfig(speed=7200, **base))  # type: ignore[arg-type]
    assert a.packets == b.packets
    strip = [{k: v for k, v in line.items() if k != "onset_wall"} for line in a.truth]
    assert strip == [{k: v for k, v in line.items() if k != "onset_wall"} for line in b.truth]
    c = _play(tmp_path / "c", district, RunConfig(speed=0, **{**base, "seed": 6}))  # type: ignore[arg-type]
    assert c.packets != a.packets


def test_speed_factor_paces_the_clock(tmp_path: Path) -> None:
    district = build_district(6, 1, 10)
    paced = _play(
        tmp_path / "p", district, RunConfig(seed=6, speed=120, duration_s=120, scenarios=())
    )
    assert 0.9 <= paced.stats.wall_s <= 10.0  # 120 s at 120x is one second of wall time
    assert paced.stats.sim_s == pytest.approx(120.0)


def test_scenarios_take_over_their_devices_and_write_ground_truth(tmp_path: Path) -> None:
    district = build_district(7, 2, 40)
    cfg = RunConfig(
        seed=7,
        speed=0,
        duration_s=6 * 3600,
        sim_start=START,
        scenarios=("panic_press", "flaming_fire"),
        scenarios_per_hour=4,
    )
    played = _play(tmp_path, district, cfg)
    frames = played.frames()
    assert {t["name"] for t in played.truth} == {"panic_press", "flaming_fire"}
    households = {d.id: d.household_id for d in district.devices}
    for t in played.truth:
        assert all(households[d] == t["household"] for d in t["devices"])
        assert t["start_ts"] < t["onset_ts"] < t["end_ts"]
        assert t["onset_wall"] is not None
        (dev,) = t["devices"]
        mine = [f for f in frames if f["dev"] == dev and t["start_ts"] <= f["ts"] < t["end_ts"]]
        if t["name"] == "panic_press":
            presses = [f for f in mine if f.get("e") == "button"]
            assert presses[0]["ts"] == t["onset_ts"]
            assert presses[0]["x"] == 1.0
        else:
            smoke = [f["r"]["smoke_obscuration"] for f in mine if "smoke_obscuration" in f["r"]]
            assert max(smoke) > 5.0
            late = [f for f in mine if f["ts"] > t["onset_ts"]]
            assert min(b["ts"] - a["ts"] for a, b in itertools.pairwise(late)) <= 5.0


@dataclass
class RecordingSwitch:
    runner_now: list[float] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def cut(self) -> None:
        self.calls.append("cut")

    def restore(self) -> None:
        self.calls.append("restore")


def test_uplink_loss_cuts_and_restores_only_a_switchable_gateway(tmp_path: Path) -> None:
    district = build_district(8, 2, 20)
    switch = RecordingSwitch()
    cfg = RunConfig(
        seed=8,
        speed=0,
        duration_s=3 * 3600,
        sim_start=START,
        scenarios=("gateway_uplink_loss",),
        scenarios_per_hour=2,
    )
    played = _play(tmp_path, district, cfg, {"gw-0001": switch})
    assert played.truth, "an uplink loss was played"
    assert {t["gateway"] for t in played.truth} == {"gw-0001"}
    assert all(t["outage_s"] >= 180.0 for t in played.truth)
    assert switch.calls[:2] == ["cut", "restore"]
    assert switch.calls.count("cut") == switch.calls.count("restore")
    none = _play(tmp_path / "none", district, cfg)
    assert none.truth == [], "without a switch the scenario cannot be played"


def test_runner_needs_a_link_per_gateway_and_a_sane_config(tmp_path: Path) -> None:
    district = build_district(1, 2, 5)
    with pytest.raises(ValueError, match="no link"):
        Runner(district, RunConfig(seed=1), {}, io.StringIO())
    with pytest.raises(ValueError, match="unknown scenarios"):
        RunConfig(seed=1, scenarios=("volcano",))
    with pytest.raises(ValueError, match="needs a duration"):
        RunConfig(seed=1, speed=0)
    with pytest.raises(ValueError, match="speed"):
        RunConfig(seed=1, speed=-1)


def test_opening_scenarios_start_with_the_run_and_keep_their_pre_roll(tmp_path: Path) -> None:
    district = build_district(5, 2, 30)
    cfg = RunConfig(
        seed=5,
        speed=0,
        duration_s=300,
        sim_start=START,
        scenarios_per_hour=0,
        opening=(Opening("flaming_fire", 10.0, seed=6), Opening("panic_press", 20.0)),
    )
    played = _play(tmp_path, district, cfg)
    onsets = {t["name"]: t["onset_ts"] - START for t in played.truth}
    assert onsets == {"flaming_fire": 10.0, "panic_press": 20.0}
    assert all(t["start_ts"] == START for t in played.truth)
    assert len({t["household"] for t in played.truth}) == 2
    fire = next(t for t in played.truth if t["name"] == "flaming_fire")
    assert fire["seed"] == 6
    taken = {d for t in played.truth for d in t["devices"]}
    idle = [f for f in played.frames() if f["dev"] in taken and f["ts"] < START + 10.0]
    assert all("r" in f for f in idle), "no press before its onset"


def test_a_pre_roll_moves_only_the_onset() -> None:
    drawn = play("panic_press", 3, START)
    short = play("panic_press", 3, START, pre_roll_s=30.0)
    assert drawn.truth.onset_ts is not None
    assert drawn.truth.onset_ts - START >= 900.0
    assert short.truth.onset_ts == START + 30.0
    assert short.truth.duration_s == 30.0 + 1800.0
    presses = short.ts[short.metric == "button"] - short.truth.onset_ts
    assert list(presses) == list(drawn.ts[drawn.metric == "button"] - drawn.truth.onset_ts)
    with pytest.raises(ValueError, match="pre-roll"):
        play("battery_drain", 3, START, pre_roll_s=30.0)
    with pytest.raises(ValueError, match="opening"):
        RunConfig(seed=1, opening=(Opening("battery_drain", 10.0),))
    assert Opening.parse("flaming_fire:10:6") == Opening("flaming_fire", 10.0, 6)
    with pytest.raises(ValueError, match="NAME:PRE_ROLL_S"):
        Opening.parse("panic_press")


def test_a_scenario_takes_over_at_the_room_temperature_its_device_was_reporting(
    tmp_path: Path,
) -> None:
    district = build_district(4, 2, 40)
    cfg = RunConfig(
        seed=4,
        speed=0,
        duration_s=3 * 3600,
        sim_start=START,
        scenarios=("fast_heat_fire", "flaming_fire"),
        scenarios_per_hour=6,
        pre_roll_s=60.0,
    )
    played = _play(tmp_path, district, cfg)
    frames = played.frames()
    steps = []
    for t in played.truth:
        (dev,) = t["devices"]
        temps = [(f["ts"], f["r"]["temperature"]) for f in frames
                 if f["dev"] == dev and "temperature" in f.get("r", {})]  # fmt: skip
        before = [v for ts, v in temps if ts < t["start_ts"]]
        after = [v for ts, v in temps if t["start_ts"] <= ts < t["onset_ts"]]
        if before and after:
            steps.append(abs(after[0] - before[-1]))
    assert len(steps) >= 3, "scenarios took over devices that had been reporting"
    assert max(steps) < 0.5, steps  # noise and the daily swing, not another room
