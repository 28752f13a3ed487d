"""What the provisioning commands print: tables for people, `--json` for scripts, and errors
that say what was wrong (on stderr, exit status 1)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from vigil.provisioning import credentials
from vigil.provisioning.client import ApiClient, ApiError
from vigil.provisioning.credentials import NotSignedInError

out = Console()
err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="one JSON document, for scripts")]


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


@contextmanager
def signed_in() -> Iterator[ApiClient]:
    """The console session from `vigil login`; API errors end the command with status 1."""
    try:
        creds = credentials.load()
    except NotSignedInError as exc:
        raise fail(str(exc), 2) from exc
    try:
        with ApiClient.signed_in(creds) as client:
            yield client
    except ApiError as exc:
        raise fail(str(exc)) from exc


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def show_list(items: list[dict[str, Any]], columns: Sequence[str], as_json: bool) -> None:
    if as_json:
        print_json(items)
        return
    if not items:
        out.print("nothing registered")
        return
    table = Table(*columns)
    for item in items:
        table.add_row(*(_cell(item.get(c)) for c in columns))
    out.print(table)


def show_one(item: dict[str, Any], as_json: bool, title: str | None = None) -> None:
    if as_json:
        print_json(item)
        return
    table = Table("field", "value", title=title, show_header=False)
    for key, value in item.items():
        table.add_row(key, _cell(value))
    out.print(table)


def done(message: str, item: Any, as_json: bool) -> None:
    """A change went through: the new state for scripts, one line for people."""
    if as_json:
        print_json(item)
    else:
        out.print(f"[green]✓[/green] {message}", highlight=False)


def fields(**values: Any) -> dict[str, Any]:
    """The options given on the command line (None means not given)."""
    return {k: v for k, v in values.items() if v is not None}
