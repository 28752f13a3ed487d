"""The incident lifecycle as a pure state machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerting.errors import IllegalTransition
from alerting.lifecycle import (
    CLOSED_STATES,
    TRANSITIONS,
    Action,
    Incident,
    State,
    allowed_actions,
    apply,
    open_incident,
)

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def _at(state_path: list[Action]) -> Incident:
    incident = open_incident(cause="fire", severity=4, tier=0, now=T0)
    for i, action in enumerate(state_path, 1):
        incident, _ = apply(incident, action, actor="op", now=T0 + timedelta(seconds=i))
    return incident


@pytest.mark.parametrize(
    ("path", "action", "expected"),
    [
        ([], Action.ACKNOWLEDGE, State.ACKNOWLEDGED),
        ([], Action.DISPATCH, State.DISPATCHED),
        ([], Action.FALSE_ALARM, State.FALSE_ALARM),
        ([Action.ACKNOWLEDGE], Action.DISPATCH, State.DISPATCHED),
        ([Action.DISPATCH], Action.DISPATCH, State.DISPATCHED),
        ([Action.DISPATCH], Action.ARRIVE, State.ON_SITE),
        ([Action.DISPATCH, Action.ARRIVE], Action.RESOLVE, State.RESOLVED),
        ([Action.MARK_TEST], Action.REOPEN, State.NEW),
        ([Action.RESOLVE], Action.REOPEN, State.NEW),
    ],
)
def test_legal_transitions(path: list[Action], action: Action, expected: State) -> None:
    after, change = apply(_at(path), action, actor="op", now=T0 + timedelta(minutes=5))
    assert after.state == expected
    assert change.to_state == expected
    assert change.at == T0 + timedelta(minutes=5)


@pytest.mark.parametrize(
    ("path", "action", "message"),
    [
        ([], Action.ARRIVE, "cannot arrive an incident that is new"),
        ([], Action.REOPEN, "cannot reopen an incident that is new"),
        (
            [Action.ACKNOWLEDGE],
            Action.ACKNOWLEDGE,
            "cannot acknowledge an incident that is acknowledged",
        ),
        ([Action.RESOLVE], Action.RESOLVE, "cannot resolve an incident that is resolved"),
        ([Action.RESOLVE], Action.ESCALATE, "cannot escalate an incident that is resolved"),
        (
            [Action.DISPATCH, Action.ARRIVE],
            Action.DISPATCH,
            "cannot dispatch an incident that is on_site",
        ),
    ],
)
def test_illegal_transitions_say_which_action_from_which_state(
    path: list[Action], action: Action, message: str
) -> None:
    with pytest.raises(IllegalTransition, match=message) as caught:
        apply(_at(path), action, actor="op", now=T0)
    assert caught.value.action == action
    assert "allowed:" in str(caught.value)


def test_a_note_needs_text_and_keeps_the_state() -> None:
    incident = _at([Action.DISPATCH])
    with pytest.raises(IllegalTransition, match="a note needs text"):
        apply(incident, Action.NOTE, actor="op", now=T0, note="  ")
    after, change = apply(incident, Action.NOTE, actor="op", now=T0, note="called the son")
    assert after.state == State.DISPATCHED
    assert change.note == "called the son"


def test_open_incident_refuses_bad_severity() -> None:
    with pytest.raises(ValueError, match=r"severity must be 1\.\.5"):
        open_incident(cause="fire", severity=6, tier=0, now=T0)


def _consistent(incident: Incident) -> None:
    state = incident.state
    assert (incident.closed_at is not None) == (state in CLOSED_STATES)
    if state in {State.ACKNOWLEDGED, State.DISPATCHED, State.ON_SITE}:
        assert incident.acknowledged_at is not None
    if state in {State.DISPATCHED, State.ON_SITE}:
        assert incident.dispatched_at is not None
    if state == State.ON_SITE:
        assert incident.arrived_at is not None
    if state == State.NEW:
        assert incident.acknowledged_at is None
    assert incident.stage_started_at <= incident.updated_at


@given(st.lists(st.tuples(st.sampled_from(list(Action)), st.integers(0, 600)), max_size=40))
def test_no_sequence_of_actions_reaches_an_illegal_state(
    steps: list[tuple[Action, int]],
) -> None:
    incident = open_incident(cause="panic", severity=4, tier=0, now=T0)
    now = T0
    for action, dt in steps:
        now += timedelta(seconds=dt)
        before = incident
        if action in allowed_actions(incident.state):
            incident, change = apply(incident, action, actor="op", now=now, note="n")
            assert change.from_state == before.state
            assert incident.state == TRANSITIONS[before.state].get(action, before.state)
            assert incident.updated_at == now
        else:
            with pytest.raises(IllegalTransition):
                apply(incident, action, actor="op", now=now, note="n")
            assert incident == before
        _consistent(incident)
