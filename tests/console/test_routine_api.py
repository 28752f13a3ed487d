"""A household's learned routine through the API, from its readings in TimescaleDB."""

from __future__ import annotations

import math
import time

import psycopg
import pytest
from fastapi.testclient import TestClient

from detectors.households import generate

pytestmark = pytest.mark.stack

WEEK_S = 7 * 86400.0


def test_routine_page_data_comes_from_the_households_readings(
    clients: dict[str, TestClient], db: psycopg.Connection
) -> None:
    hh = generate("weekday_worker", 3, days=21)
    # Moved by whole weeks, so weekdays stay weekdays whatever day the test runs; what would
    # fall later than a minute ago is left out (at least 14 days remain).
    shift = math.ceil((time.time() - 60.0 - float(hh.ts[-1])) / WEEK_S) * WEEK_S
    until = time.time() - 60.0
    db.execute(
        "insert into devices (id, device_type, gateway_id, household_id, room) values "
        "('rt-pir0', 'pir', 'gw1', 'h1', 'hall'), ('rt-pir1', 'pir', 'gw1', 'h1', 'bedroom'), "
        "('rt-pir2', 'pir', 'gw1', 'h1', 'kitchen'), ('rt-pir3', 'pir', 'gw1', 'h1', 'bath'), "
        "('rt-pir4', 'pir', 'gw1', 'h1', 'living'), ('rt-door', 'door', 'gw1', 'h1', 'hall') "
        "on conflict do nothing"
    )
    names = [f"rt-pir{i}" for i in range(hh.n_presence)] + ["rt-door"]
    with db.cursor() as cur:
        cur.executemany(
            "insert into readings (time, device_id, metric, value, seq, gateway_ts) "
            "values (to_timestamp(%s), %s, %s, %s, %s, to_timestamp(%s))",
            [
                (
                    t + shift,
                    names[int(d)],
                    "door" if int(d) == hh.door else "motion",
                    v,
                    i,
                    t + shift,
                )
                for i, (t, d, v) in enumerate(
                    zip(hh.ts.tolist(), hh.device.tolist(), hh.value.tolist(), strict=True)
                )
                if t + shift <= until
            ],
        )
    try:
        got = clients["op"].get("/api/households/h1/routine", params={"days": 14})
        assert got.status_code == 200, got.text
        body = got.json()
        assert body["household_id"] == "h1"
        assert not body["learning"]
        assert len(body["activity"]) == 7
        assert max(max(day) for day in body["activity"]) == 1.0
        weekday = next(s for s in body["sleep"] if s["day_type"] == "weekday")
        assert weekday["latest_wake"] is not None
        # Out at work on weekdays from about 10:00: a usual absence, back by 21:00 at the latest.
        work = [a for a in body["absences"] if a["day_type"] == "weekday" and a["times"] >= 5]
        assert work
        assert all(a["latest_return"] <= "21:00" for a in work)
        assert sum(body["recent"]["counts"]) > 50
        # A grid member of another grid does not see this household.
        assert clients["gm2"].get("/api/households/h1/routine").status_code == 404
    finally:
        db.execute("delete from readings where device_id like 'rt-%%'")
        db.execute("delete from devices where id like 'rt-%%'")
