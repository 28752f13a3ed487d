"""The installers' commands: `vigil login|logout|import` and the registry groups, all through
the console API, so they work from any terminal that reaches the console."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

from vigil.provisioning import credentials
from vigil.provisioning.client import ApiClient, ApiError
from vigil.provisioning.credentials import Credentials
from vigil.provisioning.devices_cli import device_app, register_gateway_commands
from vigil.provisioning.importer import ImportRejected, RowError, read_csv
from vigil.provisioning.output import (
    JsonOpt,
    err,
    fail,
    out,
    print_json,
    show_list,
    signed_in,
)
from vigil.provisioning.registry_cli import (
    building_app,
    grid_app,
    household_app,
    resident_app,
    site_app,
)
from vigil.settings import get_settings

# Past this many rows the import shows progress bars (reading, then sending).
PROGRESS_ROWS = 500


def login(
    url: Annotated[str | None, typer.Option(help="the console [http://console_host:port]")] = None,
    username: Annotated[str | None, typer.Option(help="your console user name")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input")
    ] = False,
) -> None:
    """Sign in to the console; the session token is kept in your config folder (mode 0600)."""
    if url is None:
        settings = get_settings()
        url = f"http://{settings.console_host}:{settings.console_port}"
    user = username or typer.prompt("username")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True)
    try:
        with ApiClient(url) as api:
            answer = api.post("/api/auth/login", {"username": user, "password": password})
    except ApiError as exc:
        raise fail(str(exc)) from exc
    role = answer["user"]["role"]
    path = credentials.save(Credentials(url=url, token=answer["token"], username=user, role=role))
    out.print(f"[green]✓[/green] signed in to {url} as {user} ({role}); token in {path}")
    if "devices.write" not in answer["user"].get("permissions", []):
        err.print(f"[yellow]note: role {role} cannot register gateways or devices[/yellow]")


def logout() -> None:
    """End the console session and forget the token."""
    try:
        creds = credentials.load()
    except credentials.NotSignedInError:
        out.print("not signed in")
        return
    try:
        with ApiClient.signed_in(creds) as api:
            api.post("/api/auth/logout")
    except ApiError as exc:
        err.print(f"[yellow]the console did not end the session: {exc}[/yellow]")
    credentials.forget()
    out.print("signed out")


def _report(errors: list[RowError] | list[dict[str, Any]], as_json: bool) -> typer.Exit:
    rows = [e if isinstance(e, dict) else vars(e) for e in errors]
    if as_json:
        print_json({"imported": False, "errors": rows})
    else:
        err.print(f"[red]{len(rows)} errors; nothing was imported:[/red]")
        show_list(rows, ("row", "column", "message"), False)
    return typer.Exit(1)


def _read(path: Path) -> list[tuple[int, dict[str, str]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's BOM is not a column name
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {path}: {exc}") from exc
    return read_csv(text)


def import_file(
    file: Annotated[Path, typer.Argument(help="CSV file, one row per thing to register")],
    dry_run: Annotated[bool, typer.Option(help="check every row, register nothing")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Register a whole installation from a CSV file: every row is checked first and every
    error reported by row number; then all rows are registered, or none."""
    try:
        rows = _read(file)
    except ImportRejected as exc:
        raise _report(exc.errors, as_json) from exc
    if not rows:
        raise fail(f"{file} has no rows")
    payload = json.dumps(
        {"rows": [{"row": n, "cells": c} for n, c in rows], "dry_run": dry_run},
        ensure_ascii=False,
    ).encode()
    with signed_in() as api:
        try:
            result = _send(api, payload, len(rows), quiet=as_json)
        except ApiError as exc:
            if exc.status == 422 and isinstance(exc.detail, dict) and "errors" in exc.detail:
                raise _report(exc.detail["errors"], as_json) from exc
            raise
    if as_json:
        print_json(result)
        return
    counts = ", ".join(f"{n} {kind}s" for kind, n in result["counts"].items())
    verb = "would be imported (dry run)" if dry_run else "imported"
    out.print(f"[green]✓[/green] {len(rows)} rows {verb}: {counts}")
    for creds in result.get("credentials", []):
        out.print(
            f"  gateway {creds['username']} password {creds['password']} "
            "[yellow](shown once)[/yellow]",
            highlight=False,
        )


def _send(api: ApiClient, payload: bytes, rows: int, quiet: bool) -> Any:
    if quiet or rows < PROGRESS_ROWS:
        return api.post("/api/import", content=payload,
                        headers={"Content-Type": "application/json"})  # fmt: skip
    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), console=err
    ) as progress:
        task = progress.add_task(f"sending {rows} rows", total=len(payload))
        result = api.upload("/api/import", payload, lambda n: progress.advance(task, n))
        progress.update(task, description="checked and registered")
    return result


def register(app: typer.Typer, gateway_app: typer.Typer) -> None:
    """Add the installers' commands to `vigil` (and to its `gateway` group)."""
    app.command("login")(login)
    app.command("logout")(logout)
    app.command("import")(import_file)
    for name, group in (
        ("site", site_app),
        ("grid", grid_app),
        ("building", building_app),
        ("household", household_app),
        ("resident", resident_app),
        ("device", device_app),
    ):
        app.add_typer(group, name=name)
    register_gateway_commands(gateway_app)
