"""What every `vigil` command group shares before it does anything: the settings, or a clear
message and exit status 2 when they are invalid (a CLI says what is wrong, no traceback)."""

from __future__ import annotations

import typer
from rich.console import Console

from vigil.settings import Settings, get_settings

_err = Console(stderr=True)


def settings_or_exit() -> Settings:
    """The settings; 'invalid settings: …' on stderr and exit 2 if they do not validate."""
    try:
        return get_settings()
    except ValueError as exc:
        _err.print(f"[red]invalid settings:[/red] {exc}")
        raise typer.Exit(2) from exc
