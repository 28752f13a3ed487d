"""`vigil ingest …`: run an ingest worker, benchmark the pipeline."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from detectors.stage import DetectorStage
    from ingest.partition import Partition
    from vigil.settings import Settings

app = typer.Typer(
    help="Ingest: the gateways' stream into TimescaleDB and the detectors.", no_args_is_help=True
)
err = Console(stderr=True)


@app.command("run")
def run(  # noqa: PLR0917 - typer reads the options from the signature
    partition: Annotated[
        str | None,
        typer.Option(help="a fixed share of the sites, INDEX/COUNT (docs/ingest.md); default 0/1"),
    ] = None,
    partitions: Annotated[
        int | None,
        typer.Option(
            help="claiming mode: split the sites into this many partitions and run those this "
            "worker claims, taking over a stopped worker's (docs/ingest.md, Scale-out)"
        ),
    ] = None,
    claim_interval: Annotated[
        float, typer.Option(help="claiming mode: seconds between looks at the claims")
    ] = 1.0,
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
    from vigil.observability import configure_logging
    from vigil.settings import get_settings

    if partition is not None and partitions is not None:
        err.print("[red]error:[/red] --partition and --partitions exclude each other")
        raise typer.Exit(2)
    stop = threading.Event()
    try:
        settings = get_settings()
        configure_logging("ingest", settings.log_level)
        if partitions is not None:
            worker = claiming_worker(
                settings, partitions, claim_interval, client_prefix, metrics_port, detect=detect
            )
        else:
            worker = static_worker(
                settings, partition or "0/1", client_prefix, metrics_port, detect=detect
            )
    except (IngestError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        worker(stop)
    except IngestError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc


def static_worker(
    settings: Settings,
    partition: str,
    client_prefix: str,
    metrics_port: int | None,
    *,
    detect: bool,
) -> Callable[[threading.Event], None]:
    """One IngestService for a fixed partition, its detector stage around it."""
    from ingest.partition import Partition
    from ingest.service import IngestOptions, IngestService

    options = IngestOptions(Partition.parse(partition), client_prefix, metrics_port)
    stage = detector_stage(settings, client_prefix, options.partition) if detect else None
    service = IngestService(settings, options, sink=stage)

    def work(stop: threading.Event) -> None:
        if stage is not None:
            stage.start()
        try:
            service.run(stop)
        finally:
            if stage is not None:
                stage.stop()

    return work


def claiming_worker(
    settings: Settings,
    partitions: int,
    interval_s: float,
    client_prefix: str,
    metrics_port: int | None,
    *,
    detect: bool,
) -> Callable[[threading.Event], None]:
    """A pool claiming partitions, one detector stage per partition it runs."""
    from ingest.pool import Pool

    def stages(partition: Partition) -> DetectorStage:
        return detector_stage(settings, client_prefix, partition)

    pool = Pool(
        settings,
        partitions,
        client_prefix,
        stages=stages if detect else None,
        interval_s=interval_s,
        metrics_port=metrics_port,
    )
    return pool.run


def detector_stage(settings: Settings, client_prefix: str, partition: Partition) -> DetectorStage:
    """The detectors behind one partition: its sites' devices, its state file (whoever runs
    the partition loads it), and its sites' gateway status."""
    from detectors.stage import DetectorStage, StatusBroker, state_path_for
    from vigil.db.connect import database_url

    port = settings.mqtt_port if settings.mqtt_port is not None else settings.stack_mqtt_port
    tag = f"{partition.index}of{partition.count}"
    broker = StatusBroker(
        settings.mqtt_host,
        port,
        settings.mqtt_username,
        settings.mqtt_password.get_secret_value(),
        client_id=f"{client_prefix}-detectors-{tag}",
        max_future_s=settings.ingest_max_future_s,
    )
    return DetectorStage(
        database_url(settings),
        state_path_for(settings.var_dir, tag),
        broker,
        checkpoint_s=settings.detectors_checkpoint_s,
        partition=partition,
    )
