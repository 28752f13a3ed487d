"""The EMQX bootstrap file for the service account's broker login."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigil.broker_users import HEADER, emqx_bootstrap_csv, write_emqx_bootstrap
from vigil.cli import app
from vigil.settings import get_settings


def test_the_file_holds_the_header_and_one_plain_user() -> None:
    assert emqx_bootstrap_csv("vigil", "9f2c4e") == f"{HEADER}\nvigil,9f2c4e,false\n"


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("vigil", "a,b", "password contains a comma"),
        ("vigil", "a\nb", "password contains a line break"),
        ("vig,il", "secret", "username contains a comma"),
        ("vigil", "", "password is empty"),
        ("vigil", 'a"b', "password contains a double quote"),
    ],
)
def test_what_the_csv_cannot_hold_is_refused(username: str, password: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        emqx_bootstrap_csv(username, password)


def test_the_file_is_private_and_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "emqx" / "users.csv"
    write_emqx_bootstrap(path, "vigil", "first")
    write_emqx_bootstrap(path, "vigil", "second")
    assert path.read_text() == f"{HEADER}\nvigil,second,false\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["users.csv"]


def test_the_command_writes_the_configured_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIL_MQTT_USERNAME", "svc")
    monkeypatch.setenv("VIGIL_MQTT_PASSWORD", "d41d8cd98f00b204")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["ops", "emqx-users", str(tmp_path / "u.csv")])
        assert result.exit_code == 0, result.output
        assert (tmp_path / "u.csv").read_text().endswith("svc,d41d8cd98f00b204,false\n")
        monkeypatch.setenv("VIGIL_MQTT_PASSWORD", "has,comma")
        get_settings.cache_clear()
        bad = CliRunner().invoke(app, ["ops", "emqx-users", str(tmp_path / "v.csv")])
        assert bad.exit_code == 2
        assert "comma" in bad.output
        assert not (tmp_path / "v.csv").exists()
    finally:
        get_settings.cache_clear()
