"""`vigil ops …`: chores of the production deployment (compose.yaml) that need Vigil's settings."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer
from psycopg_pool import ConnectionPool
from rich.console import Console

from vigil.settings import PLACEHOLDER_PREFIX, get_settings

app = typer.Typer(help="Chores of the production deployment.", no_args_is_help=True)
err = Console(stderr=True)
log = logging.getLogger(__name__)

DEFAULT_LOGIN_PORT = 8081


@app.command("broker-login")
def broker_login(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port of the login check")] = DEFAULT_LOGIN_PORT,
) -> None:
    """Answer EMQX's HTTP authenticator: a login is allowed only with its password and its
    bound client id (vigil/broker_login.py); also /metrics and /healthz."""
    from vigil.broker_login import BrokerLoginServer, LoginCheck, registry_lookup
    from vigil.db.connect import database_url
    from vigil.observability import Health, configure_logging, serve
    from vigil.observability.metrics import BROKER_LOGIN, COMMON

    settings = get_settings()
    configure_logging("broker-login", settings.log_level)
    secret = settings.broker_login_secret.get_secret_value()
    if settings.env == "production" and PLACEHOLDER_PREFIX in secret:
        err.print("[red]error:[/red] VIGIL_BROKER_LOGIN_SECRET still holds a placeholder")
        raise typer.Exit(2)
    pool = ConnectionPool(
        database_url(settings), min_size=1, max_size=4, timeout=5.0, name="broker-login",
        open=False, check=ConnectionPool.check_connection,  # a restarted database: no 503 per idle
    )  # fmt: skip
    check = LoginCheck(
        settings.mqtt_username, settings.mqtt_password.get_secret_value(), registry_lookup(pool)
    )
    try:
        server = BrokerLoginServer(check, secret, host, port)
    except ValueError as exc:
        pool.close()
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    observability = serve(
        settings, Health("broker-login", {"registry": server.health}), COMMON, BROKER_LOGIN
    )
    try:
        with pool, server:
            log.info("broker login check on %s/mqtt/auth", server.url)
            stop.wait()
    except OSError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    finally:
        if observability is not None:
            observability.stop()
