"""A real console (uvicorn in its own process, on a loopback port) on a database of its own,
users of each role, and the `vigil` CLI run against it with its own config folder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from typer.testing import CliRunner

from console.api import accounts
from console.api.roles import Role
from vigil.cli import app as vigil_app
from vigil.harness import free_port, scratch_database
from vigil.provisioning import output
from vigil.settings import REPO_ROOT, Settings
from vigil.stack import LocalStack

PASSWORD = "installer-password-1"
USERS = {"inst": Role.INSTALLER, "admin": Role.ADMIN, "op": Role.OPERATOR}


def seed(dsn: str) -> None:
    """One site with one grid: what an administrator sets up before installers arrive."""
    with psycopg.connect(dsn) as conn:
        conn.execute("insert into sites (id, name) values ('s1', '和平街道')")
        conn.execute("insert into grids (id, site_id, name) values ('g1', 's1', '第一网格')")
        conn.execute(
            "insert into buildings (id, grid_id, name, address) "
            "values ('b1', 'g1', '1号楼', '和平路1号')"
        )
        for username, role in USERS.items():
            accounts.create_user(conn, username=username, password=PASSWORD, role=role)


@pytest.fixture(scope="session")
def prov_dsn(stack: LocalStack, schema_template: str) -> Iterator[str]:
    with scratch_database(stack, prefix="prov", template=schema_template) as dsn:
        seed(dsn)
        yield dsn


@dataclass(frozen=True)
class Console:
    url: str
    dsn: str
    log: Path


@pytest.fixture(scope="session")
def console(
    prov_dsn: str, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Console]:
    """`vigil console run` in a process of its own, as an installer's terminal would reach it."""
    port = free_port()
    log = tmp_path_factory.mktemp("console") / "console.log"
    env = os.environ | {
        "VIGIL_DATABASE_URL": prov_dsn,
        "VIGIL_STACK_PG_PORT": str(settings.stack_pg_port),
        "VIGIL_STACK_MQTT_PORT": str(settings.stack_mqtt_port),
        "VIGIL_VAR_DIR": str(settings.var_dir),
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vigil.cli", "console", "run", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"console exited {proc.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"console did not start: {log.read_text()}")
        time.sleep(0.1)
    try:
        yield Console(url, prov_dsn, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Result:
    code: int
    out: str
    err: str


Vigil = Callable[..., Result]


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "200")  # rich tables keep whole ids on one line
    # The CLI's consoles were made at import, which fixed their width if COLUMNS was set then
    # (by whichever test imported them first): 200 columns for this test whatever that was.
    for console in (output.out, output.err):
        monkeypatch.setattr(console, "_width", 200)
    return home


@pytest.fixture
def vigil(config_home: Path) -> Vigil:
    """Runs `vigil ARGS...` in this process (the console it talks to is a real server)."""
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None) -> Result:
        result = runner.invoke(vigil_app, list(args), input=stdin, catch_exceptions=False)
        return Result(result.exit_code, result.stdout, result.stderr)

    return run


@pytest.fixture
def signed_in_as(vigil: Vigil, console: Console) -> Callable[[str], None]:
    def login(username: str) -> None:
        result = vigil("login", "--url", console.url, "--username", username,
                       "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
        assert result.code == 0, result.err + result.out

    return login


@pytest.fixture
def db(console: Console) -> Iterator[psycopg.Connection]:
    with psycopg.connect(console.dsn, autocommit=True) as conn:
        yield conn
