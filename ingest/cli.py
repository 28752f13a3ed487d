"""`vigil ingest …`: run an ingest worker, benchmark the pipeline."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="Ingest: the gateways' stream into TimescaleDB and the detectors.", no_args_is_help=True
)
err = Console(stderr=True)


@app.command("run")
def run(
    partition: Annotated[
        str, typer.Option(help="this worker's share of the sites, INDEX/COUNT (docs/ingest.md)")
    ] = "0/1",
    client_prefix: Annotated[
        str, typer.Option(help="MQTT client id prefix; the id must be stable across restarts")
    ] = "vigil-ingest",
    metrics_port: Annotated[
        int | None,
        typer.Option(help="serve /metrics and /healthz here (0: off); default VIGIL_METRICS_PORT"),
    ] = None,
) -> None:
    """Run one ingest worker until SIGINT or SIGTERM."""
    from ingest.errors import IngestError
    from ingest.partition import Partition
    from ingest.service import IngestOptions, IngestService
    from vigil.observability import configure_logging
    from vigil.settings import get_settings

    try:
        settings = get_settings()
        configure_logging("ingest", settings.log_level)
        options = IngestOptions(Partition.parse(partition), client_prefix, metrics_port)
        service = IngestService(settings, options)
    except (IngestError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        service.run(stop)
    except IngestError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
