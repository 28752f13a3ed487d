"""`vigil platform profiles`: the shipped profiles listed, an installer's file checked."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from gateway.platforms.cli import app
from tests.gateway.platforms.helpers import INVERTED


def test_profiles_are_listed_and_a_file_is_checked(tmp_path: Path) -> None:
    runner = CliRunner(env={"COLUMNS": "200"})
    listed = runner.invoke(app, ["profiles"])
    assert listed.exit_code == 0
    assert "lian-nb-smoke" in listed.output
    good = tmp_path / "good.toml"
    good.write_text(INVERTED)
    checked = runner.invoke(app, ["profiles", "--check", str(good)])
    assert checked.exit_code == 0
    assert "test-inverted-smoke" in checked.output
    bad = tmp_path / "bad.toml"
    bad.write_text(INVERTED.replace('event = "smoke_alarm"', 'event = "fire"'))
    refused = runner.invoke(app, ["profiles", "--check", str(bad)])
    assert refused.exit_code == 1
    assert "not a state kind" in refused.output
