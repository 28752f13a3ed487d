"""`vigil alerting ...` and `vigil notifier ...`: the incident service, its web app, the
outbox worker, policy checks and the monthly responder report."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from alerting.errors import EscalationConfigError
from alerting.escalation import load_policy
from alerting.policies import PolicyBook
from vigil.command_line import settings_or_exit
from vigil.db.connect import database_url
from vigil.observability import (
    ALERTING,
    NOTIFIER,
    Health,
    Heartbeat,
    MetricGroup,
    configure_logging,
    serve,
)
from vigil.settings import Settings

alerting_app = typer.Typer(help="Incidents, escalation, the live stream.", no_args_is_help=True)
notifier_app = typer.Typer(help="The notification outbox worker.", no_args_is_help=True)

out = Console()
err = Console(stderr=True)


def _observe(settings: Settings, service: str, loop: Heartbeat, group: MetricGroup) -> None:
    """JSON logs, and /metrics + /healthz when VIGIL_METRICS_PORT is set."""
    configure_logging(service, settings.log_level)
    serve(settings, Health(service, {"loop": loop.check}), group)


def _book(settings: Settings) -> PolicyBook:
    book = PolicyBook(settings.escalation_dir)
    try:
        book.check_all()
    except EscalationConfigError as exc:
        err.print(f"[red]escalation policy:[/red] {exc}")
        raise typer.Exit(2) from exc
    return book


@alerting_app.command("run")
def alerting_run() -> None:
    """Turn alerts into incidents and fire escalation timers until stopped (SIGTERM/Ctrl-C)."""
    from alerting.service import run

    settings = settings_or_exit()
    book = _book(settings)
    loop = Heartbeat("alerting loop", max_age_s=30)
    _observe(settings, "alerting", loop, ALERTING)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    run(database_url(settings), book, stop, loop)


@alerting_app.command("check-policy")
def check_policy(path: Annotated[Path, typer.Argument(help="an escalation TOML file")]) -> None:
    """Validate an escalation policy file and show its tiers and deadlines."""
    try:
        policy = load_policy(path)
    except EscalationConfigError as exc:
        err.print(f"[red]invalid:[/red] {exc}")
        raise typer.Exit(1) from exc
    table = Table("severity", "acknowledge s", "dispatch s", "arrive s", "starts at")
    for severity, d in sorted(policy.deadlines.items()):
        table.add_row(
            str(severity),
            f"{d.acknowledge.total_seconds():g}",
            f"{d.dispatch.total_seconds():g}",
            f"{d.arrive.total_seconds():g}",
            policy.tiers[d.start_tier].name,
        )
    out.print(f"district {policy.district}: tiers " + " → ".join(t.name for t in policy.tiers))
    out.print(table)


@alerting_app.command("report")
def alerting_report(
    month: Annotated[str, typer.Option(help="YYYY-MM")],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
) -> None:
    """The monthly responder scores, per grid member and per department."""
    from alerting.scoring import month_bounds, report

    settings = settings_or_exit()
    try:
        start, end = month_bounds(month)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    with psycopg.connect(database_url(settings), autocommit=True) as conn:
        result = report(conn, start=start, end=end)
    if as_json:
        typer.echo(json.dumps(result.to_json()))
        return
    for title, scores in (("grid members", result.responders), ("departments", result.departments)):
        table = Table(title=f"{title}, {month}")
        for column in (
            "name",
            "incidents",
            "ack p50 s",
            "arrive p50 s",
            "resolved",
            "false alarms",
            "escalations",
        ):
            table.add_column(column)
        for s in scores:
            table.add_row(
                s.name,
                str(s.incidents),
                str(s.ack_p50_s),
                str(s.arrive_p50_s),
                str(s.resolution_rate),
                str(s.false_alarm_rate),
                str(s.escalations),
            )
        out.print(table)


@notifier_app.command("run")
def notifier_run() -> None:
    """Deliver notifications from the outbox until stopped (SIGTERM/Ctrl-C)."""
    from alerting.notifier import Notifier, notification_backoff
    from alerting.sms.factory import make_provider, make_voice
    from alerting.wecom import WeComRobot

    settings = settings_or_exit()
    loop = Heartbeat("notifier loop", max_age_s=30)
    _observe(settings, "notifier", loop, NOTIFIER)
    dsn = database_url(settings)
    backoff = notification_backoff(
        maximum=max(1.0, settings.sms_retry_cap_s),
        give_up_after=settings.sms_give_up_hours * 3600,
    )
    notifier = Notifier(
        dsn,
        make_provider(settings, dsn),
        backoff=backoff,
        heartbeat=loop,
        lease=timedelta(seconds=settings.notifier_lease_s),
        voice=make_voice(settings, dsn),
        robot=WeComRobot(settings.wecom_url),
        vapid=(settings.vapid_private_key.get_secret_value(), settings.vapid_subject)
        if settings.vapid_private_key.get_secret_value()
        else None,
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await notifier.run(stop)

    asyncio.run(main())
