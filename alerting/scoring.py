"""Responder scores: how fast and how well each grid member and each department handled their
incidents in a period — the monthly report of the grid-management loop.

Per responder (the user an incident was dispatched to) and per department (that user's
department; "unassigned" for incidents closed without dispatch): incidents, median and 90th
percentile time to acknowledge (from opening) and to arrive (from dispatch), resolution rate and
false-alarm rate among the closed ones, and how many escalations their incidents needed.
Test incidents are left out: they measure the devices, not the people.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from vigil.db.connect import Conn

_SQL = """
with scoped as (
    select i.*, coalesce(u.username, 'unassigned') as responder,
           coalesce(u.department, case when u.id is null then 'unassigned' else 'none' end)
               as department,
           (select count(*) from incident_timeline t
             where t.incident_id = i.id and t.action = 'escalate') as escalations
    from incidents i left join users u on u.id = i.assigned_to
    where i.opened_at >= %(start)s and i.opened_at < %(end)s and i.state <> 'test'
)
select {group} as name, count(*) as incidents,
       percentile_cont(0.5) within group (order by extract(epoch from acknowledged_at - opened_at))
           as ack_p50_s,
       percentile_cont(0.9) within group (order by extract(epoch from acknowledged_at - opened_at))
           as ack_p90_s,
       percentile_cont(0.5) within group (order by extract(epoch from arrived_at - dispatched_at))
           as arrive_p50_s,
       percentile_cont(0.9) within group (order by extract(epoch from arrived_at - dispatched_at))
           as arrive_p90_s,
       count(*) filter (where state = 'resolved') as resolved,
       count(*) filter (where state = 'false_alarm') as false_alarms,
       count(*) filter (where state in ('resolved', 'false_alarm')) as closed,
       sum(escalations) as escalations
from scoped group by {group} order by {group}
"""


@dataclass(frozen=True)
class Score:
    name: str
    incidents: int
    ack_p50_s: float | None
    ack_p90_s: float | None
    arrive_p50_s: float | None
    arrive_p90_s: float | None
    resolution_rate: float | None
    false_alarm_rate: float | None
    escalations: int


@dataclass(frozen=True)
class Report:
    start: datetime
    end: datetime
    responders: list[Score]
    departments: list[Score]

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "responders": [asdict(s) for s in self.responders],
            "departments": [asdict(s) for s in self.departments],
        }


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """'2026-11' -> the first instants of November and December 2026 (UTC)."""
    try:
        start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"month must look like 2026-11, got {month!r}") from exc
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


def _scores(conn: Conn, group: str, start: datetime, end: datetime) -> list[Score]:
    rows = conn.execute(_SQL.format(group=group), {"start": start, "end": end}).fetchall()
    scores = []
    for name, n, a50, a90, r50, r90, resolved, false_alarms, closed, escalations in rows:
        scores.append(
            Score(
                name=str(name),
                incidents=int(n),
                ack_p50_s=None if a50 is None else round(float(a50), 1),
                ack_p90_s=None if a90 is None else round(float(a90), 1),
                arrive_p50_s=None if r50 is None else round(float(r50), 1),
                arrive_p90_s=None if r90 is None else round(float(r90), 1),
                resolution_rate=round(resolved / closed, 3) if closed else None,
                false_alarm_rate=round(false_alarms / closed, 3) if closed else None,
                escalations=int(escalations or 0),
            )
        )
    return scores


def report(conn: Conn, *, start: datetime, end: datetime) -> Report:
    return Report(
        start,
        end,
        _scores(conn, "responder", start, end),
        _scores(conn, "department", start, end),
    )
