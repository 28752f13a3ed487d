"""The real local stack, started once per test session on ports of its own."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from vigil.db.migrate import migrate
from vigil.db.timescale import Retention, configure, retention_for
from vigil.harness import scratch_database
from vigil.settings import REPO_ROOT, Settings
from vigil.stack import LocalStack

# Under pytest-xdist (`make test` runs two workers) each worker has a stack of its own: its
# ports 10 apart from the previous worker's (the tests derive others up to +201 from them), its
# own var folder. A fault test restarting its broker then stops nobody else's.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
WORKER_INDEX = int(WORKER.removeprefix("gw") or 0)
TEST_PG_PORT = int(os.environ.get("VIGIL_TEST_PG_PORT", "25433")) + 10 * WORKER_INDEX
TEST_MQTT_PORT = int(os.environ.get("VIGIL_TEST_MQTT_PORT", "21884")) + 10 * WORKER_INDEX


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
    folder = "test-stack" + (f"-{WORKER}" if WORKER else "")
    return stack_settings(REPO_ROOT / "var" / folder, TEST_PG_PORT, TEST_MQTT_PORT)


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Iterator[LocalStack]:
    local = LocalStack(settings)
    try:
        local.up()
        yield local
    finally:
        local.down()


@pytest.fixture(autouse=True)
def broker_alive(request: pytest.FixtureRequest) -> None:
    """Before a test on the stack, start the broker again if it died since the last one.

    Debian's Mosquitto 2.0.11 died of a general protection fault in libc (dmesg) during a
    dynamic-security re-key, about once in five full runs, and every later test failed on a
    broker that was gone. The re-key no longer takes that path (vigil/broker_auth.py); should
    the broker die of something else, the test it died in still fails and a restart is
    reported."""
    if "stack" not in request.fixturenames:
        return
    stack: LocalStack = request.getfixturevalue("stack")
    if stack.mqtt_pid() is None:
        warnings.warn(
            f"the test broker had stopped (see dmesg and {stack.paths.mqtt_log}); started again",
            stacklevel=1,
        )
        stack.start_mqtt()


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


@pytest.fixture(scope="session")
def schema_template(stack: LocalStack, settings: Settings) -> Iterator[str]:
    """A database migrated and configured (the settings' retention) once per session, to copy.

    Copying it (CREATE DATABASE ... TEMPLATE) takes a fraction of a second where migrating
    takes seconds, and the copy is the same schema. Nobody may connect to a template while it
    is copied: TimescaleDB's scheduler would, so connections to it are turned off.
    """
    name = f"tmpl_schema_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(stack.admin_dsn(), autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    try:
        with psycopg.connect(stack.admin_dsn(name), autocommit=True) as conn:
            migrate(conn)
            configure(conn, retention_for(settings))
        with psycopg.connect(stack.admin_dsn(), autocommit=True) as conn:
            conn.execute(f'alter database "{name}" with allow_connections false')
            conn.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity where datname = %s",
                (name,),
            )
        yield name
    finally:
        if stack.status()["postgres"]["running"]:
            with psycopg.connect(stack.admin_dsn(), autocommit=True) as conn:
                conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def migrated_db(stack: LocalStack, schema_template: str) -> Iterator[str]:
    """A database of its own with the whole schema and the settings' retention, dropped
    afterwards: a copy of `schema_template`, the same as migrating and configuring a fresh one."""
    with scratch_database(stack, template=schema_template) as dsn:
        yield dsn


def end_connections(stack: LocalStack, dsn: str) -> int:
    """End every connection to `dsn`'s database, as a restart or failover does; how many."""
    with psycopg.connect(stack.admin_dsn(), autocommit=True) as admin:
        row = admin.execute(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity "
            "where datname = %s and pid <> pg_backend_pid()",
            (conninfo_to_dict(dsn)["dbname"],),
        ).fetchone()
    assert row is not None
    return int(row[0])
