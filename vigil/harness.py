"""What the tests, the benchmarks and the demo share to run Vigil on the local stack: free ports,
waiting for a condition, a service's health, scratch databases, and `vigil` services as child
processes. One place, so a fix (a port race, a database still in use) is made once."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar

import psycopg

from vigil.db.migrate import migrate
from vigil.db.timescale import Retention, configure
from vigil.stack import LocalStack

T = TypeVar("T")
STOP_WAIT_S = 30.0


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(probe: Callable[[], T | None], timeout: float = 15.0, what: str = "a condition") -> T:
    """`probe()`'s first truthy answer, polled every 50 ms; AssertionError naming `what` after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        return s.connect_ex((host, port)) == 0


def wait_for_port(port: int, timeout: float = 30.0, host: str = "127.0.0.1") -> None:
    wait_for(lambda: listening(port, host), timeout, f"{host}:{port} to listen")


def serving(url: str) -> bool:
    """The URL (http on this machine) answers 200."""
    if not url.startswith("http://"):
        raise ValueError(f"not a local http URL: {url}")
    try:
        with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 (http only, checked above)
            return bool(r.status == 200)
    except OSError:
        return False


def healthy(port: int) -> bool:
    """A service's observability endpoint says it is healthy (`/healthz`, status ok)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return bool(json.load(r)["status"] == "ok")
    except (OSError, ValueError, KeyError):
        return False


@contextlib.contextmanager
def scratch_database(
    stack: LocalStack,
    *,
    prefix: str = "t",
    retention: Retention | None = None,
    template: str | None = None,
) -> Iterator[str]:
    """A database of its own on the local stack, dropped afterwards (connections and all).
    With `retention` it is migrated and configured; with `template` it is copied from one."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(stack.admin_dsn(), autocommit=True) as conn:
        if template is None:
            conn.execute(f'create database "{name}"')
        else:
            _create_from(conn, name, template)
    dsn = stack.admin_dsn(name)
    try:
        if retention is not None:
            with psycopg.connect(dsn, autocommit=True) as conn:
                migrate(conn)
                configure(conn, retention)
        yield dsn
    finally:
        with psycopg.connect(stack.admin_dsn(), autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


def _create_from(conn: psycopg.Connection[tuple[object, ...]], name: str, template: str) -> None:
    """PostgreSQL refuses a template someone is connected to (TimescaleDB's scheduler may be):
    such sessions are ended and the copy tried again."""
    for attempt in range(50):
        try:
            conn.execute(f'create database "{name}" template "{template}"')
            return
        except psycopg.errors.ObjectInUse:
            if attempt == 49:
                raise
            conn.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity where datname = %s",
                (template,),
            )
            time.sleep(0.1)


def start_vigil(
    args: list[str], env: Mapping[str, str], log: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """`vigil ARGS` as a child process of this interpreter, its output appended to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "vigil.cli", *args],
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
        )


def stop_process(process: subprocess.Popen[bytes], wait_s: float = STOP_WAIT_S) -> None:
    """SIGTERM (every service drains and stops on it), then SIGKILL past `wait_s`."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(wait_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def vigil_process(
    args: list[str], env: Mapping[str, str], log: Path, wait_s: float = STOP_WAIT_S
) -> Iterator[subprocess.Popen[bytes]]:
    """`vigil ARGS` for the length of the block."""
    process = start_vigil(args, env, log)
    try:
        yield process
    finally:
        stop_process(process, wait_s)
