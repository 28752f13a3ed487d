"""`vigil detect replay` on good and bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigil.cli import app

runner = CliRunner()

DEVICES = "device_id,type,household_id,room\nsd-1,smoke,hh-1,kitchen\npb-1,panic,hh-1,bedroom\n"
FIELDS = {
    "ts",
    "device_id",
    "household_id",
    "kind",
    "signal",
    "severity",
    "score",
    "reason",
    "rule",
    "evidence",
    "received_at",
}


def _readings() -> str:
    lines = ["ts,device_id,metric,value"]
    for i in range(90):
        t = 100.0 + 2 * i
        rise = max(0, i - 20)
        lines += [
            f"{t},sd-1,smoke_obscuration,{0.2 + 0.4 * rise}",
            f"{t},sd-1,temperature,{21 + 0.3 * rise}",
        ]
    lines += ["300.5,pb-1,button,1", "301,sd-1,temperature,nan", "100,sd-1,temperature,21"]
    return "\n".join(lines) + "\n"


def _files(tmp_path: Path, devices: str = DEVICES, readings: str | None = None) -> list[str]:
    (tmp_path / "devices.csv").write_text(devices, encoding="utf-8")
    (tmp_path / "readings.csv").write_text(readings or _readings(), encoding="utf-8")
    return [
        "detect",
        "replay",
        "--devices",
        str(tmp_path / "devices.csv"),
        "--readings",
        str(tmp_path / "readings.csv"),
    ]


def test_replay_writes_one_json_alert_per_line_deterministically(tmp_path: Path) -> None:
    args = _files(tmp_path)
    first = runner.invoke(app, [*args, "--out", str(tmp_path / "a.jsonl")])
    second = runner.invoke(app, [*args, "--out", str(tmp_path / "b.jsonl")])
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    text = (tmp_path / "a.jsonl").read_text(encoding="utf-8")
    assert text == (tmp_path / "b.jsonl").read_text(encoding="utf-8")
    alerts = [json.loads(line) for line in text.splitlines()]
    assert all(set(a) == FIELDS for a in alerts)
    assert {(a["device_id"], a["kind"], a["signal"]) for a in alerts} >= {
        ("sd-1", "fire", "alarm"),
        ("pb-1", "panic", "alarm"),
    }
    assert [a["ts"] for a in alerts] == sorted(a["ts"] for a in alerts)


def test_replay_prints_to_stdout_without_out(tmp_path: Path) -> None:
    result = runner.invoke(app, _files(tmp_path))
    assert result.exit_code == 0
    assert any(json.loads(line)["kind"] == "fire" for line in result.stdout.splitlines())


@pytest.mark.parametrize(
    ("devices", "readings", "message"),
    [
        (
            "device_id,type,household_id,room\nsd-1,smok,hh-1,k\n",
            None,
            "devices.csv line 2: unknown device type 'smok'",
        ),
        ("device_id,type,household\nsd-1,smoke,hh-1\n", None, "devices.csv line 1: header"),
        (DEVICES + "sd-1,smoke,hh-1,kitchen\n", None, "devices.csv line 4: duplicate device_id"),
        (
            DEVICES,
            "ts,device_id,metric,value\n1,sd-1,smoke_obscuration,0.1\nx,sd-1,co,1\n",
            "readings.csv line 3: ts 'x' is neither epoch seconds nor an ISO 8601 time",
        ),
        (
            DEVICES,
            "ts,device_id,metric,value\n1,sd-9,temperature,20\n",
            "readings.csv line 2: device 'sd-9' is not in the devices file",
        ),
        (
            DEVICES,
            "ts,device_id,metric,value\n1,sd-1,humidity,20\n",
            "readings.csv line 2: unknown metric 'humidity'",
        ),
        (
            DEVICES,
            "ts,device_id,metric,value\n1,sd-1,temperature\n",
            "readings.csv line 2: 3 fields, expected 4",
        ),
        (
            DEVICES,
            "ts,device_id,metric,value\ninf,sd-1,temperature,20\n",
            "readings.csv line 2: ts must be finite",
        ),
    ],
)
def test_bad_files_fail_with_the_line_named(
    tmp_path: Path, devices: str, readings: str | None, message: str
) -> None:
    result = runner.invoke(app, _files(tmp_path, devices, readings))
    assert result.exit_code == 1
    assert message in result.stderr


def test_a_missing_file_and_a_bad_policy_are_clear_errors(tmp_path: Path) -> None:
    args = _files(tmp_path)
    args[3] = str(tmp_path / "nope.csv")
    missing = runner.invoke(app, args)
    assert missing.exit_code == 1
    assert "cannot open" in missing.stderr
    (tmp_path / "policy.toml").write_text("[defaults]\nsmoke_pre_pct = 'high'\n")
    bad_policy = runner.invoke(app, [*_files(tmp_path), "--policy", str(tmp_path / "policy.toml")])
    assert bad_policy.exit_code == 2
    assert "policy" in bad_policy.stderr


@pytest.mark.parametrize(
    ("scenario", "kind"),
    [
        ("flaming_fire", "fire"),
        ("gateway_uplink_loss", "gateway_offline"),
        ("inactivity_stop", "inactivity"),
    ],
)
def test_scenario_files_replay_to_their_expected_alerts(
    tmp_path: Path, scenario: str, kind: str
) -> None:
    scenarios = pytest.importorskip("firmware_sim.scenarios")
    run = scenarios.play(scenario, 4)
    scenarios.to_replay_csv(run, tmp_path / "devices.csv", tmp_path / "readings.csv")
    result = runner.invoke(
        app,
        [
            "detect",
            "replay",
            "--devices",
            str(tmp_path / "devices.csv"),
            "--readings",
            str(tmp_path / "readings.csv"),
        ],
    )
    assert result.exit_code == 0, result.stderr
    kinds = {json.loads(line)["kind"] for line in result.stdout.splitlines()}
    assert kind in kinds
