"""The local stack: idempotent `up`, a clean `down`, and an honest `status`."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator

import psycopg
import pytest

from tests.fix_stack import TEST_MQTT_PORT, TEST_PG_PORT, scratch_var, stack_settings
from vigil.errors import StackError
from vigil.stack import LocalStack, _pid_alive

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def own_stack() -> Iterator[LocalStack]:
    """A second stack beside the session's, as a second checkout would run it."""
    with scratch_var() as var:
        local = LocalStack(stack_settings(var, TEST_PG_PORT + 100, TEST_MQTT_PORT + 100))
        yield local
        local.down()


def _mqtt_roundtrip(port: int, username: str, password: str) -> str:
    sub = subprocess.Popen(
        [
            "mosquitto_sub",
            "-p",
            str(port),
            "-u",
            username,
            "-P",
            password,
            "-t",
            "vigil/test/roundtrip",
            "-C",
            "1",
            "-W",
            "10",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(50):
            subprocess.run(
                [
                    "mosquitto_pub",
                    "-p",
                    str(port),
                    "-u",
                    username,
                    "-P",
                    password,
                    "-t",
                    "vigil/test/roundtrip",
                    "-m",
                    "hello",
                ],
                check=True,
            )
            try:
                out, _ = sub.communicate(timeout=0.2)
                return out.strip()
            except subprocess.TimeoutExpired:
                continue
    finally:
        sub.kill()
    return ""


def test_up_starts_both_and_status_reports_them(own_stack: LocalStack) -> None:
    status = own_stack.up()
    assert status["postgres"]["running"]
    assert status["mqtt"]["running"]
    with psycopg.connect(status["postgres"]["dsn"]) as conn:
        row = conn.execute(
            "select extversion from pg_extension where extname = 'timescaledb'"
        ).fetchone()
    assert row is not None
    assert row[0].startswith("2.")
    password = own_stack.settings.mqtt_password.get_secret_value()
    assert _mqtt_roundtrip(status["mqtt"]["port"], status["mqtt"]["username"], password) == "hello"


def test_up_twice_is_harmless(own_stack: LocalStack) -> None:
    first = own_stack.up()
    second = own_stack.up()
    assert first["postgres"]["pid"] == second["postgres"]["pid"]
    assert first["mqtt"]["pid"] == second["mqtt"]["pid"]


def test_timescaledb_is_preloaded_with_telemetry_off(own_stack: LocalStack) -> None:
    own_stack.up()
    with psycopg.connect(own_stack.dsn) as conn:
        preload = conn.execute("show shared_preload_libraries").fetchone()
        telemetry = conn.execute("show timescaledb.telemetry_level").fetchone()
    assert preload is not None
    assert "timescaledb" in preload[0]
    assert telemetry is not None
    assert telemetry[0] == "off"


def test_anonymous_and_wrong_password_are_refused(own_stack: LocalStack) -> None:
    status = own_stack.up()
    port = str(status["mqtt"]["port"])
    anonymous = subprocess.run(
        ["mosquitto_pub", "-p", port, "-t", "x", "-m", "y"], capture_output=True, check=False
    )
    wrong = subprocess.run(
        ["mosquitto_pub", "-p", port, "-u", "vigil", "-P", "wrong", "-t", "x", "-m", "y"],
        capture_output=True,
        check=False,
    )
    assert anonymous.returncode != 0
    assert wrong.returncode != 0


def test_down_leaves_no_process(own_stack: LocalStack) -> None:
    status = own_stack.up()
    pids = [status["postgres"]["pid"], status["mqtt"]["pid"]]
    own_stack.down()
    assert not any(_pid_alive(pid) for pid in pids)
    after = own_stack.status()
    assert not after["postgres"]["running"]
    assert not after["mqtt"]["running"]


def test_down_when_nothing_runs_is_harmless(own_stack: LocalStack) -> None:
    own_stack.down()
    own_stack.down()
    assert not own_stack.status()["postgres"]["running"]


def test_a_taken_port_is_reported_clearly() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with scratch_var() as var:
            local = LocalStack(stack_settings(var, port, TEST_MQTT_PORT + 101))
            with pytest.raises(StackError, match=f"port {port} is taken"):
                local.up()
            local.down()


def test_the_session_stack_is_left_alone(stack: LocalStack, own_stack: LocalStack) -> None:
    own_stack.up()
    own_stack.down()
    assert stack.status()["postgres"]["running"]
    assert os.path.exists(stack.paths.pg_data / "postmaster.pid")
