"""The real local stack, started once per test session on ports of its own."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from vigil.db.migrate import migrate
from vigil.db.timescale import Retention, configure
from vigil.harness import scratch_database
from vigil.settings import REPO_ROOT, Settings
from vigil.stack import LocalStack

TEST_PG_PORT = int(os.environ.get("VIGIL_TEST_PG_PORT", "25433"))
TEST_MQTT_PORT = int(os.environ.get("VIGIL_TEST_MQTT_PORT", "21884"))


def stack_settings(var_dir: Path, pg_port: int, mqtt_port: int) -> Settings:
    return Settings(var_dir=var_dir, stack_pg_port=pg_port, stack_mqtt_port=mqtt_port)


@contextlib.contextmanager
def scratch_var() -> Iterator[Path]:
    """A var dir for a second stack inside the checkout.

    Not under pytest's tmp_path: pytest keeps its base folder at mode 0700 (and resets it when
    another session starts), which the postgres and mosquitto users cannot enter.
    """
    path = REPO_ROOT / "var" / "scratch" / uuid.uuid4().hex[:12]
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return stack_settings(REPO_ROOT / "var" / "test-stack", TEST_PG_PORT, TEST_MQTT_PORT)


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Iterator[LocalStack]:
    local = LocalStack(settings)
    try:
        local.up()
        yield local
    finally:
        local.down()


@pytest.fixture(scope="session")
def migrated_dsn(stack: LocalStack, settings: Settings) -> str:
    with psycopg.connect(stack.dsn, autocommit=True) as conn:
        migrate(conn)
        configure(conn, Retention(settings.raw_retention_days, settings.rollup_retention_days))
    return stack.dsn


@pytest.fixture
def fresh_db(stack: LocalStack) -> Iterator[str]:
    """An empty database of its own, dropped afterwards."""
    with scratch_database(stack) as dsn:
        yield dsn
