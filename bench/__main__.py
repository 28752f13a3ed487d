"""`python -m bench` (`make bench`): every benchmark, one after the other, figures written into
docs/performance.md."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bench.report import (
    Machine,
    Outcome,
    Previous,
    render,
    run_bench,
    select,
    with_floor,
    write_section,
)
from vigil.settings import REPO_ROOT

app = typer.Typer(add_completion=False)
out = Console()
err = Console(stderr=True)


@app.command()
def bench(
    only: Annotated[
        list[str] | None, typer.Option("--only", help="run just these (e.g. ingest, latency)")
    ] = None,
    doc: Annotated[Path, typer.Option(help="the document whose generated part is rewritten")] = (
        REPO_ROOT / "docs" / "performance.md"
    ),
) -> None:
    """Run every benchmark, one after the other, and write their figures into `doc`.

    With --only the figures are printed, not written: the document's section is one whole run.
    """
    try:
        benches = select(only or [])
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    load_before = os.getloadavg()[0]
    outcomes: list[Outcome] = []
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=err
    ) as progress:
        task = progress.add_task("benchmarks", total=len(benches))
        for b in benches:
            progress.update(task, description=f"bench-{b.name}")

            def show(line: str, name: str = b.name) -> None:
                progress.update(task, description=f"bench-{name}: {line[:60]}")

            outcome = run_bench(with_floor(b, outcomes), REPO_ROOT / "var" / "bench", show)
            outcomes.append(outcome)
            status = "[green]ok[/green]" if outcome.error is None else f"[red]{outcome.error}[/red]"
            progress.console.print(f"bench-{b.name}: {status} ({outcome.seconds:.0f} s)")
            progress.advance(task)
    previous = Previous.of(doc.read_text()) if doc.exists() else None
    section = render(outcomes, Machine.now(REPO_ROOT, load_before), previous)
    if only:
        typer.echo(section)
    else:
        write_section(doc, section)
        out.print(f"figures written to {doc}")
    if any(o.error for o in outcomes):
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
