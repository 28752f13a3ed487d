"""`vigil detect`: replay recorded readings through the detectors, and evaluate them.

The detectors (numba) are imported inside the commands so other `vigil` commands start fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from detectors import evaluate
    from detectors.policy import Policy

app = typer.Typer(
    help="Detectors: replay readings, evaluate against ground truth.", no_args_is_help=True
)
out = Console(width=None if sys.stdout.isatty() else 150)
err = Console(stderr=True)

PolicyOption = Annotated[
    Path | None, typer.Option("--policy", help="policy file (default: the bundled policy.toml)")
]


def _policy(path: Path | None) -> Policy:
    from detectors.errors import DetectorError
    from detectors.policy import Policy

    try:
        return Policy.load(path)
    except DetectorError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc


@app.command("replay")
def replay_cmd(  # noqa: PLR0917 - typer reads the options from the signature
    devices: Annotated[
        Path,
        typer.Option(
            "--devices",
            help="devices.csv: device_id,type,household_id,room[,building_id,gateway_id]",
        ),
    ],
    readings: Annotated[
        Path,
        typer.Option(
            "--readings",
            help="readings.csv: ts,device_id,metric,value (replayed in time order; ts in "
            "epoch seconds, ms, us or ns, or ISO 8601, with no zone the household's local clock)",
        ),
    ],
    out_path: Annotated[
        Path | None, typer.Option("--out", help="alerts.jsonl (default: stdout)")
    ] = None,
    policy: PolicyOption = None,
    clock: Annotated[
        str,
        typer.Option(
            "--clock",
            help="auto: a household whose longest silences centre by day is read at the offset "
            "that puts them at night (a local clock written as UTC); as-is: the policy's "
            "utc_offset_h for every household",
        ),
    ] = "auto",
    supervision: Annotated[
        str,
        typer.Option(
            "--supervision",
            help="auto: supervise (offline alerts) only the devices whose file shows heartbeats; "
            "a device silent past its heartbeat allowance for a quarter of its recording reports "
            "only when used; on: every device; off: none",
        ),
    ] = "auto",
    run_on_h: Annotated[
        float,
        typer.Option(
            "--run-on-h",
            help="keep the clock running this many hours past the last reading, for checks due "
            "after a recording ends (a collapse cut into it); 0 to 168",
        ),
    ] = 0.0,
) -> None:
    """Play readings through the detectors; print one JSON alert per line."""
    from detectors.errors import DetectorError
    from detectors.replay import MAX_RUN_ON_S, SUPERVISION, replay, write_jsonl

    if clock not in ("auto", "as-is"):
        err.print(f"[red]error:[/red] --clock must be auto or as-is, not {clock!r}")
        raise typer.Exit(2)
    if supervision not in SUPERVISION:
        err.print(
            f"[red]error:[/red] --supervision must be {', '.join(SUPERVISION)}, not {supervision!r}"
        )
        raise typer.Exit(2)
    if not 0.0 <= run_on_h * 3600.0 <= MAX_RUN_ON_S:
        err.print(
            f"[red]error:[/red] --run-on-h must be 0 to {MAX_RUN_ON_S / 3600.0:g} hours, "
            f"not {run_on_h:g}"
        )
        raise typer.Exit(2)
    pol = _policy(policy)
    try:
        result = replay(
            devices,
            readings,
            pol,
            fix_clock=clock == "auto",
            supervision=supervision,
            run_on_s=run_on_h * 3600.0,
        )
    except DetectorError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if result.out_of_order is not None:
        rows, first = result.out_of_order
        err.print(
            f"{readings}：{rows} 条读数早于其前面的读数（第一条是第 {first} 条），按时间顺序回放 / "
            f"{rows} readings are earlier than one before them (the first is reading {first}); "
            "replayed in time order"
        )
    for fix in result.clock_fixes:
        err.print(
            f"户 {fix.household_id}：最长的静默集中在 {fix.sleep_centre_h:04.1f} 时（白天），"
            f"按 UTC{fix.utc_offset_h:+g} 读取时钟 / household {fix.household_id}: its longest "
            f"silences centre at {fix.sleep_centre_h:.1f} h, by day; its clock is read at "
            f"UTC{fix.utc_offset_h:+g} ({fix.correction_h:+d} h; --clock as-is keeps it)"
        )
    if result.unsupervised and supervision == "auto":
        n = len(result.unsupervised)
        err.print(
            f"{n} 个设备在记录中没有心跳（只在使用时上报），回放不监测其离线 / {n} devices show no "
            f"heartbeats in the recording (they report only when used) and are not supervised "
            f"(first: {', '.join(result.unsupervised[:3])}; --supervision on supervises them)"
        )
    alerts = result.alerts
    if out_path is None:
        write_jsonl(alerts, sys.stdout)
    else:
        with out_path.open("w", encoding="utf-8") as fh:
            write_jsonl(alerts, fh)
        err.print(f"{len(alerts)} alerts written to {out_path}")


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}"


def _class_table(rows: list[evaluate.ClassRow]) -> Table:
    table = Table(
        "class",
        "runs",
        "detected",
        "false/1000 dev-days",
        "TTA median s",
        "TTA p95 s",
        "fixed: detected",
        "fixed: false/1000",
        "fixed: TTA median s",
        title="Detection by scenario class (ours vs plain fixed threshold)",
    )
    for r in rows:
        table.add_row(
            r.klass,
            str(r.runs),
            "-" if r.detection_rate is None else f"{100 * r.detection_rate:.0f} %",
            _fmt(r.false_per_1000_device_days, 1),
            _fmt(r.tta_median),
            _fmt(r.tta_p95),
            "-" if r.fixed_detection_rate is None else f"{100 * r.fixed_detection_rate:.0f} %",
            _fmt(r.fixed_false_per_1000_device_days, 1),
            _fmt(r.fixed_tta_median),
        )
    return table


def _nist_table(results: list[evaluate.NistResult]) -> Table:
    table = Table(
        "test",
        "loc",
        "ours (networked) s",
        "ours (standalone) s",
        "fixed s",
        "commercial photoelectric s",
        "verdict",
        title="NIST TN 1455 fire tests: time to alarm from ignition",
    )
    for r in results:
        bar = r.bar
        if not r.has_smoke_meter or bar is None:
            verdict = "no smoke meter" if not r.has_smoke_meter else "no commercial alarm"
        else:
            verdict = "ok" if r.networked is not None and r.networked <= bar else "LATE"
        pho = ", ".join(f"{k} {v:.0f}" for k, v in sorted(r.photoelectric.items())) or "-"
        table.add_row(
            r.test, r.location, _fmt(r.networked), _fmt(r.standalone), _fmt(r.fixed), pho, verdict
        )
    return table


def _nuisance_table(results: list[evaluate.NuisanceResult]) -> Table:
    table = Table(
        "case",
        "room",
        "runs",
        "alarmed",
        "first alarm s",
        "obscuration at alarm %/m",
        "peak %/m (median)",
        "rules",
        "fixed: alarmed",
        title="Nuisance sources (cooking, steam, candles): alarms through the same engine",
    )
    for case in sorted({r.case for r in results}):
        group = [r for r in results if r.case == case]
        hit = [r for r in group if r.alarmed]
        times = [r.time for r in hit if r.time is not None]
        levels = [r.obscuration for r in hit if r.obscuration is not None]
        table.add_row(
            case,
            group[0].room,
            str(len(group)),
            str(len(hit)),
            _fmt(min(times) if times else None),
            _fmt(min(levels) if levels else None, 2),
            f"{sorted(r.peak for r in group)[len(group) // 2]:.1f}",
            ", ".join(sorted({r.rule for r in hit if r.rule})) or "-",
            str(sum(r.fixed_obscuration is not None for r in group)),
        )
    return table


@app.command("eval")
def eval_cmd(
    policy: PolicyOption = None,
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="runs per scenario")] = 10,
    details: Annotated[bool, typer.Option("--details", help="one line per scenario run")] = False,
    routines: Annotated[
        bool, typer.Option("--routines", help="wellness checks on generated households instead")
    ] = False,
    first_seed: Annotated[
        int, typer.Option("--first-seed", min=1, help="--routines: households from this seed on")
    ] = 1,
) -> None:
    """Run the NIST fire tests and the scenario library; exit 1 if a requirement fails."""
    from detectors import evaluate

    pol = _policy(policy)
    if routines:
        from detectors.routines_cli import run_routines

        chosen = tuple(range(first_seed, first_seed + min(seeds, 3)))
        raise typer.Exit(run_routines(out, pol, seeds=chosen, details=details))
    nist_results = evaluate.eval_nist(pol)
    out.print(_nist_table(nist_results))
    library = evaluate.scenario_library()
    scenario_results = None
    rows = [evaluate.nist_row(nist_results)]
    if library is None:
        out.print("[yellow]scenario library (firmware_sim.scenarios) not available: NIST only[/]")
    else:
        scenario_results = evaluate.eval_scenarios(pol, library, tuple(range(1, seeds + 1)))
        rows += evaluate.summarize(scenario_results)
        if details:
            table = Table(
                "scenario",
                "class",
                "seed",
                "detected",
                "TTA s",
                "false alarms",
                "fixed TTA s",
                "alert kinds",
            )
            for r in scenario_results:
                table.add_row(
                    r.name,
                    r.klass,
                    str(r.seed),
                    "-" if r.detected is None else str(r.detected),
                    _fmt(r.time_to_alert),
                    str(r.false_alarms),
                    _fmt(r.fixed_time_to_alarm),
                    ", ".join(r.first_alerts),
                )
            out.print(table)
    out.print(_class_table(rows))
    nuisance_results = evaluate.eval_nuisance(pol, tuple(range(1, seeds + 1)))
    out.print(_nuisance_table(nuisance_results))
    failed = False
    reqs = evaluate.requirements(nist_results, scenario_results)
    for req in reqs + evaluate.nuisance_requirements(nuisance_results):
        mark = "[green]PASS[/]" if req.passed else "[red]FAIL[/]"
        out.print(f"{mark} {req.name}: {req.detail}")
        failed = failed or not req.passed
    if failed:
        raise typer.Exit(1)
