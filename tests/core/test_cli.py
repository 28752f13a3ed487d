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


_GROUP_COMMANDS = """
import importlib, json
from vigil.cli.__main__ import ALONE

def names(group):
    commands = [c.name or c.callback.__name__ for c in group.registered_commands]
    return sorted(commands + [g.name for g in group.registered_groups])

def alone():
    return {g: names(getattr(importlib.import_module(m), a)) for g, (m, a) in ALONE.items()}

before = alone()  # what `python -m vigil.cli GROUP` loads: the group's module only
from vigil.cli.main import app
whole = {g.name: names(g.typer_instance) for g in app.registered_groups if g.name in ALONE}
print(json.dumps([before, whole, alone()]))
"""


def test_a_group_loaded_alone_has_the_commands_it_has_in_the_whole_vigil() -> None:
    """`python -m vigil.cli ingest ...` (how services are started) loads the group's own module
    without vigil/cli/main.py: a command main.py added to such a group would be missing."""
    proc = subprocess.run(
        [sys.executable, "-c", _GROUP_COMMANDS],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    alone, whole, after = json.loads(proc.stdout)
    assert set(whole) == set(alone), "every group loaded alone is one of vigil's groups"
    assert alone == whole == after
    assert all(alone.values())
