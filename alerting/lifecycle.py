"""The incident lifecycle as a pure state machine: handed `now`, it reads no clock and does no I/O.

    new ──acknowledge──▶ acknowledged ──dispatch──▶ dispatched ──arrive──▶ on_site
     │  └──────────────dispatch──────────────────▶     │ (re-dispatch)       │
     └──────┴── resolve | false_alarm | mark_test ─────┴─────────────────────┴──▶ closed
    closed (resolved, false_alarm, test) ──reopen──▶ new

`note` is allowed in every state and `escalate` in every open one; neither changes the state.
The store drives this machine and writes each `Change` to the incident's timeline.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from alerting.errors import IllegalTransition


class State(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    ON_SITE = "on_site"
    RESOLVED = "resolved"
    FALSE_ALARM = "false_alarm"
    TEST = "test"


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    DISPATCH = "dispatch"
    ARRIVE = "arrive"
    RESOLVE = "resolve"
    FALSE_ALARM = "false_alarm"
    MARK_TEST = "mark_test"
    REOPEN = "reopen"
    NOTE = "note"
    ESCALATE = "escalate"


CLOSED_STATES = frozenset({State.RESOLVED, State.FALSE_ALARM, State.TEST})
OPEN_STATES = frozenset(State) - CLOSED_STATES

_CLOSE = {
    Action.RESOLVE: State.RESOLVED,
    Action.FALSE_ALARM: State.FALSE_ALARM,
    Action.MARK_TEST: State.TEST,
}

# Where each state-changing action leads from each state; absent pairs are illegal.
TRANSITIONS: dict[State, dict[Action, State]] = {
    State.NEW: {
        Action.ACKNOWLEDGE: State.ACKNOWLEDGED,
        Action.DISPATCH: State.DISPATCHED,
        **_CLOSE,
    },
    State.ACKNOWLEDGED: {Action.DISPATCH: State.DISPATCHED, **_CLOSE},
    State.DISPATCHED: {
        Action.DISPATCH: State.DISPATCHED,  # sent to someone else
        Action.ARRIVE: State.ON_SITE,
        **_CLOSE,
    },
    State.ON_SITE: dict(_CLOSE),
    State.RESOLVED: {Action.REOPEN: State.NEW},
    State.FALSE_ALARM: {Action.REOPEN: State.NEW},
    State.TEST: {Action.REOPEN: State.NEW},
}


@dataclass(frozen=True)
class Incident:
    """What the lifecycle and the escalation supervisor need to know about one incident.

    `stage_started_at` is when the clock of the current deadline started: opening, reopening,
    acknowledging or dispatching; `escalated_at` restarts it after each escalation.
    """

    cause: str
    severity: int
    state: State
    tier: int
    opened_at: datetime
    updated_at: datetime
    stage_started_at: datetime
    acknowledged_at: datetime | None = None
    dispatched_at: datetime | None = None
    arrived_at: datetime | None = None
    closed_at: datetime | None = None
    escalated_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


@dataclass(frozen=True)
class Change:
    """One timeline entry: who did what, when, and the state before and after."""

    action: Action
    actor: str
    at: datetime
    from_state: State
    to_state: State
    note: str | None


def open_incident(*, cause: str, severity: int, tier: int, now: datetime) -> Incident:
    """A new incident, as the first alert of its household and cause opens it."""
    if not 1 <= severity <= 5:
        raise ValueError(f"severity must be 1..5, got {severity}")
    return Incident(
        cause=cause,
        severity=severity,
        state=State.NEW,
        tier=tier,
        opened_at=now,
        updated_at=now,
        stage_started_at=now,
    )


def allowed_actions(state: State) -> frozenset[Action]:
    """Every action the state accepts, including the ones that keep it."""
    keep = {Action.NOTE} | ({Action.ESCALATE} if state in OPEN_STATES else set())
    return frozenset(TRANSITIONS[state]) | keep


def apply(
    incident: Incident,
    action: Action,
    *,
    actor: str,
    now: datetime,
    note: str | None = None,
) -> tuple[Incident, Change]:
    """The incident after `action` at `now`, and the change to record; refuses illegal actions."""
    state = incident.state
    if action not in allowed_actions(state):
        legal = ", ".join(sorted(allowed_actions(state)))
        raise IllegalTransition(action, state, f"allowed: {legal}")
    if action is Action.NOTE and not (note and note.strip()):
        raise IllegalTransition(action, state, "a note needs text")
    target = TRANSITIONS[state].get(action, state)
    after = replace(incident, state=target, updated_at=now)
    if action is Action.ACKNOWLEDGE:
        after = replace(after, acknowledged_at=now, stage_started_at=now)
    elif action is Action.DISPATCH:
        after = replace(
            after,
            acknowledged_at=incident.acknowledged_at or now,
            dispatched_at=now,
            stage_started_at=now,
        )
    elif action is Action.ARRIVE:
        after = replace(after, arrived_at=now)
    elif action in _CLOSE:
        after = replace(after, closed_at=now)
    elif action is Action.REOPEN:
        after = replace(
            after,
            acknowledged_at=None,
            dispatched_at=None,
            arrived_at=None,
            closed_at=None,
            escalated_at=None,
            stage_started_at=now,
        )
    return after, Change(action, actor, now, state, target, note)
