"""Reports for the monthly scoring: response times, false-alarm rates, alarms per week.

Each report is JSON at /api/reports/<name> and CSV at /api/reports/<name>.csv.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from console.api.accounts import Principal
from console.api.deps import ReportReader, SessionDep, grid_scope, now
from console.api.models.reports import FalseAlarmRow, ResponseTimeRow, WeeklyRow
from console.api.sqlutil import fetch_all
from console.api.words import LangDep
from vigil.messages import Language, label, render

router = APIRouter(prefix="/reports", tags=["reports"])

Days = Annotated[int, Query(ge=1, le=3660, description="how many days back from now")]
Signal = Literal["alarm", "supervisory", "trouble", "all"]
ResponseGroup = Literal["grid", "department"]
FalseAlarmGroup = Literal["grid", "cause"]
_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "the report as CSV"}
}

_INCIDENTS = """
with inc as (
    select i.id, i.cause, i.state, i.opened_at, i.closed_at,
           coalesce(i.grid_id, b.grid_id) as grid_id,
           (select min(t.at) from incident_timeline t where t.incident_id = i.id
              and t.action in ('acknowledge', 'dispatch')) as ack_at,
           (select min(t.at) from incident_timeline t where t.incident_id = i.id
              and t.action = 'arrive') as arrive_at,
           coalesce(assignee.department, (
               select u.department from incident_timeline t join users u on u.username = t.actor
               where t.incident_id = i.id and t.action in ('acknowledge', 'dispatch', 'arrive')
               order by t.at limit 1)) as department
    from incidents i
    left join households h on h.id = i.household_id
    left join buildings b on b.id = h.building_id
    left join users assignee on assignee.id = i.assigned_to
    where i.opened_at >= %(since)s
      and (%(signal)s::text = 'all' or i.signal = %(signal)s)
      and (%(scope)s::text is null or coalesce(i.grid_id, b.grid_id) = %(scope)s)
)
"""


def _params(user: Principal, days: int, signal: Signal) -> dict[str, object]:
    return {"since": now() - timedelta(days=days), "signal": signal, "scope": grid_scope(user)}


Headers = Annotated[
    Literal["words", "codes"],
    Query(
        description="words: column names and values in the reader's language; codes: field "
        "names and raw values, for programs"
    ),
]
# Values of these columns are vocabulary words, rendered as labels of that kind.
_LABELLED = {"signal": "signal", "cause": "cause"}


def _csv(
    rows: list[BaseModel],
    model: type[BaseModel],
    name: str,
    *,
    lang: Language,
    headers: str,
    key: str | None = None,
) -> Response:
    """The report as CSV: in `lang` (with a BOM, so spreadsheet programs read the Chinese) or,
    with headers=codes, as field names and raw values."""
    out = io.StringIO()
    writer = csv.writer(out)
    fields = list(model.model_fields)
    if headers == "codes":
        writer.writerow(fields)
        for row in rows:
            writer.writerow(row.model_dump().values())
    else:
        out.write("\ufeff")
        names = {f: key if f == "key" and key else f for f in fields}
        writer.writerow([render(f"report.{names[f]}", {}, lang) for f in fields])
        for row in rows:
            values = row.model_dump()
            writer.writerow(
                [
                    label(_LABELLED[names[f]], str(v), lang) if names[f] in _LABELLED and v else v
                    for f, v in values.items()
                ]
            )
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _response_times(
    conn: SessionDep, user: Principal, days: int, signal: Signal, by: ResponseGroup
) -> list[ResponseTimeRow]:
    key = "grid_id" if by == "grid" else "department"
    return fetch_all(
        conn,
        ResponseTimeRow,
        f"""{_INCIDENTS}
        select {key} as key, count(*) as incidents, count(ack_at) as acknowledged,
          percentile_cont(0.5) within group (order by extract(epoch from ack_at - opened_at))
            as ack_p50_s,
          percentile_cont(0.9) within group (order by extract(epoch from ack_at - opened_at))
            as ack_p90_s,
          percentile_cont(0.5) within group (order by extract(epoch from arrive_at - opened_at))
            as arrive_p50_s,
          percentile_cont(0.5) within group (order by extract(epoch from closed_at - opened_at))
            as close_p50_s
        from inc group by 1 order by 1 nulls last""",
        _params(user, days, signal),
    )


@router.get("/response-times")
def response_times(
    conn: SessionDep,
    user: ReportReader,
    days: Days = 30,
    signal: Signal = "alarm",
    by: ResponseGroup = "grid",
) -> list[ResponseTimeRow]:
    """Median and 90th-percentile seconds to acknowledge, arrive and close, per grid or
    department (the assignee's, else the first responder's)."""
    return _response_times(conn, user, days, signal, by)


@router.get("/response-times.csv", response_class=Response, responses=_CSV)
def response_times_csv(
    *,
    conn: SessionDep,
    user: ReportReader,
    lang: LangDep,
    days: Days = 30,
    signal: Signal = "alarm",
    by: ResponseGroup = "grid",
    headers: Headers = "words",
) -> Response:
    rows = _response_times(conn, user, days, signal, by)
    return _csv(
        list(rows), ResponseTimeRow, f"response-times-by-{by}", lang=lang, headers=headers, key=by
    )


def _false_alarms(
    conn: SessionDep, user: Principal, days: int, signal: Signal, by: FalseAlarmGroup
) -> list[FalseAlarmRow]:
    key = "grid_id" if by == "grid" else "cause"
    return fetch_all(
        conn,
        FalseAlarmRow,
        f"""{_INCIDENTS}
        select {key} as key, count(*) filter (where closed_at is not null) as closed,
               count(*) filter (where state = 'false_alarm') as false_alarms,
               (count(*) filter (where state = 'false_alarm'))::float8
                 / nullif(count(*) filter (where closed_at is not null), 0) as rate
        from inc group by 1 order by 1 nulls last""",
        _params(user, days, signal),
    )


@router.get("/false-alarms")
def false_alarms(
    conn: SessionDep,
    user: ReportReader,
    days: Days = 90,
    signal: Signal = "alarm",
    by: FalseAlarmGroup = "grid",
) -> list[FalseAlarmRow]:
    """The share of closed incidents that were false alarms, per grid or cause."""
    return _false_alarms(conn, user, days, signal, by)


@router.get("/false-alarms.csv", response_class=Response, responses=_CSV)
def false_alarms_csv(
    *,
    conn: SessionDep,
    user: ReportReader,
    lang: LangDep,
    days: Days = 90,
    signal: Signal = "alarm",
    by: FalseAlarmGroup = "grid",
    headers: Headers = "words",
) -> Response:
    rows = _false_alarms(conn, user, days, signal, by)
    return _csv(
        list(rows), FalseAlarmRow, f"false-alarms-by-{by}", lang=lang, headers=headers, key=by
    )


Weeks = Annotated[int, Query(ge=1, le=520)]


def _weekly(conn: SessionDep, user: Principal, weeks: int) -> list[WeeklyRow]:
    return fetch_all(
        conn,
        WeeklyRow,
        """
        with weeks as (
            select generate_series(date_trunc('week', now()) - (%(weeks)s - 1) * interval '1 week',
                                   date_trunc('week', now()), interval '1 week') as week
        ),
        signals(signal) as (values ('alarm'), ('supervisory'), ('trouble'))
        select w.week::date as week, s.signal, count(i.id) as incidents
        from weeks w cross join signals s
        left join incidents i on date_trunc('week', i.opened_at) = w.week and i.signal = s.signal
          and (%(scope)s::text is null or exists (
              select 1 from households h join buildings b on b.id = h.building_id
              where h.id = i.household_id and b.grid_id = %(scope)s))
        group by 1, 2 order by 1, 2""",
        {"weeks": weeks, "scope": grid_scope(user)},
    )


@router.get("/weekly")
def weekly(conn: SessionDep, user: ReportReader, weeks: Weeks = 12) -> list[WeeklyRow]:
    """Incidents opened per week and signal class, zero weeks included."""
    return _weekly(conn, user, weeks)


@router.get("/weekly.csv", response_class=Response, responses=_CSV)
def weekly_csv(
    *,
    conn: SessionDep,
    user: ReportReader,
    lang: LangDep,
    weeks: Weeks = 12,
    headers: Headers = "words",
) -> Response:
    return _csv(
        list(_weekly(conn, user, weeks)), WeeklyRow, "alarms-per-week", lang=lang, headers=headers
    )
