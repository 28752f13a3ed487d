"""The `vigil` command: one entry point for operators, installers and developers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from alerting.cli import alerting_app, notifier_app
from console.cli import console_app, user_app
from detectors.cli import app as detect_app
from firmware_sim.cli import app as sim_app
from gateway.cli import app as gateway_app
from gateway.dc09.cli import app as dc09_app
from gateway.platforms.cli import app as platform_app
from ingest.cli import app as ingest_app
from vigil.cli.ops import app as ops_app
from vigil.command_line import settings_or_exit
from vigil.db.connect import database_url
from vigil.db.migrate import bundled_migrations, migrate
from vigil.db.timescale import Retention, configure, maintain, retention_for
from vigil.errors import VigilError
from vigil.provisioning.cli import register as register_provisioning
from vigil.settings import Settings
from vigil.stack import LocalStack

app = typer.Typer(help="Vigil: community fire safety and elderly alarms.", no_args_is_help=True)
stack_app = typer.Typer(help="The local PostgreSQL + Mosquitto stack.", no_args_is_help=True)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
app.add_typer(stack_app, name="stack")
app.add_typer(db_app, name="db")
app.add_typer(ops_app, name="ops")
app.add_typer(alerting_app, name="alerting")
app.add_typer(notifier_app, name="notifier")
app.add_typer(console_app, name="console")
app.add_typer(user_app, name="user")
app.add_typer(gateway_app, name="gateway")
app.add_typer(platform_app, name="platform")
app.add_typer(dc09_app, name="dc09")
register_provisioning(app, gateway_app)
app.add_typer(sim_app, name="sim")
app.add_typer(detect_app, name="detect")
app.add_typer(ingest_app, name="ingest")

out = Console()
err = Console(stderr=True)


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}")
    return typer.Exit(1)


@stack_app.command("up")
def stack_up() -> None:
    """Start the private PostgreSQL and Mosquitto (harmless if they run already)."""
    try:
        status = LocalStack(settings_or_exit()).up()
    except VigilError as exc:
        raise _fail(exc) from exc
    out.print(f"PostgreSQL  {status['postgres']['dsn']}")
    out.print(f"MQTT        mqtt://{status['mqtt']['host']}:{status['mqtt']['port']}")


@stack_app.command("down")
def stack_down() -> None:
    """Stop exactly the processes `stack up` started in this checkout."""
    LocalStack(settings_or_exit()).down()
    out.print("stack stopped")


@stack_app.command("status")
def stack_status(
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
) -> None:
    """What runs, on which ports, and how to connect."""
    status = LocalStack(settings_or_exit()).status()
    if as_json:
        typer.echo(json.dumps(status))
        return
    table = Table("part", "running", "pid", "address")
    table.add_row(
        "postgres",
        str(status["postgres"]["running"]),
        str(status["postgres"]["pid"]),
        str(status["postgres"]["dsn"]),
    )
    table.add_row(
        "mqtt",
        str(status["mqtt"]["running"]),
        str(status["mqtt"]["pid"]),
        f"{status['mqtt']['host']}:{status['mqtt']['port']}",
    )
    out.print(table)


def _retention(settings: Settings) -> Retention:
    return retention_for(settings)


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending migrations, then set up rollups and retention for the server's edition."""
    settings = settings_or_exit()
    try:
        with psycopg.connect(database_url(settings), autocommit=True) as conn:
            applied = migrate(conn)
            edition = configure(conn, _retention(settings))
    except (VigilError, psycopg.OperationalError) as exc:
        raise _fail(exc) from exc
    for m in applied:
        out.print(f"applied {m.version:04d}_{m.name}")
    out.print(f"schema up to date ({len(bundled_migrations())} migrations), timescaledb: {edition}")


@db_app.command("maintain")
def db_maintain() -> None:
    """Refresh rollups, drop expired chunks, pack a closed one (the Apache edition's stand-in
    for jobs)."""
    settings = settings_or_exit()
    with psycopg.connect(database_url(settings), autocommit=True) as conn:
        report = maintain(conn, _retention(settings), datetime.now(UTC))
    out.print(
        f"edition {report.edition}: rollups {report.rollup_from} .. {report.rollup_to}, "
        f"dropped {report.dropped_chunks} chunks, packed {report.packed_indexes} indexes"
    )


@app.command("demo")
def demo_command() -> None:
    """Run the whole system locally until Ctrl-C, then stop everything it started."""
    from vigil.cli.demo import run_demo

    run_demo(settings_or_exit(), out)
