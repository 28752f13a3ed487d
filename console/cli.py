"""`vigil console run` and `vigil user add`."""

from __future__ import annotations

import sys
from typing import Annotated

import psycopg
import typer
from rich.console import Console

from console.api import accounts
from console.api.demo import demo_sign_ins
from console.api.errors import UserError
from console.api.passwords import MIN_PASSWORD_LENGTH
from console.api.roles import Role
from vigil.db.connect import database_url
from vigil.observability import CONSOLE, Health
from vigil.observability.server import serve as serve_metrics
from vigil.settings import get_settings

console_app = typer.Typer(help="The operators' web console and API.", no_args_is_help=True)
user_app = typer.Typer(help="Console users.", no_args_is_help=True)

out = Console()
err = Console(stderr=True)


@console_app.command("run")
def run(
    host: Annotated[str | None, typer.Option(help="address to listen on [console_host]")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="port [console_port: 8760]")
    ] = None,
) -> None:
    """Serve the console and its API with uvicorn until Ctrl-C."""
    import uvicorn

    from console.app import create_app

    settings = get_settings()
    if settings.env == "production":  # /metrics is not on the public port there
        serve_metrics(settings, Health("console", {}), CONSOLE)
    listen = host or settings.console_host
    for line in demo_sign_ins(settings, listen):  # docs/console.md: VIGIL_ENV=demo only
        out.print(line)
    uvicorn.run(
        create_app(settings),
        host=listen,
        port=port or settings.console_port,
        log_level="info",
        proxy_headers=False,  # X-Forwarded-For only from console_trusted_proxies (hardening.py)
    )


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    password: str = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return password


@user_app.command("add")
def add(
    username: str,
    *,
    role: Annotated[Role, typer.Option(help="what the user may do")],
    grid: Annotated[str | None, typer.Option(help="the grid of a grid member")] = None,
    display_name: Annotated[str | None, typer.Option(help="shown in the console")] = None,
    department: Annotated[str | None, typer.Option(help="for the response-time reports")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input")
    ] = False,
) -> None:
    """Create a console user (the password is asked for, or read from standard input)."""
    password = _read_password(password_stdin)
    if len(password) < MIN_PASSWORD_LENGTH:
        err.print(f"[red]error:[/red] a password needs at least {MIN_PASSWORD_LENGTH} characters")
        raise typer.Exit(1)
    try:
        with psycopg.connect(database_url(get_settings())) as conn:
            user_id = accounts.create_user(
                conn,
                username=username,
                password=password,
                role=role,
                grid_id=grid,
                display_name=display_name,
                department=department,
            )
            accounts.audit(
                conn,
                user=None,
                username="cli",
                action="user.create",
                target=f"user:{username}",
                remote_addr=None,
                detail={"role": role.value, "grid": grid},
            )
    except (UserError, psycopg.OperationalError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    out.print(f"user {username} ({role.value}) created with id {user_id}")
