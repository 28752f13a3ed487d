"""The database side of incidents: every change in one transaction with its timeline row, its
notifications (outbox rows) and its escalation timer, then `pg_notify('vigil_incident', id)`.

The lifecycle and escalation decisions are made by the pure modules; this module loads an
incident, hands it to them with `now`, and writes back what they decided.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerting import notify
from alerting.errors import IllegalTransition, IncidentNotFoundError
from alerting.escalation import Policy, escalate, pending_deadline
from alerting.lifecycle import Action, Incident, State, apply
from alerting.policies import PolicyBook, default_book
from vigil.db.connect import Conn

INCIDENT_COLUMNS = (
    "id, household_id, cause, signal, severity, state, opened_at, updated_at, closed_at, "
    "assigned_to, escalation_tier, hops, grid_id, district, stage_started_at, acknowledged_at, "
    "dispatched_at, arrived_at, escalated_at, sources"
)
OPEN_SQL = "state not in ('resolved', 'false_alarm', 'test')"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True)
class IncidentRow:
    id: int
    household_id: str | None
    cause: str
    signal: str
    severity: int
    state: State
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    assigned_to: int | None
    escalation_tier: int
    hops: dict[str, float]
    grid_id: str | None = None
    district: str | None = None
    stage_started_at: datetime | None = None
    acknowledged_at: datetime | None = None
    dispatched_at: datetime | None = None
    arrived_at: datetime | None = None
    escalated_at: datetime | None = None
    sources: tuple[str, ...] = ()

    @classmethod
    def from_db(cls, row: dict[str, Any]) -> IncidentRow:
        values = dict(row)
        values["state"] = State(values["state"])
        values["sources"] = tuple(values.get("sources") or ())
        values["hops"] = dict(values.get("hops") or {})
        return cls(**values)

    def lifecycle(self) -> Incident:
        return Incident(
            cause=self.cause,
            severity=self.severity,
            state=self.state,
            tier=self.escalation_tier,
            opened_at=self.opened_at,
            updated_at=self.updated_at,
            stage_started_at=self.stage_started_at or self.opened_at,
            acknowledged_at=self.acknowledged_at,
            dispatched_at=self.dispatched_at,
            arrived_at=self.arrived_at,
            closed_at=self.closed_at,
            escalated_at=self.escalated_at,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "household_id": self.household_id,
            "cause": self.cause,
            "signal": self.signal,
            "severity": self.severity,
            "state": str(self.state),
            "opened_at": _iso(self.opened_at),
            "updated_at": _iso(self.updated_at),
            "closed_at": _iso(self.closed_at),
            "assigned_to": self.assigned_to,
            "escalation_tier": self.escalation_tier,
            "hops": self.hops,
            "grid_id": self.grid_id,
            "district": self.district,
            "acknowledged_at": _iso(self.acknowledged_at),
            "dispatched_at": _iso(self.dispatched_at),
            "arrived_at": _iso(self.arrived_at),
            "escalated_at": _iso(self.escalated_at),
            "sources": list(self.sources),
        }


@dataclass(frozen=True)
class IncidentDetail:
    incident: IncidentRow
    timeline: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    timers: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        def clean(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [
                {k: _iso(v) if isinstance(v, datetime) else v for k, v in r.items()} for r in rows
            ]

        return {
            "incident": self.incident.to_json(),
            "timeline": clean(self.timeline),
            "alerts": clean(self.alerts),
            "notifications": clean(self.notifications),
            "timers": clean(self.timers),
        }


# ------------------------------------------------------------------------------------ reading
def load(conn: Conn, incident_id: int, *, lock: bool = False) -> IncidentRow:
    sql = f"select {INCIDENT_COLUMNS} from incidents where id = %s"  # noqa: S608
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(sql + (" for update" if lock else ""), (incident_id,)).fetchone()
    if row is None:
        raise IncidentNotFoundError(f"no incident {incident_id}")
    return IncidentRow.from_db(row)


def list_open(conn: Conn, *, grid_id: str | None = None) -> list[IncidentRow]:
    """Open incidents, most severe and oldest first; only one grid's if `grid_id` is given."""
    sql = f"select {INCIDENT_COLUMNS} from incidents where {OPEN_SQL}"  # noqa: S608
    params: tuple[Any, ...] = ()
    if grid_id is not None:
        sql += " and grid_id = %s"
        params = (grid_id,)
    sql += " order by severity desc, opened_at"
    with conn.cursor(row_factory=dict_row) as cur:
        return [IncidentRow.from_db(r) for r in cur.execute(sql, params).fetchall()]


def get_detail(conn: Conn, incident_id: int) -> IncidentDetail:
    """The incident with its timeline, alerts, notifications (with delivery state) and timers."""
    incident = load(conn, incident_id)
    with conn.cursor(row_factory=dict_row) as cur:
        timeline = cur.execute(
            "select id, at, actor, action, from_state, to_state, note, code, params "
            "from incident_timeline where incident_id = %s order by at, id",
            (incident_id,),
        ).fetchall()
        alerts = cur.execute(
            "select id, device_id, household_id, kind, signal, severity, score, reason, "
            "evidence, ts, received_at, decided_at from alerts where incident_id = %s order by id",
            (incident_id,),
        ).fetchall()
        notifications = cur.execute(
            "select id, kind, channel, recipient, language, body, status, attempts, last_error, "
            "provider, provider_id, receipt, created_at, sent_at, delivered_at, tier "
            "from notification_outbox where incident_id = %s order by id",
            (incident_id,),
        ).fetchall()
        timers = cur.execute(
            "select id, stage, tier, due_at, fired_at, cancelled_at from escalation_timers "
            "where incident_id = %s order by id",
            (incident_id,),
        ).fetchall()
    return IncidentDetail(incident, timeline, alerts, notifications, timers)


# ------------------------------------------------------------------------------------ writing
def timeline(
    conn: Conn,
    incident_id: int,
    *,
    at: datetime,
    actor: str,
    action: str,
    from_state: str | None,
    to_state: str | None,
    note: str | None,
    message: dict[str, Any] | None = None,
) -> int:
    """One timeline row. A system sentence comes as `message` ({"code", "params"} of
    vigil.messages), rendered in each reader's language; `note` keeps its English form."""
    code = message["code"] if message else None
    params = Jsonb(message.get("params") or {}) if message else None
    row = conn.execute(
        "insert into incident_timeline (incident_id, at, actor, action, from_state, to_state, "
        "note, code, params) values (%s, %s, %s, %s, %s, %s, %s, %s, %s) returning id",
        (incident_id, at, actor, action, from_state, to_state, note, code, params),
    ).fetchone()
    assert row is not None
    return int(row[0])


def save(conn: Conn, incident_id: int, after: Incident, **extra: Any) -> IncidentRow:
    """Write the lifecycle's view of the incident back (plus any `extra` columns)."""
    columns = {
        "state": str(after.state),
        "severity": after.severity,
        "escalation_tier": after.tier,
        "updated_at": after.updated_at,
        "closed_at": after.closed_at,
        "stage_started_at": after.stage_started_at,
        "acknowledged_at": after.acknowledged_at,
        "dispatched_at": after.dispatched_at,
        "arrived_at": after.arrived_at,
        "escalated_at": after.escalated_at,
        **extra,
    }
    assignments = ", ".join(f"{name} = %({name})s" for name in columns)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"update incidents set {assignments} where id = %(id)s returning {INCIDENT_COLUMNS}",  # noqa: S608
            {**columns, "id": incident_id},
        ).fetchone()
    assert row is not None
    return IncidentRow.from_db(row)


def replan_timer(conn: Conn, row: IncidentRow, policy: Policy, *, now: datetime) -> None:
    """Make the running timer the one the incident's state implies: keep it, or cancel it and
    start the new one. Wakes the supervisor when a timer starts."""
    deadline = pending_deadline(row.lifecycle(), policy)
    running = conn.execute(
        "select id, stage, tier, due_at from escalation_timers where incident_id = %s "
        "and fired_at is null and cancelled_at is null for update",
        (row.id,),
    ).fetchone()
    if running is not None:
        if deadline is not None and (running[1], running[2], running[3]) == (
            deadline.stage.value,
            deadline.tier,
            deadline.due_at,
        ):
            return
        conn.execute(
            "update escalation_timers set cancelled_at = %s where id = %s", (now, running[0])
        )
    if deadline is not None:
        conn.execute(
            "insert into escalation_timers (incident_id, stage, tier, due_at, created_at) "
            "values (%s, %s, %s, %s, %s)",
            (row.id, deadline.stage.value, deadline.tier, deadline.due_at, now),
        )
        conn.execute("select pg_notify('vigil_timer', %s)", (str(row.id),))


def announce(conn: Conn, incident_ids: list[int] | set[int], *, outbox: bool = False) -> None:
    """Tell the live stream (on commit) which incidents changed, and with `outbox` the notifier
    that there may be notifications to send."""
    for incident_id in sorted(incident_ids):
        conn.execute("select pg_notify('vigil_incident', %s)", (str(incident_id),))
    if outbox:
        conn.execute("select pg_notify('vigil_outbox', '')")


# ------------------------------------------------------------------------------------ actions
_CLOSE_ACTIONS = {Action.RESOLVE, Action.FALSE_ALARM, Action.MARK_TEST}


def act(
    conn: Conn,
    *,
    incident_id: int,
    action: Action,
    actor: str,
    note: str | None = None,
    now: datetime,
    assignee_id: int | None = None,
    book: PolicyBook | None = None,
) -> IncidentRow:
    """Apply an operator's (or grid member's) action; refuses illegal ones with IllegalTransition.

    Dispatch goes to `assignee_id`, or else to the grid member of the household's grid.
    `book` defaults to the escalation policies of the process's settings.
    """
    book = book or default_book()
    with conn.transaction():
        row = load(conn, incident_id, lock=True)
        policy = book.for_district(row.district)
        before = row.lifecycle()
        extra: dict[str, Any] = {}
        if action is Action.ESCALATE:
            moved = escalate(before, policy, now=now, actor=actor, note=note)
            if moved is None:
                raise IllegalTransition(action, row.state, "already at the top tier")
            after, tier = moved
        else:
            after, _ = apply(before, action, actor=actor, now=now, note=note)
        if action is Action.DISPATCH:
            extra["assigned_to"] = _assignee(conn, row, assignee_id, action)
        if action is Action.REOPEN:
            _refuse_second_open(conn, row)
        entry = timeline(
            conn,
            incident_id,
            at=now,
            actor=actor,
            action=str(action),
            from_state=str(before.state),
            to_state=str(after.state),
            note=note,
        )
        saved = save(conn, incident_id, after, **extra)
        place = notify.place_of(conn, saved)
        if action is Action.DISPATCH:
            notify.dispatched(conn, saved, policy, entry=entry, place=place)
        elif action is Action.ESCALATE:
            notify.responders(
                conn, saved, policy, tiers=[tier], entry=entry, place=place, reason="manual"
            )
        elif action in _CLOSE_ACTIONS:
            notify.family_closed(conn, saved, entry=entry, place=place, outcome=str(after.state))
        replan_timer(conn, saved, policy, now=now)
        announce(conn, [incident_id], outbox=True)
    return saved


def _assignee(conn: Conn, row: IncidentRow, assignee_id: int | None, action: Action) -> int:
    if assignee_id is not None:
        found = conn.execute(
            "select id from users where id = %s and disabled_at is null", (assignee_id,)
        ).fetchone()
        if found is None:
            raise IllegalTransition(action, row.state, f"no active user {assignee_id}")
        return assignee_id
    member = conn.execute(
        "select id from users where role = 'grid_member' and grid_id = %s "
        "and disabled_at is null order by id limit 1",
        (row.grid_id,),
    ).fetchone()
    if member is None:
        raise IllegalTransition(
            action, row.state, f"grid {row.grid_id!r} has no grid member; name an assignee"
        )
    return int(member[0])


def _refuse_second_open(conn: Conn, row: IncidentRow) -> None:
    other = conn.execute(
        f"select id from incidents where household_id is not distinct from %s and cause = %s "  # noqa: S608
        f"and {OPEN_SQL} and id <> %s",
        (row.household_id, row.cause, row.id),
    ).fetchone()
    if other is not None:
        raise IllegalTransition(
            Action.REOPEN, row.state, f"incident {other[0]} is already open for this household"
        )
