"""Kitchens: cooking is not a fire, fire evidence still is, and the hush is bounded."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from typer.testing import CliRunner

from detectors import evaluate, nuisance
from detectors.alert import Alert
from detectors.codes import METRICS
from detectors.engine import DetectorEngine
from detectors.errors import DetectorError
from detectors.policy import Policy
from detectors.registry import Device
from detectors.rooms import room_class
from tests.detectors.helpers import batch_of, rows_of
from vigil.cli import app

EPOCH = 1_763_780_000.0
Reading = tuple[float, int, str, float]


def readings(
    slot: int,
    t: npt.NDArray[np.float64],
    smoke: npt.ArrayLike,
    temp: npt.ArrayLike,
    co: npt.ArrayLike | None = None,
) -> list[Reading]:
    s = np.broadcast_to(np.asarray(smoke, dtype=float), t.shape)
    h = np.broadcast_to(np.asarray(temp, dtype=float), t.shape)
    out: list[Reading] = []
    for i, ti in enumerate(t.tolist()):
        out.append((EPOCH + ti, slot, "smoke_obscuration", float(s[i])))
        out.append((EPOCH + ti, slot, "temperature", float(h[i])))
        if co is not None:
            out.append((EPOCH + ti, slot, "co", float(np.broadcast_to(co, t.shape)[i])))
    return out


def play(
    devices: Sequence[Device], rows: Sequence[Reading], engine: DetectorEngine | None = None
) -> list[Alert]:
    engine = engine or DetectorEngine(devices)
    return engine.process(batch_of(rows_of(sorted(rows, key=lambda r: r[0]))))


def alarms(alerts: Sequence[Alert]) -> list[Alert]:
    return [a for a in alerts if a.signal == "alarm"]


T = np.arange(0.0, 900.0, 2.0)
# A cooking puff in a kitchen: 6 %/m in 60 s, held 40 s, cleared over 3 min; +2.5 °C; no CO.
PUFF = np.interp(T, [0, 300, 360, 400, 580, 900], [0.2, 0.2, 6.2, 6.2, 0.4, 0.2])
WARM = np.interp(T, [0, 300, 380, 600, 900], [24.0, 24.0, 26.5, 26.0, 25.0])
KITCHEN = Device("k-1", "multi", "hh-1", "kitchen")


def test_room_names_map_to_classes() -> None:
    assert room_class("kitchen") == "kitchen"
    assert room_class("Kitchen-2") == "kitchen"
    assert room_class("厨房") == "kitchen"
    assert room_class("hallway") == "corridor"
    assert room_class("master_bedroom") == "bedroom"
    assert room_class("A") == "other"
    assert room_class("") == "other"


def test_the_kitchen_selects_its_own_figures() -> None:
    policy = Policy.load()
    kitchen = policy.figures("multi", "hh-1", "kitchen")
    bedroom = policy.figures("multi", "hh-1", "bedroom")
    assert kitchen["stove_heat_c"] > 0.0 == bedroom["stove_heat_c"]
    assert kitchen["hush_s"] == 600.0
    assert bedroom["hush_s"] == 0.0


def test_a_cooking_puff_in_a_kitchen_is_cooking_smoke_not_an_alarm() -> None:
    alerts = play([KITCHEN], readings(0, T, PUFF, WARM, 1.0))
    assert alarms(alerts) == []
    cooking = [a for a in alerts if a.kind == "cooking"]
    assert len(cooking) == 1
    assert cooking[0].signal == "supervisory"
    assert cooking[0].rule == "cooking_smoke"


def test_the_same_puff_in_a_living_room_is_a_fire_alarm() -> None:
    living = Device("l-1", "multi", "hh-1", "living_room")
    alerts = play([living], readings(0, T, PUFF, WARM, 1.0))
    assert alarms(alerts)  # the general rules: no stove allowance outside a kitchen


def test_cooking_smoke_becomes_a_fire_alarm_when_co_rises_with_it() -> None:
    co = np.interp(T, [0, 330, 380], [1.0, 1.0, 30.0])
    alerts = play([KITCHEN], readings(0, T, PUFF, WARM, co))
    kinds = [a.kind for a in alerts]
    assert kinds.index("cooking") < kinds.index("fire")
    fire = next(a for a in alerts if a.kind == "fire")
    assert fire.rule == "smoke_with_co"


def test_heat_beyond_a_stove_confirms_kitchen_smoke() -> None:
    hot = np.interp(T, [0, 300, 420], [24.0, 24.0, 34.0])
    alerts = play([KITCHEN], readings(0, T, PUFF, hot, 1.0))
    assert "smoke_with_heat" in [a.rule for a in alarms(alerts)]


def test_smoke_outside_the_kitchen_turns_cooking_smoke_into_fire() -> None:
    hall = Device("h-1", "smoke", "hh-1", "hallway")
    hall_smoke = np.interp(T, [0, 320, 380], [0.1, 0.1, 3.0])
    rows = readings(0, T, PUFF, WARM, 1.0) + readings(1, T, hall_smoke, 24.0)
    alerts = play([KITCHEN, hall], rows)
    fire = [a for a in alerts if a.kind == "fire" and a.device_id == "k-1"]
    assert len(fire) == 1
    assert fire[0].rule == "coincidence"
    assert fire[0].evidence["confirmed_by"]["device_id"] == "h-1"


HELD = np.interp(T, [0, 60, 120, 900], [0.2, 0.2, 8.0, 8.0])  # dense enough, never clearing


def test_hush_holds_smoke_only_alarms_for_its_time_then_they_sound() -> None:
    rows = [*readings(0, T, HELD, 24.0, 1.0), (EPOCH + 30.0, 0, "hush", 1.0)]
    alerts = play([KITCHEN], rows)
    hush = [a for a in alerts if a.kind == "hush"]
    assert len(hush) == 1
    assert hush[0].rule == "hush_button"
    first = alarms(alerts)[0]
    assert first.rule == "smoke_verified"
    assert first.ts >= EPOCH + 30.0 + 600.0  # not before the hush ends
    unhushed = alarms(play([KITCHEN], readings(0, T, HELD, 24.0, 1.0)))
    assert unhushed[0].ts < EPOCH + 400.0


def test_hush_never_holds_heat_co_or_another_room() -> None:
    bedroom = Device("b-1", "multi", "hh-1", "bedroom")
    hot = np.interp(T, [0, 60, 200], [24.0, 24.0, 70.0])
    co = np.interp(T, [0, 60, 200], [1.0, 1.0, 400.0])
    rows = (
        readings(0, T, 0.2, hot, co)
        + readings(1, T, HELD, 24.0, 1.0)
        + [(EPOCH + 30.0, 0, "hush", 1.0), (EPOCH + 30.0, 1, "hush", 1.0)]
    )
    alerts = play([KITCHEN, bedroom], rows)
    kitchen_kinds = {a.kind for a in alarms(alerts) if a.device_id == "k-1"}
    assert {"heat", "co"} <= kitchen_kinds
    bedroom_alarm = [a for a in alarms(alerts) if a.device_id == "b-1"]
    assert bedroom_alarm
    assert bedroom_alarm[0].ts < EPOCH + 400.0


def test_console_hush_is_recorded_and_refused_outside_a_kitchen() -> None:
    bedroom = Device("b-1", "multi", "hh-1", "bedroom")
    engine = DetectorEngine([KITCHEN, bedroom])
    [alert] = engine.hush("hh-1", "kitchen", EPOCH + 20.0, by="operator-7")
    assert (alert.kind, alert.rule, alert.signal) == ("hush", "hush_console", "supervisory")
    assert alert.evidence["until"] == EPOCH + 620.0
    after = alarms(play([KITCHEN, bedroom], readings(0, T, HELD, 24.0, 1.0), engine))
    assert after
    assert min(a.ts for a in after) >= EPOCH + 620.0
    with pytest.raises(DetectorError, match="no hush"):
        engine.hush("hh-1", "bedroom", EPOCH + 20.0)
    with pytest.raises(DetectorError, match="no detector"):
        engine.hush("hh-1", "bathroom", EPOCH + 20.0)


def test_hush_survives_a_restart(tmp_path: Path) -> None:
    engine = DetectorEngine([KITCHEN])
    engine.hush("hh-1", "kitchen", EPOCH, by="operator")
    path = tmp_path / "engine.npz"
    engine.save(path)
    loaded = DetectorEngine.load(path)
    after = alarms(play([KITCHEN], readings(0, T, HELD, 24.0, 1.0), loaded))
    assert after
    assert min(a.ts for a in after) >= EPOCH + 600.0


NUISANCE = evaluate.eval_nuisance(Policy.load())


def test_no_nuisance_case_alarms_below_the_ul217_cooking_limit_and_few_alarm_at_all() -> None:
    assert {r.case for r in NUISANCE} == set(nuisance.CASES)
    failed = [q for q in evaluate.nuisance_requirements(NUISANCE) if not q.passed]
    assert failed == []


def test_without_the_kitchen_figures_the_cooking_cases_would_alarm(tmp_path: Path) -> None:
    text = (Path(evaluate.__file__).parent / "policy.toml").read_text("utf-8")
    start = text.index("\n[rooms.kitchen]")
    end = text.index("\n[types.panic]")
    plain = tmp_path / "plain.toml"
    plain.write_text(text[:start] + text[end:], "utf-8")
    results = evaluate.eval_nuisance(Policy.load(plain), cases=["cooking_episode"])
    assert any(r.alarmed for r in results)
    assert not all(q.passed for q in evaluate.nuisance_requirements(results))


def test_the_household_meal_times_are_learned_from_its_cooking() -> None:
    engine = DetectorEngine([KITCHEN])
    reasons = []
    for day in range(5):  # the same supper time each day (18:00 local, UTC+8)
        start = EPOCH - (EPOCH + 8 * 3600) % 86400 + 18 * 3600 + day * 86400 - 300
        rows = [(start - EPOCH + ts, s, m, v) for ts, s, m, v in readings(0, T, PUFF, WARM, 1.0)]
        cooking = [a for a in play([KITCHEN], rows, engine) if a.kind == "cooking"]
        assert len(cooking) == 1
        reasons.append(cooking[0].reason)
        assert cooking[0].evidence["meal_time"]["hour"] == 18
    assert "not (yet) a usual meal time" in reasons[0]
    assert "a usual meal time for this household" in reasons[-1]


def test_replay_of_a_recorded_kitchen_gives_cooking_smoke_and_no_alarm(tmp_path: Path) -> None:
    devices, rows, _ = nuisance.play("cooking_episode", 3)
    (tmp_path / "devices.csv").write_text(
        "device_id,type,household_id,room\nk-9,multi,hh-9,kitchen\n", "utf-8"
    )
    lines = ["ts,device_id,metric,value"] + [
        f"{t},k-9,{METRICS[m]},{v}"
        for t, m, v in zip(rows.ts.tolist(), rows.metric.tolist(), rows.value.tolist(), strict=True)
    ]
    (tmp_path / "readings.csv").write_text("\n".join(lines) + "\n", "utf-8")
    out = tmp_path / "alerts.jsonl"
    result = CliRunner().invoke(
        app,
        [
            "detect",
            "replay",
            "--devices",
            str(tmp_path / "devices.csv"),
            "--readings",
            str(tmp_path / "readings.csv"),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    kinds = [json.loads(line)["kind"] for line in out.read_text("utf-8").splitlines()]
    assert "cooking" in kinds
    assert not {"fire", "smoke", "heat", "co"} & set(kinds)
    assert max(rows.value[rows.metric == 0]) > 4.84  # a dense episode, not a trivial one
    assert devices[0].room == "kitchen"
