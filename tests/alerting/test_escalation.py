"""Escalation policy files and the pure escalation logic, including property-based runs of a
simulated supervisor: every missed deadline escalates exactly once, and never early."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerting.errors import EscalationConfigError, IllegalTransition
from alerting.escalation import (
    DEFAULT_POLICY,
    Deadline,
    Policy,
    Stage,
    escalate,
    load_policy,
    next_tier,
    parse_policy,
    pending_deadline,
    policy_path,
    tiers_to_notify,
)
from alerting.lifecycle import (
    CLOSED_STATES,
    Action,
    Incident,
    allowed_actions,
    apply,
    open_incident,
)
from tests.alerting.fix_alerting import FAST_POLICY

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def _raw() -> dict[str, Any]:
    return tomllib.loads(FAST_POLICY)


def test_the_bundled_policy_loads() -> None:
    policy = load_policy(DEFAULT_POLICY)
    assert [t.name for t in policy.tiers] == [
        "grid",
        "community",
        "street",
        "district",
        "fire_service",
    ]
    assert policy.deadlines[4].acknowledge == timedelta(seconds=15)
    assert policy.tiers[policy.start_tier("panic", 5)].name == "grid"
    assert policy.tiers[policy.start_tier("fire", 5)].name == "street"
    assert policy.tiers[policy.start_tier("fire", 4)].name == "grid"
    assert policy.tiers[-1].only_confirmed_fire


def _broken(change: Any) -> dict[str, Any]:
    raw = _raw()
    change(raw)
    return raw


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("district"), "district: must be a non-empty string"),
        (lambda r: r["severity"].pop("3"), r"severity: missing severities \[3\]"),
        (lambda r: r["severity"]["4"].update(acknowledge_s=0), "severity.4.acknowledge_s"),
        (lambda r: r["severity"]["5"].update(start_tier="mayor"), "unknown tier 'mayor'"),
        (lambda r: r["severity"]["5"].update(start_tier="fire_service"), "only for confirmed"),
        (lambda r: r["severity"].update({"6": {}}), "severity.6: severities are 1..5"),
        (lambda r: r["severity"]["4"].update(top_tier="moon"), "severity.4.top_tier"),
        (lambda r: r["severity"]["5"].update(top_tier="grid"), "comes before start_tier"),
        (lambda r: r["tier"][1].update(name="grid"), "tier 'grid' appears twice"),
        (lambda r: r["tier"][1].update(channels=["pager"]), r"tier\[1\].channels"),
        (lambda r: r["tier"][1]["people"][0].update(phone="12"), r"people\[0\].phone"),
        (lambda r: r["tier"][0]["people"][0].update(role="mayor"), r"people\[0\].role"),
        (lambda r: r["tier"][1].update(people=[]), "at least one person"),
        (lambda r: r["tier"][0].update(only_confirmed_fire=True), "first tier must apply"),
        (lambda r: r["tier"][0].update(colour="red"), r"unknown keys \['colour'\]"),
        (lambda r: r.update(tier=[]), "at least one"),
        (lambda r: r.update(extra=1), r"unknown keys \['extra'\]"),
        (lambda r: r["fire"].update(confirmed_severity=9), "fire.confirmed_severity"),
        (lambda r: r["fire"].update(confirmed_start_tier="x"), "fire.confirmed_start_tier"),
        (lambda r: r["fire"].update(colour=1), r"fire: unknown keys \['colour'\]"),
    ],
)
def test_bad_policies_are_refused_with_the_field_named(change: Any, message: str) -> None:
    with pytest.raises(EscalationConfigError, match=message) as caught:
        parse_policy(_broken(change), source="district.toml")
    assert str(caught.value).startswith("district.toml: ")


def test_unreadable_and_invalid_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(EscalationConfigError, match="cannot read"):
        load_policy(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("district = ", encoding="utf-8")
    with pytest.raises(EscalationConfigError, match=r"bad\.toml: not valid TOML"):
        load_policy(bad)


def test_policy_path_prefers_the_districts_own_file(tmp_path: Path) -> None:
    (tmp_path / "east.toml").write_text(FAST_POLICY, encoding="utf-8")
    assert policy_path(tmp_path, "east") == tmp_path / "east.toml"
    assert policy_path(tmp_path, "west") == DEFAULT_POLICY
    assert policy_path(None, "east") == DEFAULT_POLICY


POLICY = parse_policy(_raw())


def test_escalation_stops_at_the_severitys_top_tier() -> None:
    policy = load_policy(DEFAULT_POLICY)
    battery = open_incident(cause="battery_low", severity=1, tier=0, now=T0)
    assert next_tier(battery, policy) == 1
    assert next_tier(replace(battery, tier=1), policy) is None
    assert pending_deadline(replace(battery, tier=1), policy) is None


def test_fire_service_only_for_a_confirmed_fire() -> None:
    fire = open_incident(cause="fire", severity=4, tier=2, now=T0)
    assert next_tier(fire, POLICY) == 3
    small_fire = replace(fire, severity=3)
    assert next_tier(small_fire, POLICY) is None
    panic = replace(fire, cause="panic")
    assert next_tier(panic, POLICY) is None
    assert tiers_to_notify(POLICY, cause="panic", severity=5, upto=3) == [0, 1, 2]


def test_deadline_runs_from_the_stage_start_or_the_last_escalation() -> None:
    incident = open_incident(cause="panic", severity=4, tier=0, now=T0)
    assert pending_deadline(incident, POLICY) == Deadline(
        Stage.ACKNOWLEDGE, 0, T0 + timedelta(seconds=2)
    )
    moved = escalate(incident, POLICY, now=T0 + timedelta(seconds=5), actor="system")
    assert moved is not None
    after, tier = moved
    assert tier == 1
    assert pending_deadline(after, POLICY) == Deadline(
        Stage.ACKNOWLEDGE, 1, T0 + timedelta(seconds=7)
    )
    acked, _ = apply(after, Action.ACKNOWLEDGE, actor="op", now=T0 + timedelta(seconds=8))
    assert pending_deadline(acked, POLICY) == Deadline(
        Stage.DISPATCH, 1, T0 + timedelta(seconds=11)
    )
    at_top = replace(acked, tier=2)
    assert pending_deadline(at_top, POLICY) is None
    assert escalate(at_top, POLICY, now=T0, actor="op") is None


def test_escalating_a_closed_incident_is_illegal() -> None:
    closed, _ = apply(
        open_incident(cause="fire", severity=4, tier=0, now=T0), Action.RESOLVE, actor="op", now=T0
    )
    with pytest.raises(IllegalTransition):
        escalate(closed, POLICY, now=T0, actor="system")


# ------------------------------------------------------------------- simulated supervisor
@dataclass
class Fired:
    deadline: Deadline
    at: datetime
    tier_before: int
    tier_after: int


def _supervise(
    incident: Incident, policy: Policy, armed: Deadline | None, until: datetime, fired: list[Fired]
) -> tuple[Incident, Deadline | None]:
    """What the database supervisor does, in memory: fire each due deadline at its due time."""
    while armed is not None and armed.due_at <= until:
        moved = escalate(incident, policy, now=armed.due_at, actor="system")
        assert moved is not None, "a deadline is only armed when there is a tier above"
        after, tier = moved
        fired.append(Fired(armed, armed.due_at, incident.tier, tier))
        incident = after
        armed = pending_deadline(incident, policy)
    return incident, armed


steps = st.lists(
    st.tuples(st.sampled_from([a for a in Action if a != Action.NOTE]), st.integers(0, 8)),
    max_size=30,
)


@settings(max_examples=300)
@given(steps, st.sampled_from(["fire", "panic"]), st.integers(1, 5))
def test_every_missed_deadline_escalates_exactly_once(
    script: list[tuple[Action, int]], cause: str, severity: int
) -> None:
    policy = POLICY
    incident = open_incident(
        cause=cause, severity=severity, tier=policy.start_tier(cause, severity), now=T0
    )
    armed = pending_deadline(incident, policy)
    fired: list[Fired] = []
    now = T0
    for action, dt in script:
        now += timedelta(seconds=dt)
        incident, armed = _supervise(incident, policy, armed, now, fired)
        if action in allowed_actions(incident.state):
            if action == Action.ESCALATE:
                moved = escalate(incident, policy, now=now, actor="op")
                if moved is not None:
                    incident = moved[0]
            else:
                incident, _ = apply(incident, action, actor="op", now=now)
        armed = pending_deadline(incident, policy)
        # Invariants after every step:
        assert armed is None or armed.due_at > now
        if incident.state in CLOSED_STATES:
            assert armed is None
        assert 0 <= incident.tier < len(policy.tiers)
        if policy.tiers[incident.tier].only_confirmed_fire:
            assert policy.is_confirmed_fire(cause, severity)
    incident, armed = _supervise(incident, policy, armed, now + timedelta(hours=1), fired)
    keys = [(f.deadline.stage, f.deadline.tier, f.deadline.due_at) for f in fired]
    assert len(keys) == len(set(keys)), "a deadline fired twice"
    for f in fired:
        assert f.at == f.deadline.due_at, "fired early or late"
        assert f.tier_after > f.tier_before, "a firing that did not escalate"
        assert f.deadline.tier == f.tier_before
    assert armed is None, "a deadline left running an hour after the last action"
