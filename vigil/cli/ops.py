"""`vigil ops …`: chores of the production deployment (compose.yaml) that need Vigil's settings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from vigil.broker_users import write_emqx_bootstrap
from vigil.settings import get_settings

app = typer.Typer(help="Chores of the production deployment.", no_args_is_help=True)
err = Console(stderr=True)


@app.command("emqx-users")
def emqx_users(
    path: Annotated[Path, typer.Argument(help="where EMQX's bootstrap_file is read from")],
) -> None:
    """Write the broker login of the service account (VIGIL_MQTT_USERNAME/PASSWORD) for EMQX."""
    try:
        settings = get_settings()
        write_emqx_bootstrap(
            path, settings.mqtt_username, settings.mqtt_password.get_secret_value()
        )
    except (ValueError, OSError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    err.print(f"wrote {path} for MQTT user {settings.mqtt_username}")
