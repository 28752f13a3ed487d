"""`make demo`: the whole system on the local stack, stopped cleanly on Ctrl-C."""

from __future__ import annotations

import signal
import threading

import psycopg
from rich.console import Console

from vigil.db.migrate import migrate
from vigil.db.timescale import Retention, configure
from vigil.settings import Settings
from vigil.stack import LocalStack


def run_demo(settings: Settings, out: Console) -> None:
    stack = LocalStack(settings)
    stop = threading.Event()
    console = None
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        status = stack.up()
        with psycopg.connect(stack.dsn, autocommit=True) as conn:
            migrate(conn)
            edition = configure(
                conn, Retention(settings.raw_retention_days, settings.rollup_retention_days)
            )
        from alerting.api.demo import start_console

        console, logins = start_console(settings, stack.dsn)
        out.print("[bold green]Vigil demo is running[/bold green]")
        out.print(f"  PostgreSQL + TimescaleDB ({edition}): {status['postgres']['dsn']}")
        out.print(
            f"  MQTT: mqtt://{status['mqtt']['host']}:{status['mqtt']['port']} "
            f"user {settings.mqtt_username}"
        )
        out.print(f"  Console: {console.url}")
        for username, password in logins.items():
            out.print(f"    sign in as [bold]{username}[/bold] / {password}")
        out.print("  Press Ctrl-C to stop everything.")
        stop.wait()
    finally:
        out.print("stopping...")
        if console is not None:
            console.stop()
        stack.down()
        out.print("stopped")
