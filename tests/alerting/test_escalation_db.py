"""The same escalation properties on the real database: random operator actions and supervisor
runs; the running timer is always the one the pure model implies, and every fired timer
escalated exactly once."""

from __future__ import annotations

import contextlib
import itertools
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerting import store
from alerting.errors import IllegalTransition
from alerting.escalation import pending_deadline
from alerting.lifecycle import Action
from alerting.policies import PolicyBook
from alerting.supervisor import fire_due
from alerting.triage import triage_pending
from tests.alerting.fix_alerting import T0, raise_alert, seed

pytestmark = pytest.mark.stack

_households = itertools.count()
ACTIONS = [
    Action.ACKNOWLEDGE,
    Action.DISPATCH,
    Action.ARRIVE,
    Action.RESOLVE,
    Action.FALSE_ALARM,
    Action.REOPEN,
    Action.ESCALATE,
]


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 4), st.booleans()), max_size=12),
    st.sampled_from(["fire", "panic"]),
)
def test_timers_in_the_database_follow_the_model(
    conn: psycopg.Connection[Any],
    policy_dir: Path,
    script: list[tuple[Action, int, bool]],
    kind: str,
) -> None:
    household = f"hh{next(_households)}"
    seed(conn, household=household, grid="g1")
    book = PolicyBook(policy_dir)
    policy = book.for_district("fast")
    raise_alert(conn, household=household, kind=kind, device=f"d-{household}")
    now = T0
    [iid] = triage_pending(conn, book, now=now)
    for action, dt, supervise in script:
        now += timedelta(seconds=dt)
        if supervise:
            fire_due(conn, book, now=now)
        with contextlib.suppress(IllegalTransition):
            store.act(conn, incident_id=iid, action=action, actor="op", now=now, book=book)
        row = store.load(conn, iid)
        expected = pending_deadline(row.lifecycle(), policy)
        running = conn.execute(
            "select stage, tier, due_at from escalation_timers where incident_id = %s "
            "and fired_at is null and cancelled_at is null",
            (iid,),
        ).fetchall()
        if expected is None:
            assert running == []
        else:
            assert running == [(expected.stage.value, expected.tier, expected.due_at)]
    fire_due(conn, book, now=now + timedelta(hours=1))
    fire_due(conn, book, now=now + timedelta(hours=2))
    fired = conn.execute(
        "select count(*) from escalation_timers where incident_id = %s and fired_at is not null",
        (iid,),
    ).fetchone()
    escalations = conn.execute(
        "select count(*) from incident_timeline where incident_id = %s and action = 'escalate' "
        "and actor = 'system'",
        (iid,),
    ).fetchone()
    assert fired is not None
    assert escalations is not None
    assert fired[0] == escalations[0]
