"""Reports on a grid of their own with hand-timed incidents: exact medians, rates and CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def timed_grid(console_dsn: str) -> str:
    """Grid g7 with three alarms: acknowledged after 20 s and 40 s, and one never."""
    t = datetime.now(UTC) - timedelta(hours=2)
    with psycopg.connect(console_dsn) as conn:
        conn.execute("insert into grids (id, site_id, name) values ('g7', 's1', '第七网格')")
        conn.execute(
            "insert into buildings (id, grid_id, name, address) "
            "values ('b7', 'g7', '7号楼', '七路')"
        )
        conn.execute("insert into households (id, building_id, unit) values ('h7', 'b7', '1')")
        # Departments of this grid's own (other tests' incidents count for 'fire', 'command'...).
        conn.execute(
            "insert into users (username, display_name, password_hash, role, grid_id, department) "
            "values ('gm7', 'gm7', 'x', 'grid_member', 'g7', 'fire-g7'), "
            "('op7', 'op7', 'x', 'operator', null, 'command-g7')"
        )

        def incident(cause: str, state: str, closed: float | None, assignee: str | None) -> int:
            row = conn.execute(
                "insert into incidents (household_id, cause, signal, severity, state, opened_at, "
                "closed_at, assigned_to) values ('h7', %s, 'alarm', 5, %s, %s, %s, "
                "(select id from users where username = %s)) returning id",
                (cause, state, t, t + timedelta(seconds=closed) if closed else None, assignee),
            ).fetchone()
            assert row is not None
            return int(row[0])

        def step(incident_id: int, action: str, after_s: float, actor: str) -> None:
            conn.execute(
                "insert into incident_timeline (incident_id, at, actor, action) "
                "values (%s, %s, %s, %s)",
                (incident_id, t + timedelta(seconds=after_s), actor, action),
            )

        a = incident("fire", "resolved", 600, "gm7")
        step(a, "acknowledge", 20, "op")
        step(a, "dispatch", 25, "op")
        step(a, "arrive", 300, "gm7")
        step(a, "resolve", 600, "gm7")
        b = incident("panic", "false_alarm", 100, None)
        step(b, "acknowledge", 40, "op7")
        step(b, "false_alarm", 100, "op7")
        incident("smoke", "new", None, None)
    return "g7"


def test_response_times_per_grid(clients: dict[str, TestClient], timed_grid: str) -> None:
    rows = clients["sup"].get("/api/reports/response-times", params={"days": 1}).json()
    g7 = next(r for r in rows if r["key"] == timed_grid)
    assert g7["incidents"] == 3
    assert g7["acknowledged"] == 2
    assert g7["ack_p50_s"] == pytest.approx(30.0)
    assert g7["ack_p90_s"] == pytest.approx(38.0)
    assert g7["arrive_p50_s"] == pytest.approx(300.0)
    assert g7["close_p50_s"] == pytest.approx(350.0)


def test_response_times_per_department(clients: dict[str, TestClient], timed_grid: str) -> None:
    rows = (
        clients["sup"]
        .get("/api/reports/response-times", params={"days": 1, "by": "department"})
        .json()
    )
    by_key = {r["key"]: r for r in rows}
    # The fire alarm counts for the assignee's department, the panic for the acknowledger's.
    assert by_key["fire-g7"]["ack_p50_s"] == pytest.approx(20.0)
    assert by_key["command-g7"]["ack_p50_s"] == pytest.approx(40.0)


def test_false_alarm_rate(clients: dict[str, TestClient], timed_grid: str) -> None:
    rows = clients["op"].get("/api/reports/false-alarms", params={"days": 1}).json()
    g7 = next(r for r in rows if r["key"] == timed_grid)
    assert (g7["closed"], g7["false_alarms"], g7["rate"]) == (2, 1, 0.5)
    by_cause = clients["op"].get("/api/reports/false-alarms", params={"by": "cause"}).json()
    assert any(r["key"] == "panic" and r["false_alarms"] >= 1 for r in by_cause)


def test_weekly_counts_include_empty_weeks(clients: dict[str, TestClient], timed_grid: str) -> None:
    rows = clients["admin"].get("/api/reports/weekly", params={"weeks": 4}).json()
    assert len(rows) == 4 * 3
    weeks = sorted({r["week"] for r in rows})
    assert len(weeks) == 4
    this_week_alarms = next(r for r in rows if r["week"] == weeks[-1] and r["signal"] == "alarm")
    assert this_week_alarms["incidents"] >= 3


def test_csv_exports_match_the_json(clients: dict[str, TestClient], timed_grid: str) -> None:
    response = clients["sup"].get(
        "/api/reports/false-alarms.csv", params={"days": 1, "headers": "codes"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(response.text)))
    g7 = next(r for r in table if r["key"] == timed_grid)
    assert (g7["closed"], g7["false_alarms"], g7["rate"]) == ("2", "1", "0.5")
    times = (
        clients["sup"]
        .get("/api/reports/response-times.csv", params={"days": 1, "headers": "codes"})
        .text
    )
    assert times.splitlines()[0].split(",")[:3] == ["key", "incidents", "acknowledged"]
    weekly = clients["sup"].get("/api/reports/weekly.csv?headers=codes").text.splitlines()
    assert weekly[0] == "week,signal,incidents"
    assert len(weekly) == 1 + 12 * 3


def test_csv_speaks_the_readers_language(clients: dict[str, TestClient], timed_grid: str) -> None:
    zh = clients["sup"].get("/api/reports/weekly.csv", params={"lang": "zh"}).text
    assert zh.startswith("\ufeff"), "a BOM, so spreadsheet programs read the Chinese"
    rows = list(csv.reader(io.StringIO(zh.lstrip("\ufeff"))))
    assert rows[0] == ["周", "类别", "警情数"]
    assert {r[1] for r in rows[1:]} == {"火警/求救", "监管", "故障"}
    en = clients["sup"].get("/api/reports/response-times.csv", params={"lang": "en"}).text
    header = next(csv.reader(io.StringIO(en.lstrip("\ufeff"))))
    assert header[:3] == ["grid", "incidents", "acknowledged"]
    assert "acknowledge median (s)" in header
