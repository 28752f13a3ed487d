"""`vigil user add`: users from the terminal, with clear errors."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest
from pydantic import SecretStr

from console.api.demo import demo_sign_ins
from tests.console.conftest import running_app, seeded_database, sign_in
from vigil.settings import Settings
from vigil.stack import LocalStack

pytestmark = pytest.mark.stack


def _vigil(dsn: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIGIL_DATABASE_URL": dsn}
    return subprocess.run(
        [sys.executable, "-m", "vigil.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_user_add_creates_a_grid_member_who_can_sign_in(
    console_dsn: str, db: psycopg.Connection
) -> None:
    done = _vigil(
        console_dsn, "user", "add", "zhang", "--role", "grid_member", "--grid", "g2",
        "--password-stdin", stdin="a-long-password\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "zhang" in done.stdout
    row = db.execute("select role, grid_id from users where username = 'zhang'").fetchone()
    assert row == ("grid_member", "g2")
    audit = db.execute(
        "select username from audit_log where action = 'user.create' and target = 'user:zhang'"
    ).fetchone()
    assert audit == ("cli",)


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["nogrid", "--role", "grid_member"], "a-long-password\n", "needs a grid"),
        (
            ["badgrid", "--role", "grid_member", "--grid", "g404"],
            "a-long-password\n",
            "unknown grid",
        ),
        (["short", "--role", "operator"], "short\n", "at least 8"),
        (["op", "--role", "operator"], "a-long-password\n", "exists already"),
    ],
)
def test_user_add_refuses_with_a_reason(
    console_dsn: str, args: list[str], stdin: str, message: str
) -> None:
    done = _vigil(console_dsn, "user", "add", *args, "--password-stdin", stdin=stdin)
    assert done.returncode == 1
    assert message in done.stderr


def test_an_unknown_role_is_a_usage_error(console_dsn: str) -> None:
    done = _vigil(console_dsn, "user", "add", "x", "--role", "chef", "--password-stdin")
    assert done.returncode == 2
    assert "chef" in done.stderr


def test_console_run_makes_the_demo_sign_ins_only_for_a_local_demo(
    stack: LocalStack, schema_template: str, settings: Settings
) -> None:
    """Issue 14: docs/console.md promises `admin` / `operator` under VIGIL_ENV=demo."""
    with seeded_database(stack, schema_template) as dsn:
        demo = settings.model_copy(update={"database_url": SecretStr(dsn), "env": "demo"})
        assert demo_sign_ins(demo, "0.0.0.0")[0].startswith("demo sign-ins not created")
        production = demo.model_copy(update={"env": "production"})
        assert demo_sign_ins(production, "127.0.0.1") == []
        with psycopg.connect(dsn) as conn:
            assert (
                conn.execute("select 1 from users where username = 'operator'").fetchone() is None
            )
        lines = demo_sign_ins(demo, "127.0.0.1")
        assert any("operator / vigil-demo" in line for line in lines)
        with running_app(dsn, demo) as app:
            assert sign_in(app, "operator", "vigil-demo").get("/api/auth/me").status_code == 200
