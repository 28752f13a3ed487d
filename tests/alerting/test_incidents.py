"""Alerts into incidents, operator actions and timers, on the real database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest

from alerting import store
from alerting.errors import IllegalTransition
from alerting.lifecycle import Action, State
from alerting.policies import PolicyBook
from alerting.supervisor import fire_due, next_due
from alerting.triage import triage_pending
from tests.alerting.fix_alerting import T0, raise_alert, seed
from vigil.observability import ALERTING_ALERTS_CLAIMED_TOTAL

pytestmark = pytest.mark.stack


def _outbox(conn: psycopg.Connection[Any], incident_id: int) -> list[tuple[Any, ...]]:
    return conn.execute(
        "select kind, channel, recipient, body from notification_outbox where incident_id = %s "
        "order by id",
        (incident_id,),
    ).fetchall()


def _claimed_total() -> float:
    [metric] = ALERTING_ALERTS_CLAIMED_TOTAL.collect()
    return sum(s.value for s in metric.samples if s.name.endswith("_total"))


def test_first_alert_opens_an_incident_with_timeline_outbox_timer_and_hops(conn, policy_dir):
    seed(conn)
    claimed_before = _claimed_total()
    raise_alert(conn, kind="fire", severity=4, ts=T0, evidence={"gateway_ts": T0.timestamp()})
    book = PolicyBook(policy_dir)
    changed = triage_pending(conn, book, now=T0 + timedelta(seconds=1))
    assert len(changed) == 1
    assert _claimed_total() == claimed_before + 1
    row = store.load(conn, changed[0])
    assert (row.cause, row.signal, row.severity, row.state) == ("fire", "alarm", 4, State.NEW)
    assert row.grid_id == "g1"
    assert row.district == "fast"
    assert {"device", "gateway", "ingest", "detector", "committed"} <= set(row.hops)
    assert row.hops["device"] == pytest.approx(T0.timestamp())
    detail = store.get_detail(conn, row.id)
    assert [t["action"] for t in detail.timeline] == ["open"]
    kinds = {(k, ch, r) for k, ch, r, _ in _outbox(conn, row.id)}
    assert ("family_alarm", "sms", "+8613800000001") in kinds
    assert ("responder", "grid_member", "gm-g1") in kinds
    assert ("responder", "sms", "+8613700000001") in kinds
    assert ("console", "console", "grid") in kinds
    family = next(b for k, _, _, b in _outbox(conn, row.id) if k == "family_alarm")
    assert "幸福路8号3号楼502" in family
    assert "张" not in family
    assert "糖尿病" not in family
    assert "insulin" not in family
    [timer] = detail.timers
    assert timer["stage"] == "acknowledge"
    assert timer["due_at"] == T0 + timedelta(seconds=1 + 2)


def test_second_detector_joins_and_raises_severity(conn, policy_dir):
    seed(conn)
    book = PolicyBook(policy_dir)
    raise_alert(conn, device="sd-1", kind="smoke", severity=4)
    [first] = triage_pending(conn, book, now=T0)
    raise_alert(conn, device="hd-1", kind="heat", severity=4)
    raise_alert(conn, device="hd-1", kind="heat", severity=4)
    [second] = triage_pending(conn, book, now=T0 + timedelta(seconds=1))
    assert first == second
    row = store.load(conn, first)
    assert row.severity == 5
    assert row.escalation_tier == 1  # severity 5 starts at the community tier in this policy
    count = conn.execute("select count(*) from incidents").fetchone()
    assert count is not None
    assert count[0] == 1
    actions = [t["action"] for t in store.get_detail(conn, first).timeline]
    assert actions == ["open", "evidence", "evidence"]
    duty = [r for k, ch, r, _ in _outbox(conn, first) if r == "+8613900000002"]
    assert duty == ["+8613900000002"]


def test_signal_classes_and_causes_stay_apart(conn, policy_dir):
    seed(conn)
    book = PolicyBook(policy_dir)
    raise_alert(conn, kind="fire", severity=4)
    raise_alert(conn, kind="battery_low", signal="trouble", severity=1)
    raise_alert(conn, kind="panic", severity=4, device="pb-1")
    changed = triage_pending(conn, book, now=T0)
    assert len(changed) == 3
    causes = {(r.cause, r.signal) for r in store.list_open(conn)}
    assert causes == {("fire", "alarm"), ("battery_low", "trouble"), ("panic", "alarm")}
    assert next(r.cause for r in store.list_open(conn, grid_id="g1")) in {"fire", "panic"}
    assert store.list_open(conn, grid_id="other") == []


def test_unknown_household_still_opens_an_incident(conn, policy_dir):
    raise_alert(conn, household="nobody", device="sd-9")
    [incident_id] = triage_pending(conn, PolicyBook(policy_dir), now=T0)
    row = store.load(conn, incident_id)
    assert row.household_id is None
    assert row.district is None
    note = store.get_detail(conn, incident_id).timeline[0]["note"]
    assert "not registered" in note


def test_lifecycle_through_the_store(conn, policy_dir):
    member = seed(conn)
    book = PolicyBook(policy_dir)
    raise_alert(conn)
    [iid] = triage_pending(conn, book, now=T0)
    t = T0
    for action in (Action.ACKNOWLEDGE, Action.DISPATCH, Action.ARRIVE, Action.RESOLVE):
        t += timedelta(seconds=1)
        row = store.act(
            conn, incident_id=iid, action=action, actor="op1", now=t, book=book, note="ok"
        )
    assert row.state == State.RESOLVED
    assert row.assigned_to == member
    assert row.closed_at == t
    with pytest.raises(IllegalTransition, match="cannot arrive an incident that is resolved"):
        store.act(conn, incident_id=iid, action=Action.ARRIVE, actor="op1", now=t, book=book)
    detail = store.get_detail(conn, iid)
    assert [x["action"] for x in detail.timeline] == [
        "open",
        "acknowledge",
        "dispatch",
        "arrive",
        "resolve",
    ]
    assert all(x["actor"] == "op1" for x in detail.timeline[1:])
    closed = [n for n in detail.notifications if n["kind"] == "family_closed"]
    assert len(closed) == 1
    assert "已处理完毕" in closed[0]["body"]
    assert [x["cancelled_at"] is not None or x["fired_at"] is not None for x in detail.timers] == [
        True
    ] * len(detail.timers)
    assert next_due(conn) is None
    reopened = store.act(
        conn,
        incident_id=iid,
        action=Action.REOPEN,
        actor="op1",
        now=t + timedelta(seconds=1),
        book=book,
    )
    assert reopened.state == State.NEW
    assert reopened.closed_at is None


def test_illegal_transition_changes_nothing(conn, policy_dir):
    seed(conn)
    book = PolicyBook(policy_dir)
    raise_alert(conn)
    [iid] = triage_pending(conn, book, now=T0)
    with pytest.raises(IllegalTransition, match="cannot arrive an incident that is new"):
        store.act(conn, incident_id=iid, action=Action.ARRIVE, actor="op", now=T0, book=book)
    assert [x["action"] for x in store.get_detail(conn, iid).timeline] == ["open"]


def test_dispatch_without_grid_member_is_refused_clearly(conn, policy_dir):
    raise_alert(
        conn, household=None, device="gw-1", kind="gateway_offline", signal="trouble", severity=2
    )
    book = PolicyBook(policy_dir)
    [iid] = triage_pending(conn, book, now=T0)
    with pytest.raises(IllegalTransition, match="has no grid member"):
        store.act(conn, incident_id=iid, action=Action.DISPATCH, actor="op", now=T0, book=book)


def test_missed_deadlines_escalate_tier_by_tier_once_each(conn, policy_dir):
    seed(conn)
    book = PolicyBook(policy_dir)
    raise_alert(conn, severity=4)
    [iid] = triage_pending(conn, book, now=T0)
    assert fire_due(conn, book, now=T0 + timedelta(seconds=1)) == []
    assert fire_due(conn, book, now=T0 + timedelta(seconds=2)) == [iid]
    assert fire_due(conn, book, now=T0 + timedelta(seconds=2)) == []
    assert store.load(conn, iid).escalation_tier == 1
    assert fire_due(conn, book, now=T0 + timedelta(seconds=4)) == [iid]
    assert store.load(conn, iid).escalation_tier == 2
    # Severity 4 is a confirmed fire here: the fire service is the last tier.
    assert fire_due(conn, book, now=T0 + timedelta(seconds=6)) == [iid]
    assert store.load(conn, iid).escalation_tier == 3
    assert next_due(conn) is None
    detail = store.get_detail(conn, iid)
    escalations = [x for x in detail.timeline if x["action"] == "escalate"]
    assert len(escalations) == 3
    fired = [x for x in detail.timers if x["fired_at"] is not None]
    assert len(fired) == 3
    assert "+8613900000119" in {n["recipient"] for n in detail.notifications}


def test_panic_never_reaches_the_fire_service(conn, policy_dir):
    seed(conn)
    book = PolicyBook(policy_dir)
    raise_alert(conn, kind="panic", device="pb-1", severity=4)
    [iid] = triage_pending(conn, book, now=T0)
    for s in (2, 4, 6, 8):
        fire_due(conn, book, now=T0 + timedelta(seconds=s))
    assert store.load(conn, iid).escalation_tier == 2
    recipients = {n["recipient"] for n in store.get_detail(conn, iid).notifications}
    assert "+8613900000119" not in recipients


def test_acknowledging_cancels_the_ack_timer_and_starts_dispatch(conn, policy_dir):
    seed(conn)
    book = PolicyBook(policy_dir)
    raise_alert(conn)
    [iid] = triage_pending(conn, book, now=T0)
    store.act(
        conn,
        incident_id=iid,
        action=Action.ACKNOWLEDGE,
        actor="op",
        now=T0 + timedelta(seconds=1),
        book=book,
    )
    assert fire_due(conn, book, now=T0 + timedelta(seconds=3)) == []
    assert next_due(conn) == T0 + timedelta(seconds=1 + 3)
