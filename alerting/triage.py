"""Detector alerts into incidents: open one per household and cause, or join the open one.

Alerts arrive as `alerts` rows with no incident, announced by `pg_notify('vigil_alert', id)`.
A batch is claimed with `for update skip locked`, so several alerting services share the work
and none handles an alert twice; each alert gets a savepoint, so one bad alert is marked with
its error and the rest go on.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerting import notify, restoral, store, words
from alerting.correlate import BOARD_ONLY_KINDS, COMMENT_KINDS, board_only, cause_of, join
from alerting.escalation import Policy, tiers_to_notify
from alerting.lifecycle import open_incident
from alerting.policies import PolicyBook
from alerting.store import INCIDENT_COLUMNS, OPEN_SQL, IncidentRow
from alerting.templates import Place
from alerting.voice import calls
from vigil.db.connect import Conn
from vigil.observability import ALERTING_ALERTS_CLAIMED_TOTAL, observe_hop

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Household:
    id: str
    grid_id: str | None
    district: str | None


def _epoch(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float) and not math.isnan(value):
        return float(value)
    return None


def hops_of(alert: dict[str, Any]) -> dict[str, float]:
    """Per-hop times (epoch s) carried by the alert: device, gateway, ingest, detector."""
    evidence = alert.get("evidence") or {}
    found = {
        "device": _epoch(alert.get("ts")),
        "gateway": _epoch(evidence.get("gateway_ts", evidence.get("rx"))),
        "ingest": _epoch(alert.get("received_at")),
        "detector": _epoch(alert.get("decided_at")),
    }
    return {k: round(v, 6) for k, v in found.items() if v is not None}


def triage_pending(conn: Conn, book: PolicyBook, *, now: datetime, limit: int = 50) -> list[int]:
    """Claim and handle up to `limit` new alerts; returns the incidents they changed."""
    return triage_batch(conn, book, now=now, limit=limit)[1]


def triage_batch(
    conn: Conn, book: PolicyBook, *, now: datetime, limit: int = 50
) -> tuple[int, list[int]]:
    """Like `triage_pending`, also saying how many alerts it claimed (`limit`: maybe more)."""
    changed: set[int] = set()
    opened: list[dict[str, float]] = []
    with conn.transaction():
        with conn.cursor(row_factory=dict_row) as cur:
            alerts = cur.execute(
                "select id, device_id, household_id, kind, signal, severity, score, reason, "
                "evidence, ts, received_at, decided_at from alerts "
                "where incident_id is null and triaged_at is null "
                "order by id limit %s for update skip locked",
                (limit,),
            ).fetchall()
        for alert in alerts:
            try:
                with conn.transaction():
                    incident_id = _triage_one(conn, book, alert, now, opened)
            except (psycopg.Error, ValueError, KeyError) as exc:
                log.exception("alert %s could not be handled", alert["id"])
                _mark(conn, alert["id"], None, now, error=f"{type(exc).__name__}: {exc}")
                continue
            if incident_id is not None:
                changed.add(incident_id)
        if changed:
            conn.execute(
                "update incidents set hops = hops || jsonb_build_object('committed', "
                "extract(epoch from clock_timestamp())::float8) "
                "where id = any(%s) and not hops ? 'committed'",
                (sorted(changed),),
            )
            store.announce(conn, changed, outbox=True)
    ALERTING_ALERTS_CLAIMED_TOTAL.inc(len(alerts))
    _observe_hops(opened, time.time())
    return len(alerts), sorted(changed)


def _observe_hops(opened: list[dict[str, float]], committed: float) -> None:
    for hops in opened:
        pairs = (
            ("device_to_gateway", "device", "gateway"),
            ("gateway_to_ingest", "gateway", "ingest"),
            ("commit_to_alert", "ingest", "detector"),
        )
        for hop, start, end in pairs:
            if start in hops and end in hops:
                observe_hop(hop, hops[end] - hops[start])
        if "detector" in hops:
            observe_hop("alert_to_incident", committed - hops["detector"])


def _mark(
    conn: Conn, alert_id: int, incident_id: int | None, now: datetime, error: str | None = None
) -> None:
    conn.execute(
        "update alerts set incident_id = %s, triaged_at = %s, triage_error = %s where id = %s",
        (incident_id, now, error, alert_id),
    )


def _household(conn: Conn, household_id: str | None) -> Household | None:
    if household_id is None:
        return None
    found = conn.execute(
        "select h.id, b.grid_id, s.district from households h "
        "join buildings b on b.id = h.building_id join grids g on g.id = b.grid_id "
        "join sites s on s.id = g.site_id where h.id = %s",
        (household_id,),
    ).fetchone()
    return Household(*found) if found else None


def _find_open(
    conn: Conn, household: Household | None, cause: str, device: str
) -> IncidentRow | None:
    with conn.cursor(row_factory=dict_row) as cur:
        if household is not None:
            row = cur.execute(
                f"select {INCIDENT_COLUMNS} from incidents where household_id = %s "  # noqa: S608
                f"and cause = %s and {OPEN_SQL} for update",
                (household.id, cause),
            ).fetchone()
        else:
            row = cur.execute(
                f"select {INCIDENT_COLUMNS} from incidents i where household_id is null "  # noqa: S608
                f"and cause = %s and {OPEN_SQL} and exists (select 1 from alerts a "
                f"where a.incident_id = i.id and a.device_id = %s) for update",
                (cause, device),
            ).fetchone()
    return IncidentRow.from_db(row) if row else None


def _triage_one(
    conn: Conn,
    book: PolicyBook,
    alert: dict[str, Any],
    now: datetime,
    opened: list[dict[str, float]],
) -> int | None:
    cause = cause_of(alert["kind"])
    household = _household(conn, alert["household_id"])
    existing = _find_open(conn, household, cause, alert["device_id"])
    if restoral.is_restoral(alert):
        return restoral.apply(conn, book, alert, existing, now)
    if existing is None and alert["kind"] in COMMENT_KINDS:
        _mark(conn, alert["id"], None, now)  # a cancel with nothing to cancel
        return None
    if existing is None:
        try:
            with conn.transaction():
                row = _open(conn, book=book, alert=alert, household=household, cause=cause, now=now)
            opened.append(row.hops)
        except psycopg.errors.UniqueViolation:
            # Another service opened it a moment ago: join that one instead.
            existing = _find_open(conn, household, cause, alert["device_id"])
            if existing is None:
                raise
            row = _join(conn, book, alert, existing, now)
    else:
        row = _join(conn, book, alert, existing, now)
    _mark(conn, alert["id"], row.id, now)
    return row.id


def _source(alert: dict[str, Any]) -> str:
    return f"{alert['device_id']}:{alert['kind']}"


def _open(
    conn: Conn,
    *,
    book: PolicyBook,
    alert: dict[str, Any],
    household: Household | None,
    cause: str,
    now: datetime,
) -> IncidentRow:
    district = household.district if household else None
    policy = book.for_district(district)
    severity = int(alert["severity"])
    tier = policy.start_tier(cause, severity)
    fresh = open_incident(cause=cause, severity=severity, tier=tier, now=now)
    with conn.cursor(row_factory=dict_row) as cur:
        created = cur.execute(
            f"insert into incidents (household_id, cause, signal, severity, state, opened_at, "  # noqa: S608
            f"updated_at, escalation_tier, hops, grid_id, district, stage_started_at, sources) "
            f"values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            f"returning {INCIDENT_COLUMNS}",
            (
                household.id if household else None,
                cause,
                alert["signal"],
                severity,
                str(fresh.state),
                now,
                now,
                tier,
                Jsonb(hops_of(alert)),
                household.grid_id if household else None,
                district,
                now,
                [_source(alert)],
            ),
        ).fetchone()
    assert created is not None
    row = IncidentRow.from_db(created)
    if household is None and alert["household_id"] is not None:
        message = words.alert_entry(
            conn, alert, "tl.open_unregistered", household=alert["household_id"]
        )
    else:
        message = words.alert_entry(conn, alert, "tl.open")
    entry = store.timeline(
        conn,
        row.id,
        at=now,
        actor="system",
        action="open",
        from_state=None,
        to_state=str(row.state),
        note=words.english(message),
        message=message,
    )
    if alert["kind"] not in BOARD_ONLY_KINDS:  # cooking smoke: on the board, told to nobody
        _tell_on_open(conn, row, policy, entry=entry, upto=tier)
        store.replan_timer(conn, row, policy, now=now)
    return row


def _tell_on_open(conn: Conn, row: IncidentRow, policy: Policy, *, entry: int, upto: int) -> None:
    place = notify.place_of(conn, row)
    tiers = tiers_to_notify(policy, cause=row.cause, severity=row.severity, upto=upto)
    notify.responders(
        conn, row, policy, tiers=tiers, entry=entry, place=place, reason="start" if upto > 0 else ""
    )
    if row.signal == "alarm":
        _tell_family(conn, row, policy, entry=entry, place=place)


def _tell_family(
    conn: Conn,
    row: IncidentRow,
    policy: Policy,
    *,
    entry: int,
    place: Place,
    now: datetime | None = None,
) -> None:
    """The family's SMS (held back in the quiet hours unless urgent) and, where the policy
    says so, the call that follows it if nobody acknowledges."""
    at = now or row.updated_at
    quiet = policy.quiet_hours
    not_before = quiet.not_before(at, row.severity) if quiet is not None else None
    notify.family_alarm(conn, row, entry=entry, place=place, not_before=not_before)
    calls.plan(conn, row, policy, entry=entry, place=place, now=not_before or at)


def _join(
    conn: Conn, book: PolicyBook, alert: dict[str, Any], row: IncidentRow, now: datetime
) -> IncidentRow:
    policy = book.for_district(row.district)
    joined = join(
        severity=row.severity,
        signal=row.signal,
        sources=frozenset(row.sources),
        alert_kind=alert["kind"],
        alert_severity=int(alert["severity"]),
        alert_signal=alert["signal"],
        alert_source=_source(alert),
    )
    before = row.lifecycle()
    start = policy.start_tier(row.cause, joined.severity)
    after = replace(before, severity=joined.severity, updated_at=now)
    raised_to = start if start > before.tier else None
    if raised_to is not None:
        after = replace(after, tier=raised_to, escalated_at=now)
    sources = sorted({*row.sources, _source(alert)})
    if alert["kind"] in COMMENT_KINDS:
        message = words.alert_entry(conn, alert, "tl.comment")
    else:
        message = words.alert_entry(
            conn, alert, "tl.joined", before=row.severity, after=joined.severity
        )
    entry = store.timeline(
        conn,
        row.id,
        at=now,
        actor="system",
        action="evidence",
        from_state=str(row.state),
        to_state=str(row.state),
        note=words.english(message),
        message=message,
    )
    saved = store.save(conn, row.id, after, signal=joined.signal, sources=sources)
    place = notify.place_of(conn, saved)
    quiet = board_only(sources)
    if board_only(row.sources) and not quiet:
        # The first alert anyone is told of (the incident showed cooking smoke until now).
        upto = max(start, before.tier)
        tiers = tiers_to_notify(policy, cause=saved.cause, severity=saved.severity, upto=upto)
        notify.responders(
            conn,
            saved,
            policy,
            tiers=tiers,
            entry=entry,
            place=place,
            reason="start" if upto else "",
        )
    elif raised_to is not None and not quiet:
        tiers = [
            t
            for t in tiers_to_notify(
                policy, cause=saved.cause, severity=saved.severity, upto=raised_to
            )
            if t > before.tier
        ]
        notify.responders(
            conn, saved, policy, tiers=tiers, entry=entry, place=place, reason="start"
        )
    if saved.signal == "alarm" and row.signal != "alarm":
        _tell_family(conn, saved, policy, entry=entry, place=place, now=now)
    if not quiet:
        store.replan_timer(conn, saved, policy, now=now)
    return saved
