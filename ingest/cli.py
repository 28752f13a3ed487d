"""`vigil ingest …`: run an ingest worker, benchmark the pipeline."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from detectors.stage import DetectorStage
    from ingest.service import IngestOptions
    from vigil.settings import Settings

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
    detect: Annotated[
        bool, typer.Option("--detect/--no-detect", help="run the detector stage in this worker")
    ] = True,
) -> None:
    """Run one ingest worker (with the detector stage) until SIGINT or SIGTERM."""
    from ingest.errors import IngestError
    from ingest.partition import Partition
    from ingest.service import IngestOptions, IngestService
    from vigil.observability import configure_logging
    from vigil.settings import get_settings

    try:
        settings = get_settings()
        configure_logging("ingest", settings.log_level)
        options = IngestOptions(Partition.parse(partition), client_prefix, metrics_port)
        stage = detector_stage(settings, options) if detect else None
        service = IngestService(settings, options, sink=stage)
    except (IngestError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if stage is not None:
        stage.start()
    try:
        service.run(stop)
    except IngestError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    finally:
        if stage is not None:
            stage.stop()


def detector_stage(settings: Settings, options: IngestOptions) -> DetectorStage:
    """The detectors behind this worker, with their state file and the gateways' status."""
    from detectors.stage import DetectorStage, StatusBroker, state_path_for
    from vigil.db.connect import database_url

    port = settings.mqtt_port if settings.mqtt_port is not None else settings.stack_mqtt_port
    tag = str(options.partition).replace("/", "of")
    broker = StatusBroker(
        settings.mqtt_host,
        port,
        settings.mqtt_username,
        settings.mqtt_password.get_secret_value(),
        client_id=f"{options.client_prefix}-detectors-{tag}",
    )
    return DetectorStage(
        database_url(settings),
        state_path_for(settings.var_dir, tag),
        broker,
        checkpoint_s=settings.detectors_checkpoint_s,
        partition=options.partition,
    )
