"""`make demo`: the whole system on the local stack, stopped cleanly on Ctrl-C.

The stack comes up and is migrated, a simulated district is written to the registry, and every
service runs as a child process with its log under var/demo/: ingest (with the detector stage),
the alerting service, the notifier (demo SMS provider), the web app, and the simulator playing
the district through real gateway processes. Ctrl-C stops the children in pipeline order (the
simulator first, so ingest can drain and save the detectors' state), then the stack.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psycopg
from rich.console import Console

from vigil.db.migrate import migrate
from vigil.db.timescale import Retention, configure
from vigil.settings import Settings
from vigil.stack import LocalStack

GATEWAYS = 4
DEVICES_PER_GATEWAY = 50
SEED = 7
# Device clocks run ahead of the wall clock above speed 1 and ingest refuses readings more than
# ingest_max_future_s ahead, so the district plays in real time with frequent scenarios.
SPEED = 1
SCENARIOS = ("panic_press", "flaming_fire", "false_press_cancel", "pot_on_stove")
SCENARIOS_PER_HOUR = 60
STOP_WAIT_S = 20.0


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: IO[bytes]


def run_demo(settings: Settings, out: Console) -> None:
    stack = LocalStack(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    children: list[Child] = []
    try:
        status = stack.up()
        with psycopg.connect(stack.dsn, autocommit=True) as conn:
            migrate(conn)
            edition = configure(
                conn, Retention(settings.raw_retention_days, settings.rollup_retention_days)
            )
            _seed_district(conn)
        logs = settings.var_dir / "demo"
        logs.mkdir(parents=True, exist_ok=True)
        env = _child_env(settings)
        for name, args in _services(settings):
            if stop.is_set():
                break
            children.append(_start(name, args, env, logs))
        web = f"http://{settings.live_host}:{settings.live_port}"
        out.print("[bold green]Vigil demo is running[/bold green]")
        out.print(f"  PostgreSQL + TimescaleDB ({edition}): {status['postgres']['dsn']}")
        out.print(
            f"  MQTT: mqtt://{status['mqtt']['host']}:{status['mqtt']['port']} "
            f"user {settings.mqtt_username}"
        )
        out.print(f"  {_web_label()}: {web}  (live stream: {web}/api/live/sse)")
        out.print(f"  {_login_hint(settings)}")
        out.print(
            f"  district: {GATEWAYS} gateways × {DEVICES_PER_GATEWAY} devices, scenarios "
            f"{', '.join(SCENARIOS)}; SMS go to the demo provider (table sms_demo_messages)"
        )
        out.print(f"  logs: {logs}/*.log")
        out.print("  Press Ctrl-C to stop everything.")
        _watch(children, stop, out)
    finally:
        out.print("stopping...")
        _stop_all(children)
        stack.down()
        out.print("stopped")


def _seed_district(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    from firmware_sim.district import build_district, seed

    seed(conn, build_district(SEED, GATEWAYS, DEVICES_PER_GATEWAY))


def _has_console() -> bool:
    from vigil.cli import app

    return any(group.name == "console" for group in app.registered_groups)


def _web_label() -> str:
    return "Console" if _has_console() else "Alerting web app (the console is not installed)"


def _login_hint(settings: Settings) -> str:
    user = getattr(settings, "console_demo_user", None)
    password = getattr(settings, "console_demo_password", None)
    if user is not None and password is not None:
        secret = password.get_secret_value() if hasattr(password, "get_secret_value") else password
        return f"demo login: {user} / {secret}"
    return "demo login: none needed (the live stream is open on loopback)"


def _services(settings: Settings) -> list[tuple[str, list[str]]]:
    port = str(settings.live_port)
    web = (
        ["console", "run", "--port", port]
        if _has_console()
        else ["alerting", "serve", "--port", port]
    )
    sim = [
        "sim", "run", "-g", str(GATEWAYS), "-d", str(DEVICES_PER_GATEWAY), "--seed", str(SEED),
        "--speed", str(SPEED), "--no-register", "--scenarios-per-hour", str(SCENARIOS_PER_HOUR),
    ]  # fmt: skip
    for name in SCENARIOS:
        sim += ["--scenario", name]
    return [
        ("ingest", ["ingest", "run", "--client-prefix", "vigil-demo-ingest"]),
        ("alerting", ["alerting", "run"]),
        ("notifier", ["notifier", "run"]),
        ("web", web),
        ("sim", sim),
    ]


def _child_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "VIGIL_VAR_DIR": str(settings.var_dir),
        "VIGIL_STACK_PG_PORT": str(settings.stack_pg_port),
        "VIGIL_STACK_MQTT_PORT": str(settings.stack_mqtt_port),
        "VIGIL_SMS_PROVIDER": "demo",
    }


def _start(name: str, args: list[str], env: dict[str, str], logs: Path) -> Child:
    log = (logs / f"{name}.log").open("ab")
    # A session of its own: Ctrl-C reaches the demo only, which stops children in order.
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigil.cli", *args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    return Child(name, proc, log)


def _watch(children: list[Child], stop: threading.Event, out: Console) -> None:
    """Wait for Ctrl-C; say so when a child exits on its own (its log tells why)."""
    reported: set[str] = set()
    while not stop.wait(1.0):
        for child in children:
            code = child.proc.poll()
            if code is not None and child.name not in reported:
                reported.add(child.name)
                out.print(f"[yellow]{child.name} exited with {code}; see its log[/yellow]")


def _stop_all(children: list[Child]) -> None:
    """SIGINT to each child, the simulator first and ingest before alerting; then SIGKILL."""
    first = {"sim": 0, "ingest": 1}
    for child in sorted(children, key=lambda c: first.get(c.name, 2)):
        if child.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.proc.send_signal(signal.SIGINT)
            try:
                child.proc.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait()
        child.log.close()
