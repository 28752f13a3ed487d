"""`vigil sim` as a user runs it: real processes, files out, clear errors and exit codes."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import msgspec
import psycopg
import pytest

from firmware_sim.cli import parse_duration
from firmware_sim.district import build_district
from firmware_sim.link import socket_path
from tests.firmware_sim.receiver import Receiver
from vigil.db.migrate import migrate


def _vigil(var_dir: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {"VIGIL_VAR_DIR": str(var_dir), "PATH": "/usr/bin:/bin", **extra}
    return subprocess.run(
        [sys.executable, "-m", "vigil.cli", "sim", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def test_parse_duration() -> None:
    assert parse_duration("90") == 90.0
    assert parse_duration("15m") == 900.0
    assert parse_duration("1.5h") == 5400.0
    assert parse_duration("2d") == 172800.0
    for bad in ("", "0", "-5m", "3w", "m"):
        with pytest.raises(Exception, match="duration"):
            parse_duration(bad)


def test_play_writes_replay_csv(tmp_path: Path) -> None:
    result = _vigil(tmp_path, "play", "cooking_smoke", "--seed", "4", "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    with (tmp_path / "o" / "readings.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["metric"] for r in rows} >= {"smoke_obscuration", "temperature", "battery"}
    assert "cooking_smoke" in result.stdout


def test_run_against_listening_gateways(tmp_path: Path) -> None:
    district = build_district(2, 2, 12)
    receivers = [Receiver(socket_path(tmp_path, g.id)) for g in district.gateways]
    truth = tmp_path / "truth.jsonl"
    result = _vigil(
        tmp_path, "run", "--gateways", "2", "--devices-per-gateway", "12", "--seed", "2",
        "--speed", "0", "--duration", "3h", "--no-gateways", "--no-register",
        "--truth", str(truth), "--scenario", "panic_press", "--scenarios-per-hour", "3",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    packets = [p for r in receivers for p in r.join()]
    frames = [msgspec.msgpack.decode(p) for p in packets]
    assert {f["dev"] for f in frames} == {d.id for d in district.devices}
    lines = [json.loads(line) for line in truth.read_text().splitlines()]
    assert lines
    assert {line["name"] for line in lines} == {"panic_press"}
    assert f"{len(frames)} frames" in result.stdout


@pytest.mark.stack
def test_run_registers_the_district_first(tmp_path: Path, fresh_db: str) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        migrate(conn)
    district = build_district(3, 1, 8)
    receivers = [Receiver(socket_path(tmp_path, g.id)) for g in district.gateways]
    args = ("run", "-g", "1", "-d", "8", "--seed", "3", "--speed", "0", "--duration", "10m",
            "--no-gateways", "--truth", str(tmp_path / "t.jsonl"))  # fmt: skip
    first = _vigil(tmp_path, *args, VIGIL_DATABASE_URL=fresh_db)
    assert first.returncode == 0, first.stderr
    receivers[0].join()
    assert "8 devices" in first.stdout
    receivers = [Receiver(socket_path(tmp_path, g.id)) for g in district.gateways]
    again = _vigil(tmp_path, *args, VIGIL_DATABASE_URL=fresh_db)
    assert again.returncode == 0, again.stderr
    receivers[0].join()
    assert "already up to date" in again.stdout
    with psycopg.connect(fresh_db) as conn:
        row = conn.execute("select count(*) from devices where gateway_id = 'gw-0001'").fetchone()
    assert row == (8,)


def test_run_with_an_unreachable_database_fails_clearly(tmp_path: Path) -> None:
    result = _vigil(
        tmp_path, "run", "--no-gateways", "--duration", "1m", "--speed", "0",
        VIGIL_DATABASE_URL="postgresql://x:y@127.0.0.1:1/none",
    )  # fmt: skip
    assert result.returncode == 1
    assert "cannot register" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--speed", "0"), "needs a duration"),
        (("--scenario", "volcano", "--duration", "1m"), "unknown scenarios"),
        (("--encoding", "xml", "--duration", "1m"), "--encoding"),
    ],
)
def test_run_refuses_bad_options(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = _vigil(tmp_path, "run", "--no-gateways", "--no-register", *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_run_without_gateways_listening_fails_clearly(tmp_path: Path) -> None:
    result = _vigil(
        tmp_path, "run", "--no-gateways", "--no-register", "--duration", "1m", "--speed", "0"
    )
    assert result.returncode == 1
    assert "cannot connect" in result.stderr
