"""`make demo`: the whole system on the local stack, stopped cleanly on Ctrl-C.

The stack and the console run in this process; ingest (with the detectors), alerting, the
notifier and the simulator (which starts its gateways) run as `vigil` child processes in
sessions of their own, so Ctrl-C reaches only the demo, which then stops them in reverse order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console

from firmware_sim.district import build_district
from firmware_sim.runner import Opening
from ingest.detection.stage import state_path_for
from vigil.db.migrate import migrate
from vigil.db.timescale import Retention, configure
from vigil.settings import Settings
from vigil.stack import LocalStack
from vigil.topics import Topic

# What the simulator plays into the district's homes, about one a minute: real alarms,
# nuisances the detectors must not raise, and faults.
DEMO_SCENARIOS = (
    "panic_press", "flaming_fire", "fast_heat_fire", "cooking_smoke", "pot_on_stove",
    "false_press_cancel", "tamper", "smouldering_fire",
)  # fmt: skip
DEMO_SCENARIOS_PER_HOUR = 60.0
# The first alarms come within a minute: a fire (seed 6: a NIST location whose smoke alarms
# some 25 s after ignition) and a panic press start with the run; the random scenarios that
# follow get a minute of ordinary readings before their onset instead of 5 to 30.
DEMO_OPENING = (Opening("flaming_fire", 10.0, seed=6), Opening("panic_press", 20.0))
DEMO_PRE_ROLL_S = 60.0
DEMO_SEED = 1
DEMO_GATEWAYS = 2
DEMO_DEVICES_PER_GATEWAY = 50
# Each run starts on a database of its own, made afresh (the stack's `vigil` is left alone).
DEMO_DATABASE = "vigil_demo"


def sim_args() -> tuple[str, ...]:
    """`vigil sim run` as the demo starts it (real time: ingest refuses readings from the
    future, so the demo cannot run faster)."""
    args = ["sim", "run", "--gateways", str(DEMO_GATEWAYS),
            "--devices-per-gateway", str(DEMO_DEVICES_PER_GATEWAY),
            "--seed", str(DEMO_SEED), "--scenarios-per-hour", f"{DEMO_SCENARIOS_PER_HOUR:g}",
            "--pre-roll", f"{DEMO_PRE_ROLL_S:g}"]  # fmt: skip
    for name in DEMO_SCENARIOS:
        args += ["--scenario", name]
    for o in DEMO_OPENING:
        seed = "" if o.seed is None else f":{o.seed}"
        args += ["--opening", f"{o.name}:{o.pre_roll_s:g}{seed}"]
    return tuple(args)


# Started in this order, stopped in the reverse one.
SERVICES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ingest", ("ingest", "run")),
    ("alerting", ("alerting", "run")),
    ("notifier", ("notifier", "run")),
    ("simulator", sim_args()),
)
STOP_TIMEOUT_S = 20.0


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    log_path: Path


def _fresh_start(stack: LocalStack, settings: Settings) -> str:
    """A new demo database, and nothing left of an earlier run: the detectors' saved state
    (its fires still latched), the gateways' disk queues (the last run's frames) and their
    retained "offline" on the broker (a gateway alert before this run's gateways are up).
    Otherwise this run's first alarms would merge into the last run's open incidents."""
    with psycopg.connect(stack.admin_dsn(), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{DEMO_DATABASE}" with (force)')
        conn.execute(f'create database "{DEMO_DATABASE}"')
    state_path_for(settings.var_dir).unlink(missing_ok=True)
    for queue in (settings.var_dir / "gateways").glob("*.queue.sqlite*"):
        queue.unlink()
    district = build_district(DEMO_SEED, DEMO_GATEWAYS, DEMO_DEVICES_PER_GATEWAY)
    _forget_status(settings, [str(Topic.status(g.site_id, g.id)) for g in district.gateways])
    return stack.admin_dsn(DEMO_DATABASE)


def _forget_status(settings: Settings, topics: list[str]) -> None:
    """Clear retained messages (an empty retained publish), as the service account."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="vigil-demo-start")
    client.username_pw_set(settings.mqtt_username, settings.mqtt_password.get_secret_value())
    client.connect("127.0.0.1", settings.stack_mqtt_port)
    client.loop_start()
    try:
        for topic in topics:
            client.publish(topic, b"", qos=1, retain=True).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()


def _start(settings: Settings, dsn: str, name: str, args: tuple[str, ...]) -> Service:
    log_dir = settings.var_dir / "demo"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    log = log_path.open("ab")
    env = {
        **os.environ,
        "VIGIL_VAR_DIR": str(settings.var_dir),
        "VIGIL_DATABASE_URL": dsn,
        "VIGIL_STACK_PG_PORT": str(settings.stack_pg_port),
        "VIGIL_STACK_MQTT_PORT": str(settings.stack_mqtt_port),
        # The family's calls shown in the console and answered with key 1 (alerting/voice/demo.py).
        "VIGIL_VOICE_PROVIDER": os.environ.get("VIGIL_VOICE_PROVIDER", "demo"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "vigil.cli", *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    return Service(name, process, log, log_path)


def _stop(service: Service) -> None:
    """SIGTERM, a grace period for draining, then SIGKILL."""
    if service.process.poll() is None:
        service.process.terminate()
        try:
            service.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait()
    service.log.close()


def _watch(services: list[Service], stop: threading.Event, out: Console) -> None:
    """Wait for Ctrl-C, telling once about any service that stops on its own."""
    told: set[str] = set()
    while not stop.wait(2.0):
        for service in services:
            code = service.process.poll()
            if code is not None and service.name not in told:
                told.add(service.name)
                out.print(
                    f"[red]{service.name} stopped (exit code {code}); see {service.log_path}[/red]"
                )


def run_demo(settings: Settings, out: Console) -> None:
    stack = LocalStack(settings)
    stop = threading.Event()
    console = None
    services: list[Service] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        status = stack.up()
        dsn = _fresh_start(stack, settings)
        with psycopg.connect(dsn, autocommit=True) as conn:
            migrate(conn)
            edition = configure(
                conn, Retention(settings.raw_retention_days, settings.rollup_retention_days)
            )
        from console.api.demo import start_console

        console, logins = start_console(settings, dsn)
        for name, args in SERVICES:
            services.append(_start(settings, dsn, name, args))
        out.print("[bold green]Vigil demo is running[/bold green]")
        out.print(f"  PostgreSQL + TimescaleDB ({edition}): {dsn}")
        out.print(
            f"  MQTT: mqtt://{status['mqtt']['host']}:{status['mqtt']['port']} "
            f"user {settings.mqtt_username}"
        )
        names = ", ".join(s.name for s in services)
        out.print(f"  Services: {names} (logs in {settings.var_dir / 'demo'})")
        out.print(f"  Console: {console.url}")
        for username, password in logins.items():
            out.print(f"    sign in as [bold]{username}[/bold] / {password}")
        from console.api.demo import DEMO_GRID_MEMBER, DEMO_PASSWORD, ensure_demo_grid_member

        grid = ensure_demo_grid_member(dsn, settings)
        if grid is not None:
            out.print(f"  Mobile app for grid members (网格员手机端): {console.url}m/")
            out.print(f"    sign in as [bold]{DEMO_GRID_MEMBER}[/bold] / {DEMO_PASSWORD} ({grid})")
        out.print("  Press Ctrl-C to stop everything.")
        _watch(services, stop, out)
    finally:
        out.print("stopping...")
        for service in reversed(services):
            _stop(service)
        if console is not None:
            console.stop()
        stack.down()
        out.print("stopped")
