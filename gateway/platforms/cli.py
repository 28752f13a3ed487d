"""`vigil platform ...`: run the receiver of the carriers' IoT platforms, register NB-IoT
devices (by IMEI and the platform's device id), check vendor profiles, list dead letters."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from rich.console import Console
from rich.table import Column, Table

from gateway.link import BrokerConfig
from gateway.platforms.config import ConfigError, load_config
from gateway.platforms.profiles import ProfileError, Profiles, parse_profile
from gateway.platforms.service import PlatformService
from vigil.broker_auth import gateway_client_id
from vigil.command_line import settings_or_exit
from vigil.db.connect import database_url

app = typer.Typer(help="NB-IoT devices through CTWing / OneNET pushes.", no_args_is_help=True)
device_app = typer.Typer(help="Platform devices in the registry.", no_args_is_help=True)
app.add_typer(device_app, name="device")
err = Console(stderr=True)
out = Console()

PASSWORD_ENV = "VIGIL_GATEWAY_PASSWORD"  # noqa: S105 - the variable's name, not a secret
CSV_COLUMNS = ("device_id", "source", "imei", "platform_id", "product", "profile",
               "household_id", "room")  # fmt: skip


@app.command("run")
def run(
    config_path: Annotated[Path, typer.Option("--config", help="receiver config (TOML)")],
    password: Annotated[
        str | None, typer.Option(envvar=PASSWORD_ENV, help="broker password", show_default=False)
    ] = None,
    mqtt_port: Annotated[int | None, typer.Option(help="broker port [settings]")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port [config]")] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING, ERROR")] = "INFO",
) -> None:
    """Receive the platforms' pushes until SIGTERM or Ctrl-C."""
    settings = settings_or_exit()
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    if not password:
        err.print(f"[red]error:[/red] no broker password: pass --password or set {PASSWORD_ENV}")
        raise typer.Exit(2)
    try:
        config = load_config(config_path)
        Profiles.load(config.profiles_dir)
    except (ConfigError, ProfileError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if port is not None:
        from dataclasses import replace

        config = replace(config, port=port)
    broker = BrokerConfig(
        host=settings.mqtt_host,
        port=mqtt_port or settings.mqtt_port or settings.stack_mqtt_port,
        username=config.gateway_id, password=password,
        client_id=gateway_client_id(config.gateway_id),
    )  # fmt: skip
    service = PlatformService(config, broker, database_url(settings), settings.var_dir)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, service.stop)
        await service.run()

    asyncio.run(main())


@app.command("profiles")
def profiles(
    directory: Annotated[Path | None, typer.Option(help="an installer's own profiles")] = None,
    check: Annotated[Path | None, typer.Option(help="check one profile file and exit")] = None,
) -> None:
    """List the vendor profiles (shipped and your own), or check one file."""
    if check is not None:
        try:
            p = parse_profile(check.read_text("utf-8"), str(check))
        except (OSError, ProfileError) as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from exc
        out.print(f"{check}: profile {p.id} ({p.name_en}) is valid")
        return
    try:
        loaded = Profiles.load(directory)
    except ProfileError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    table = Table(Column("id", no_wrap=True), "name", "platforms", "products", "heartbeat", "type")
    for p in sorted(loaded.by_id.values(), key=lambda p: p.id):
        table.add_row(p.id, p.name, ",".join(sorted(p.platforms)), ",".join(sorted(p.products)),
                      f"{p.heartbeat_s:.0f} s", p.device_type)  # fmt: skip
    out.print(table)


def _add(conn: psycopg.Connection, row: dict[str, str], gateway: str, known: Profiles) -> None:
    source = row.get("source", "")
    if source not in ("ctwing", "onenet"):
        raise ValueError(f"source must be ctwing or onenet, not {source!r}")
    imei, platform_id = row.get("imei") or None, row.get("platform_id") or None
    if imei is None and platform_id is None:
        raise ValueError("give the IMEI, the platform's device id, or both")
    profile = known.find(source, row.get("product", ""), row.get("profile") or None)
    if profile is None:
        raise ValueError(f"no profile {row.get('profile')!r} or for product {row.get('product')!r}"
                         " (vigil platform profiles)")  # fmt: skip
    # The device as every foreign device is registered (source, model, the id its source knows
    # it by, its heartbeat for the core's offline supervision), plus how the platform names it.
    conn.execute(
        "insert into devices (id, device_type, gateway_id, household_id, room, source, model, "
        "external_id, supervision_s) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (row["device_id"], profile.device_type, gateway, row.get("household_id") or None,
         row.get("room") or None, source, profile.id, imei or platform_id, profile.heartbeat_s),
    )  # fmt: skip
    conn.execute(
        "insert into platform_devices (device_id, source, imei, platform_id, product, profile) "
        "values (%s, %s, %s, %s, %s, %s)",
        (row["device_id"], source, imei, platform_id, row.get("product", ""),
         row.get("profile") or None),
    )  # fmt: skip


@device_app.command("add")
def device_add(  # noqa: PLR0917 - typer reads the options from the signature
    device_id: Annotated[str, typer.Argument(help="Vigil's id for the device")],
    source: Annotated[str, typer.Option(help="ctwing or onenet")],
    gateway: Annotated[str, typer.Option(help="the receiver's gateway id (its config)")],
    imei: Annotated[str | None, typer.Option(help="the IMEI (15 digits)")] = None,
    platform_id: Annotated[str | None, typer.Option(help="the platform's device id")] = None,
    product: Annotated[str, typer.Option(help="the platform's product id")] = "",
    profile: Annotated[str | None, typer.Option(help="vendor profile [by product]")] = None,
    household: Annotated[str | None, typer.Option(help="household id")] = None,
    room: Annotated[str | None, typer.Option(help="room")] = None,
    profiles_dir: Annotated[Path | None, typer.Option(help="your own profiles")] = None,
) -> None:
    """Register one NB-IoT device behind the receiver's gateway."""
    row = {"device_id": device_id, "source": source, "imei": imei or "",
           "platform_id": platform_id or "", "product": product, "profile": profile or "",
           "household_id": household or "", "room": room or ""}  # fmt: skip
    try:
        with psycopg.connect(database_url(settings_or_exit())) as conn:
            _add(conn, row, gateway, Profiles.load(profiles_dir))
    except (ValueError, psycopg.Error, ProfileError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    out.print(f"device {device_id} registered ({source}, IMEI {imei or '-'})")


@device_app.command("import")
def device_import(
    path: Annotated[Path, typer.Argument(help=f"CSV with columns {', '.join(CSV_COLUMNS)}")],
    gateway: Annotated[str, typer.Option(help="the receiver's gateway id")],
    profiles_dir: Annotated[Path | None, typer.Option(help="your own profiles")] = None,
) -> None:
    """Register many devices at once: all rows or none (each error names its line)."""
    try:
        rows = list(csv.DictReader(io.StringIO(path.read_text("utf-8-sig"))))
    except (OSError, UnicodeDecodeError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    known = Profiles.load(profiles_dir)
    errors = []
    with psycopg.connect(database_url(settings_or_exit())) as conn, conn.transaction():
        for line, row in enumerate(rows, start=2):
            try:
                with conn.transaction():  # a savepoint: one bad row does not end the others
                    _add(conn, row, gateway, known)
            except (ValueError, KeyError, psycopg.Error) as exc:
                errors.append(f"line {line}: {exc}")
        if errors:
            raise psycopg.Rollback  # every row or none
    if errors:
        for e in errors:
            err.print(f"[red]{e}[/red]")
        err.print(f"[red]nothing imported[/red]: {len(errors)} of {len(rows)} rows refused")
        raise typer.Exit(1)
    out.print(f"{len(rows)} devices registered")
