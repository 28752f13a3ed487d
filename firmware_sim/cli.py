"""`vigil sim`: play a simulated district against gateways, or one scenario to CSV files."""

from __future__ import annotations

import contextlib
import re
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from firmware_sim.district import District, build_district, seed
from firmware_sim.gateways import GatewayFleet
from firmware_sim.link import GatewayLink, LinkError, socket_path
from firmware_sim.runner import UPLINK_LOSS, Opening, RunConfig, Runner, RunStats, UplinkSwitch
from firmware_sim.scenarios import SCENARIOS, play, to_replay_csv
from firmware_sim.uplink import UplinkSwitchboard
from vigil.codec import Encoding
from vigil.db.connect import database_url
from vigil.errors import VigilError
from vigil.settings import Settings, get_settings

app = typer.Typer(
    help="The district simulator: devices behaving like firmware.", no_args_is_help=True
)
out = Console()
err = Console(stderr=True)

FLAKY_EVERY = 10  # gateways 1, 11, 21...: their uplink runs through a cuttable proxy
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds from '90', '90s', '15m', '2h' or '1.5d'."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if m is None or float(m.group(1)) <= 0:
        raise typer.BadParameter(f"{text!r} is not a positive duration like 90, 15m, 2h or 1d")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _settings() -> Settings:
    try:
        return get_settings()
    except ValueError as exc:
        raise _fail(f"invalid settings: {exc}", 2) from exc


def _register(settings: Settings, district: District) -> None:
    try:
        with psycopg.connect(database_url(settings), connect_timeout=5) as conn:
            added = seed(conn, district)
    except psycopg.Error as exc:
        raise _fail(
            f"cannot register the district in the database ({exc}); start the stack with "
            "`vigil stack up` and `vigil db migrate`, or pass --no-register"
        ) from exc
    new = ", ".join(f"{n} {t}" for t, n in added.items() if n)
    out.print(f"registry: {new or 'already up to date'}")


@contextlib.contextmanager
def _gateways(
    settings: Settings, district: District, fleet: GatewayFleet | None, uplink_loss: bool
) -> Iterator[tuple[dict[str, GatewayLink], dict[str, UplinkSwitch]]]:
    """Links to every gateway; with a fleet, its processes are started first and stopped after."""
    board: UplinkSwitchboard | None = None
    switches: dict[str, UplinkSwitch] = {}
    links = {
        g.id: GatewayLink(g.id, socket_path(settings.var_dir, g.id)) for g in district.gateways
    }
    try:
        if fleet is not None:
            if uplink_loss:
                broker_port = settings.mqtt_port or settings.stack_mqtt_port
                board = UplinkSwitchboard(settings.mqtt_host, broker_port)
                board.start()
            for i, g in enumerate(district.gateways):
                port = None
                if board is not None and i % FLAKY_EVERY == 0:
                    port = board.add(g.id)
                    switches[g.id] = board.switch(g.id)
                fleet.start(g.id, g.site_id, port)
        for link in links.values():
            try:
                link.connect(timeout_s=30.0 if fleet is not None else 2.0)
            except LinkError:
                if fleet is not None:
                    fleet.check()
                raise
        yield links, switches
    finally:
        for link in links.values():
            link.close()
        if fleet is not None:
            fleet.stop()
        if board is not None:
            board.close()


def _print_stats(stats: RunStats, truth: Path) -> None:
    out.print(
        f"played {stats.sim_s:.0f} s of district time in {stats.wall_s:.1f} s: "
        f"{stats.frames} frames, {stats.readings} readings "
        f"({stats.readings_per_s:.0f} readings/s), {stats.bytes / 1e6:.1f} MB"
    )
    if stats.max_late_s > 1.0:
        out.print(f"[yellow]fell behind the clock by up to {stats.max_late_s:.1f} s[/yellow]")
    played = ", ".join(f"{n} ×{c}" for n, c in sorted(stats.scenarios.items())) or "none"
    out.print(f"scenarios: {played}; ground truth in {truth}")


@app.command("run")
def run(  # noqa: PLR0917 (typer: one parameter per option)
    gateways: Annotated[int, typer.Option("--gateways", "-g", min=1, max=9999)] = 2,
    devices_per_gateway: Annotated[int, typer.Option("--devices-per-gateway", "-d", min=1)] = 50,
    speed: Annotated[
        float, typer.Option(min=0.0, help="simulated seconds per second; 0 = as fast as possible")
    ] = 1.0,
    seed_: Annotated[int, typer.Option("--seed", min=0)] = 1,
    duration: Annotated[
        str | None,
        typer.Option(help="simulated time to play: 90, 15m, 2h, 1d; unset = until Ctrl-C"),
    ] = None,
    truth: Annotated[
        Path | None, typer.Option(help="ground-truth JSONL (default var/sim/truth-SEED.jsonl)")
    ] = None,
    scenario: Annotated[
        list[str] | None, typer.Option("--scenario", help="scenario to inject (repeatable)")
    ] = None,
    scenarios_per_hour: Annotated[float, typer.Option(min=0.0, help="per simulated hour")] = 6.0,
    opening: Annotated[
        list[str] | None,
        typer.Option(
            "--opening",
            help="NAME:PRE_ROLL_S[:SEED]: started with the run, its onset PRE_ROLL_S in "
            "(repeatable)",
        ),
    ] = None,
    pre_roll: Annotated[
        float | None,
        typer.Option(
            "--pre-roll", min=0.0, help="seconds of ordinary readings before a scenario's onset"
        ),
    ] = None,
    no_gateways: Annotated[
        bool, typer.Option("--no-gateways", help="use gateways already listening on their sockets")
    ] = False,
    encoding: Annotated[
        Encoding, typer.Option(help="what the started gateways publish")
    ] = Encoding.MSGPACK,
    frame_encoding: Annotated[
        Encoding, typer.Option(help="device frames on the sockets")
    ] = Encoding.MSGPACK,
    register: Annotated[
        bool, typer.Option(help="write the district to the registry tables first")
    ] = True,
) -> None:
    """Play a district: G gateways with D devices each, and scenarios in their households."""
    settings = _settings()
    try:
        config = RunConfig(
            seed=seed_,
            speed=speed,
            duration_s=parse_duration(duration) if duration is not None else None,
            scenarios=tuple(scenario) if scenario else tuple(SCENARIOS),
            scenarios_per_hour=scenarios_per_hour,
            encoding=frame_encoding,
            opening=tuple(Opening.parse(o) for o in opening or ()),
            pre_roll_s=pre_roll,
        )
    except ValueError as exc:
        raise _fail(str(exc), 2) from exc
    district = build_district(seed_, gateways, devices_per_gateway)
    if register:
        _register(settings, district)
    truth_path = truth or settings.var_dir / "sim" / f"truth-{seed_}.jsonl"
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    uplink_loss = UPLINK_LOSS in config.scenarios and not no_gateways
    try:
        fleet = None if no_gateways else GatewayFleet(settings, encoding)
        with (
            _gateways(settings, district, fleet, uplink_loss) as (links, switches),
            truth_path.open("a", encoding="utf-8") as truth_file,
        ):
            out.print(
                f"district: {len(district.gateways)} gateways, {len(district.devices)} devices, "
                f"{len(district.households)} households; speed {speed:g}; Ctrl-C stops"
            )
            stats = Runner(district, config, links, truth_file, switches).run(stop)
    except (VigilError, OSError) as exc:
        raise _fail(str(exc)) from exc
    _print_stats(stats, truth_path)


@app.command("scenarios")
def scenarios() -> None:
    """The scenario library, with the ground truth each scenario carries."""
    table = Table("name", "class", "expected alerts", "forbidden signals", "description")
    for s in SCENARIOS.values():
        table.add_row(
            s.name,
            s.klass,
            ", ".join(sorted(s.expected_kinds)) or "-",
            ", ".join(sorted(s.forbidden_signals)) or "-",
            s.description,
        )
    out.print(table)


@app.command("play")
def play_one(
    name: Annotated[str, typer.Argument(help="scenario name (see `vigil sim scenarios`)")],
    out_dir: Annotated[Path, typer.Option("--out", help="directory for devices.csv, readings.csv")],
    seed_: Annotated[int, typer.Option("--seed", min=0)] = 1,
    t0: Annotated[float, typer.Option(help="epoch seconds of the scenario's start")] = 0.0,
) -> None:
    """Write one scenario as the two CSV files of `vigil detect replay`."""
    try:
        run_ = play(name, seed_, t0)
    except ValueError as exc:
        raise _fail(str(exc), 2) from exc
    out_dir.mkdir(parents=True, exist_ok=True)
    to_replay_csv(run_, out_dir / "devices.csv", out_dir / "readings.csv")
    t = run_.truth
    onset = "none" if t.onset_ts is None else f"{t.onset_ts - t0:.0f} s"
    out.print(
        f"{name} (seed {seed_}): {run_.ts.size} rows from {len(run_.devices)} devices, "
        f"onset {onset}, expected {sorted(t.expected_kinds)} -> {out_dir}"
    )
