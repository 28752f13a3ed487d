"""The `vigil` command as scripts see it: JSON out, clear errors, non-zero exits."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vigil.settings import Settings
from vigil.stack import LocalStack

pytestmark = pytest.mark.stack


def _vigil(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        "VIGIL_VAR_DIR": str(settings.var_dir),
        "VIGIL_STACK_PG_PORT": str(settings.stack_pg_port),
        "VIGIL_STACK_MQTT_PORT": str(settings.stack_mqtt_port),
        "PATH": "/usr/bin:/bin",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "vigil.cli", *args],
        capture_output=True,
        text=True,
        env=environ,
        check=False,
    )


def test_status_json_reports_the_dsn_and_broker(stack: LocalStack, settings: Settings) -> None:
    result = _vigil(settings, "stack", "status", "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["postgres"]["dsn"] == stack.dsn
    assert status["postgres"]["running"] is True
    assert status["mqtt"]["host"] == "127.0.0.1"
    assert status["mqtt"]["port"] == settings.stack_mqtt_port


def test_migrate_twice_reports_up_to_date(stack: LocalStack, settings: Settings) -> None:
    first = _vigil(settings, "db", "migrate")
    second = _vigil(settings, "db", "migrate")
    assert first.returncode == 0, first.stderr
    assert "schema up to date" in second.stdout
    assert "applied" not in second.stdout


def test_migrate_against_nothing_fails_clearly(settings: Settings) -> None:
    result = _vigil(
        settings, "db", "migrate", VIGIL_DATABASE_URL="postgresql://x:y@127.0.0.1:1/none"
    )
    assert result.returncode == 1
    assert "error" in result.stderr


def test_invalid_settings_exit_2(settings: Settings) -> None:
    result = _vigil(settings, "stack", "status", VIGIL_ENV="production")
    assert result.returncode == 2
    assert "invalid settings" in result.stderr
