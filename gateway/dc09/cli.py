"""`vigil dc09 run | account add|list|retire | import`: the DC-09 receiver and its accounts.

The receiver is a gateway: it needs its own gateway in the registry (`vigil gateway add`) and a
broker account (`vigil gateway grant`), like any other. Accounts are read from the registry at
start and again whenever the registry changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from gateway.bridge import Bridge, BridgeConfig
from gateway.dc09 import registry
from gateway.dc09.accounts import AccountBook
from gateway.dc09.receiver import Receiver, ReceiverConfig
from gateway.link import BrokerConfig
from vigil.broker_auth import gateway_client_id
from vigil.command_line import settings_or_exit
from vigil.db.connect import database_url
from vigil.settings import Settings

app = typer.Typer(help="SIA DC-09 alarm receiving: panels over TCP/UDP into Vigil.",
                  no_args_is_help=True)  # fmt: skip
account_app = typer.Typer(help="Panels' accounts (one device each).", no_args_is_help=True)
app.add_typer(account_app, name="account")
err = Console(stderr=True)
log = logging.getLogger(__name__)

PASSWORD_ENV = "VIGIL_GATEWAY_PASSWORD"  # noqa: S105 - the variable's name, not a secret


def _connect(settings: Settings) -> psycopg.Connection[tuple[Any, ...]]:
    try:
        return psycopg.connect(database_url(settings), autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        err.print(f"[red]error:[/red] cannot reach the database: {exc}")
        raise typer.Exit(1) from exc


@app.command("run")
def run(  # noqa: PLR0917 - typer reads the options from the signature
    gateway_id: Annotated[str, typer.Option("--id", help="the receiver's gateway id")],
    site: Annotated[str, typer.Option("--site", help="site the gateway serves")],
    host: Annotated[str, typer.Option(help="address to listen on")] = "0.0.0.0",  # noqa: S104
    tcp_port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0: none)")] = 9000,
    udp_port: Annotated[int, typer.Option(min=0, max=65535, help="UDP port (0: none)")] = 9000,
    state: Annotated[
        Path | None, typer.Option(help="record of messages taken in [var/dc09/ID.seen.sqlite]")
    ] = None,
    queue: Annotated[
        Path | None, typer.Option(help="disk queue [var/gateways/ID.queue.sqlite]")
    ] = None,
    mqtt_host: Annotated[str | None, typer.Option(help="broker host [settings]")] = None,
    mqtt_port: Annotated[int | None, typer.Option(help="broker port [local stack]")] = None,
    password: Annotated[
        str | None, typer.Option(envvar=PASSWORD_ENV, help="broker password", show_default=False)
    ] = None,
    protocol: Annotated[str, typer.Option(help="MQTT version: 5 or 3.1.1")] = "5",
    accept_timeout_s: Annotated[
        float, typer.Option(min=0.5, max=60, help="longest wait for the broker before no ACK")
    ] = 15.0,
    reload_s: Annotated[float, typer.Option(min=0.5, help="registry check period")] = 5.0,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING, ERROR")] = "INFO",
) -> None:
    """Receive DC-09 on TCP and UDP until SIGTERM or Ctrl-C."""
    settings = settings_or_exit()
    if not password:
        err.print(f"[red]error:[/red] no broker password: pass --password or set {PASSWORD_ENV}")
        raise typer.Exit(2)
    if protocol not in ("5", "3.1.1"):
        err.print(f"[red]error:[/red] --protocol must be 5 or 3.1.1, not {protocol!r}")
        raise typer.Exit(2)
    if not tcp_port and not udp_port:
        err.print("[red]error:[/red] give a TCP port, a UDP port or both")
        raise typer.Exit(2)
    mqtt_protocol: Literal["5", "3.1.1"] = "5" if protocol == "5" else "3.1.1"
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    conn = _connect(settings)
    try:
        accounts = AccountBook(registry.load_accounts(conn))
    except psycopg.Error as exc:
        err.print(f"[red]error:[/red] cannot read the DC-09 accounts: {exc}")
        raise typer.Exit(1) from exc
    broker = BrokerConfig(
        host=mqtt_host or settings.mqtt_host,
        port=mqtt_port or settings.mqtt_port or settings.stack_mqtt_port,
        username=gateway_id,
        password=password,
        client_id=gateway_client_id(gateway_id),
        protocol=mqtt_protocol,
    )
    queue_path = queue or settings.var_dir / "gateways" / f"{gateway_id}.queue.sqlite"
    state_path = state or settings.var_dir / "dc09" / f"{gateway_id}.seen.sqlite"
    try:
        sink = _sink(gateway_id, site, queue_path, broker)
    except (ValueError, OSError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    config = ReceiverConfig(state_path=state_path, accept_timeout_s=accept_timeout_s)
    sink.start()
    try:
        asyncio.run(_serve(config, accounts=accounts, sink=sink, conn=conn, host=host,
                           tcp_port=tcp_port or None, udp_port=udp_port or None,
                           reload_s=reload_s))  # fmt: skip
    finally:
        sink.stop()
        conn.close()


def _sink(gateway_id: str, site: str, queue_path: Path, broker: BrokerConfig) -> Bridge:
    return Bridge(BridgeConfig(gateway_id=gateway_id, site=site, queue_path=queue_path,
                               broker=broker))  # fmt: skip


async def _serve(
    config: ReceiverConfig,
    *,
    accounts: AccountBook,
    sink: Bridge,
    conn: psycopg.Connection[tuple[Any, ...]],
    host: str,
    tcp_port: int | None,
    udp_port: int | None,
    reload_s: float,
) -> None:
    receiver = Receiver(config, accounts, sink)
    try:
        await receiver.start(host, tcp_port, udp_port)
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot listen on {host}: {exc}")
        await receiver.close()
        raise typer.Exit(1) from exc
    tcp, udp = receiver.ports()
    log.info("DC-09 receiver on %s tcp %s udp %s, %d accounts", host, tcp, udp, len(accounts))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    version = await asyncio.to_thread(registry.registry_version, conn)
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), reload_s)
            try:
                now_version = await asyncio.to_thread(registry.registry_version, conn)
                if now_version != version:
                    loaded = await asyncio.to_thread(registry.load_accounts, conn)
                    receiver.reload(loaded)
                    version = now_version
                    log.info("registry changed: %d accounts", len(loaded))
            except psycopg.Error as exc:
                log.warning("registry not read (accounts kept as they were): %s", exc)
    finally:
        log.info("stopping; counts %s", dict(receiver.counts))
        await receiver.close()


@account_app.command("add")
def account_add(  # noqa: PLR0917 - typer reads the options from the signature
    account: Annotated[str, typer.Argument(help="the panel's account number (3-16 hex digits)")],
    gateway: Annotated[
        str | None, typer.Option(help="the receiver's gateway id [the one already receiving]")
    ] = None,
    household: Annotated[str | None, typer.Option(help="household the panel protects")] = None,
    building: Annotated[str | None, typer.Option(help="building the panel protects")] = None,
    key: Annotated[
        str | None,
        typer.Option(
            envvar="VIGIL_DC09_KEY",
            show_default=False,
            help="AES key (16/24/32 bytes), as --key-format says",
        ),
    ] = None,
    key_format: Annotated[
        str | None, typer.Option(help="hex: the key's bytes in hex; raw: its characters")
    ] = None,
    poll_s: Annotated[float | None, typer.Option(help="polling interval the panel keeps")] = None,
    receiver: Annotated[str | None, typer.Option(help="receiver number the panel sends")] = None,
    line: Annotated[str | None, typer.Option(help="line number the panel sends")] = None,
    room: Annotated[str | None, typer.Option(help="where the panel hangs")] = None,
    model: Annotated[str | None, typer.Option(help="panel make and model")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Register a panel's account: a device of the receiver's gateway."""
    new = registry.NewAccount(
        account=account, gateway_id=gateway, household_id=household, building_id=building,
        key=key, key_format=key_format, poll_s=poll_s, receiver=receiver, line=line, room=room,
        model=model,
    )  # fmt: skip
    with _connect(settings_or_exit()) as conn:
        try:
            device = registry.add_account(conn, new)
        except registry.RegistryError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from exc
        except psycopg.Error as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps({"account": new.checked()[0], "device": device}))
    else:
        typer.echo(f"account {new.checked()[0]} registered as device {device}")


@account_app.command("list")
def account_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Live accounts, with their polling, key size, zones and users."""
    with _connect(settings_or_exit()) as conn:
        accounts = registry.load_accounts(conn)
    rows = [
        {
            "account": a.account, "device": a.device_id, "household": a.household_id,
            "building": a.building_id, "poll_s": a.poll_s,
            "key_bits": len(a.key) * 8 if a.key else None, "zones": len(a.zones),
            "users": len(a.users),
        }
        for a in sorted(accounts.values(), key=lambda a: a.account)
    ]  # fmt: skip
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("账号 account", "设备 device", "住户/楼 where", "轮询 poll s", "密钥 key",
                  "防区 zones", "用户 users")  # fmt: skip
    for r in rows:
        where = r["household"] or r["building"]
        key_bits = f"AES-{r['key_bits']}" if r["key_bits"] else "-"
        table.add_row(str(r["account"]), str(r["device"]), str(where), str(r["poll_s"] or "-"),
                      key_bits, str(r["zones"]), str(r["users"]))  # fmt: skip
    Console().print(table)


@account_app.command("retire")
def account_retire(account: str) -> None:
    """Stop receiving from an account (its device is retired too)."""
    with _connect(settings_or_exit()) as conn:
        try:
            registry.retire_account(conn, account)
        except (registry.RegistryError, ValueError) as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from exc
    typer.echo(f"account {account.upper()} retired")


@app.command("import")
def import_file(
    path: Annotated[Path, typer.Argument(help="CSV of dc09_zone / dc09_user rows")],
) -> None:
    """Zones (to rooms) and users (to residents) of registered accounts, all or nothing."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    with _connect(settings_or_exit()) as conn:
        try:
            counts = registry.import_csv(conn, text)
        except registry.RegistryError as exc:
            err.print(f"[red]nothing imported:[/red]\n{exc}")
            raise typer.Exit(1) from exc
    typer.echo(f"imported {counts['zones']} zones and {counts['users']} users")
