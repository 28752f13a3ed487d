"""Who is told, on which channel, in which language: the plan, decided without a database."""

from __future__ import annotations

from datetime import UTC, datetime

from alerting import plan
from alerting.escalation import load_policy, policy_path
from alerting.lifecycle import State
from alerting.plan import Person
from alerting.store import IncidentRow
from alerting.templates import Place

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
PLACE = Place("幸福路 1 号", "2-301")
POLICY = load_policy(policy_path(None, None))  # the bundled escalation.toml


def _row(severity: int = 5, cause: str = "panic", household: str | None = "h-1") -> IncidentRow:
    return IncidentRow(
        id=7, household_id=household, cause=cause, signal="alarm", severity=severity,
        state=State.NEW, opened_at=NOW, updated_at=NOW, closed_at=None, assigned_to=None,
        escalation_tier=0, hops={}, grid_id="g-1",
    )  # fmt: skip


GRID = {"grid_member": [Person(3, "wang", "+8613800000003", "zh"), Person(4, "li", None, "en")]}


def test_the_grid_tier_tells_each_grid_member_on_their_page_and_by_sms_when_they_have_a_phone() -> (
    None
):
    notices = plan.responders(
        _row(), POLICY, tiers=[0], entry=11, place=PLACE, reason="", users=GRID
    )
    by_key = {n.key: n for n in notices}
    assert set(by_key) == {
        "t11:console:grid",
        "t11:grid_member:3",
        "t11:sms:+8613800000003",
        "t11:grid_member:4",
    }
    assert by_key["t11:grid_member:4"].language == "en"
    assert by_key["t11:sms:+8613800000003"].tier == 0
    assert "7" in by_key["t11:console:grid"].body


def test_below_the_policys_sms_severity_responders_get_no_sms() -> None:
    low = _row(severity=POLICY.sms_min_severity - 1)
    notices = plan.responders(low, POLICY, tiers=[0], entry=1, place=PLACE, reason="", users=GRID)
    assert [n.channel for n in notices if n.channel == "sms"] == []
    assert {n.channel for n in notices} == {"console", "grid_member"}


def test_a_named_duty_desk_is_told_by_its_own_phone_and_the_same_change_keeps_its_keys() -> None:
    community = next(i for i, t in enumerate(POLICY.tiers) if t.name == "community")
    first = plan.responders(
        _row(), POLICY, tiers=[community], entry=5, place=PLACE, reason="超时", users={}
    )
    again = plan.responders(
        _row(), POLICY, tiers=[community], entry=5, place=PLACE, reason="超时", users={}
    )
    assert first == again
    assert any(n.recipient == "+8613800000101" and n.channel == "sms" for n in first)


def test_families_are_told_in_their_language_and_closing_goes_only_to_those_told() -> None:
    contacts = [("+8613900000001", "zh"), ("+447700900000", "en")]
    alarm = plan.family_alarm(_row(), entry=2, place=PLACE, contacts=contacts)  # type: ignore[arg-type]
    assert [(n.recipient, n.language, n.kind) for n in alarm] == [
        ("+8613900000001", "zh", "family_alarm"),
        ("+447700900000", "en", "family_alarm"),
    ]
    assert "幸福路" in alarm[0].body
    told = [("+8613900000001", "zh")]
    closed = plan.family_closed(_row(), entry=9, place=PLACE, outcome="resolved", told=told)  # type: ignore[arg-type]
    assert [(n.key, n.kind) for n in closed] == [("t9:sms:+8613900000001", "family_closed")]


def test_an_incident_without_a_household_tells_no_family() -> None:
    row = _row(household=None)
    assert plan.family_alarm(row, entry=1, place=PLACE, contacts=[("+8613900000001", "zh")]) == []


def test_a_dispatch_reaches_the_assignee_only() -> None:
    assignee = Person(3, "wang", "+8613800000003", "zh")
    notices = plan.dispatched(_row(), POLICY, entry=4, place=PLACE, assignee=assignee)
    assert {(n.channel, n.recipient) for n in notices} == {
        ("grid_member", "wang"),
        ("sms", "+8613800000003"),
    }
    assert plan.dispatched(_row(), POLICY, entry=4, place=PLACE, assignee=None) == []
