"""`vigil gateway run|grant`: run a gateway, and give it an account on the local broker.

The registry side (`add`, `list`, `show`, `update`, `retire`, `revoke`, `rekey`) goes through
the console API: vigil/provisioning/devices_cli.py adds those commands to this group.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from gateway.link import BrokerConfig
from gateway.service import MAX_BATCH_READINGS, Gateway, GatewayConfig, default_paths
from vigil.broker_auth import BrokerAuth, gateway_client_id
from vigil.codec import Encoding
from vigil.command_line import settings_or_exit
from vigil.errors import VigilError
from vigil.stack import LocalStack

app = typer.Typer(help="Gateways: device frames in, MQTT out.", no_args_is_help=True)
err = Console(stderr=True)

PASSWORD_ENV = "VIGIL_GATEWAY_PASSWORD"  # noqa: S105 - the variable's name, not a secret
HUB_PASSWORD_ENV = "VIGIL_HUB_PASSWORD"  # noqa: S105 - the variable's name, not a secret
SOURCES = ("vigil", "zigbee2mqtt")


@app.command("run")
def run(  # noqa: PLR0917 - typer reads the options from the signature
    gateway_id: Annotated[str, typer.Option("--id", help="gateway id, also its broker user")],
    site: Annotated[str, typer.Option("--site", help="site the gateway serves")],
    socket_path: Annotated[
        Path | None, typer.Option("--socket", help="device socket [var/gateways/ID.sock]")
    ] = None,
    queue_path: Annotated[
        Path | None, typer.Option("--queue", help="disk queue [var/gateways/ID.queue.sqlite]")
    ] = None,
    mqtt_host: Annotated[str | None, typer.Option(help="broker host [settings]")] = None,
    mqtt_port: Annotated[int | None, typer.Option(help="broker port [local stack]")] = None,
    username: Annotated[str | None, typer.Option(help="broker user [the gateway id]")] = None,
    password: Annotated[
        str | None, typer.Option(envvar=PASSWORD_ENV, help="broker password", show_default=False)
    ] = None,
    encoding: Annotated[Encoding, typer.Option(help="wire encoding")] = Encoding.MSGPACK,
    protocol: Annotated[str, typer.Option(help="MQTT version: 5 or 3.1.1")] = "5",
    batch_readings: Annotated[
        int, typer.Option(min=1, max=MAX_BATCH_READINGS, help="readings per telemetry message")
    ] = 500,
    batch_ms: Annotated[
        float, typer.Option(min=0, max=10_000, help="longest wait of a reading in a batch")
    ] = 25.0,
    queue_max_mb: Annotated[float, typer.Option(min=0.01, help="disk queue bound, MiB")] = 256,
    queue_max_rows: Annotated[
        int, typer.Option(min=1, help="disk queue bound, messages")
    ] = 100_000,
    status_s: Annotated[float, typer.Option(min=0.1, help="status period, seconds")] = 10.0,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING, ERROR")] = "INFO",
    source: Annotated[
        str, typer.Option(help="vigil (Vigil's own devices) or zigbee2mqtt (a Zigbee hub)")
    ] = "vigil",
    config: Annotated[
        Path | None, typer.Option(help="TOML: hub table (host, port, ...), model overrides")
    ] = None,
    hub_host: Annotated[str | None, typer.Option(help="the hub's MQTT broker host")] = None,
    hub_port: Annotated[int | None, typer.Option(help="the hub's MQTT broker port [1883]")] = None,
    hub_user: Annotated[str | None, typer.Option(help="user on the hub's broker")] = None,
    hub_password: Annotated[
        str | None,
        typer.Option(
            envvar=HUB_PASSWORD_ENV, help="password on the hub's broker", show_default=False
        ),
    ] = None,
    base_topic: Annotated[
        str | None, typer.Option(help="zigbee2mqtt's base topic [zigbee2mqtt]")
    ] = None,
) -> None:
    """Run one gateway until SIGTERM or Ctrl-C (`--source zigbee2mqtt`: a Zigbee hub's)."""
    settings = settings_or_exit()
    if source not in SOURCES:
        err.print(f"[red]error:[/red] --source must be one of {', '.join(SOURCES)}, not {source!r}")
        raise typer.Exit(2)
    if not password:
        err.print(f"[red]error:[/red] no broker password: pass --password or set {PASSWORD_ENV}")
        raise typer.Exit(2)
    if protocol not in ("5", "3.1.1"):
        err.print(f"[red]error:[/red] --protocol must be 5 or 3.1.1, not {protocol!r}")
        raise typer.Exit(2)
    mqtt_protocol: Literal["5", "3.1.1"] = "5" if protocol == "5" else "3.1.1"
    logging.basicConfig(
        level=log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    default_socket, default_queue = default_paths(settings.var_dir, gateway_id)
    broker = BrokerConfig(
        host=mqtt_host or settings.mqtt_host,
        port=mqtt_port or settings.mqtt_port or settings.stack_mqtt_port,
        username=username or gateway_id,
        password=password,
        client_id=gateway_client_id(gateway_id),
        protocol=mqtt_protocol,
    )
    if source == "zigbee2mqtt":
        hub = {"host": hub_host, "port": hub_port, "username": hub_user,
               "password": hub_password, "base_topic": base_topic}  # fmt: skip
        from gateway.z2m_run import run_zigbee2mqtt

        code = run_zigbee2mqtt(
            gateway_id=gateway_id, site=site, broker=broker, encoding=encoding,
            queue_path=queue_path or default_queue, status_s=status_s, config=config,
            hub_options={k: v for k, v in hub.items() if v is not None},
        )  # fmt: skip
        raise typer.Exit(code)
    try:
        gw_config = GatewayConfig(
            gateway_id=gateway_id,
            site=site,
            socket_path=socket_path or default_socket,
            queue_path=queue_path or default_queue,
            broker=broker,
            encoding=encoding,
            batch_readings=batch_readings,
            batch_delay_s=batch_ms / 1000,
            queue_max_bytes=int(queue_max_mb * 2**20),
            queue_max_rows=queue_max_rows,
            status_interval_s=status_s,
        )
        gateway = Gateway(gw_config)
    except (ValueError, OSError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    signal.signal(signal.SIGTERM, lambda *_: gateway.stop())
    signal.signal(signal.SIGINT, lambda *_: gateway.stop())
    gateway.run()


@app.command("grant")
def grant(
    gateway_id: Annotated[str, typer.Option("--id", help="gateway id (its broker user)")],
    password: Annotated[str, typer.Option(envvar=PASSWORD_ENV, prompt=True, hide_input=True)],
    site: Annotated[
        str | None, typer.Option("--site", help="fence it into this site too [any site]")
    ] = None,
) -> None:
    """Give a gateway its own account on the local stack's broker (or a new password).

    The registry-aware way is `vigil gateway add` (through the console API); this one talks to
    the local broker directly, for development and benchmarks.
    """
    try:
        BrokerAuth.for_stack(LocalStack(settings_or_exit())).add_gateway(gateway_id, password, site)
    except (VigilError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    typer.echo(f"gateway {gateway_id} may connect")
