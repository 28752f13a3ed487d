"""The escalation supervisor: fires the timers whose deadline has passed, each exactly once.

Timers are rows (`escalation_timers`), so a restart loses none: the next supervisor fires
every overdue one at once and sleeps until the next. A timer fires in the transaction that
escalates its incident; the incident row is locked first (as every other change does) and the
timer is re-read under that lock, so two supervisors never fire the same timer.
"""

from __future__ import annotations

from datetime import datetime

from alerting import notify, store, words
from alerting.escalation import Stage, escalate, pending_deadline
from alerting.policies import PolicyBook
from vigil.db.connect import Conn
from vigil.observability import ALERTING_ESCALATIONS_TOTAL


def next_due(conn: Conn) -> datetime | None:
    """When the earliest running timer runs out."""
    row = conn.execute(
        "select min(due_at) from escalation_timers where fired_at is null and cancelled_at is null"
    ).fetchone()
    return row[0] if row else None


def fire_due(conn: Conn, book: PolicyBook, *, now: datetime, limit: int = 100) -> list[int]:
    """Escalate every incident whose timer ran out by `now`; returns the incidents changed."""
    due = conn.execute(
        "select id, incident_id from escalation_timers where fired_at is null "
        "and cancelled_at is null and due_at <= %s order by due_at limit %s",
        (now, limit),
    ).fetchall()
    changed = []
    for timer_id, incident_id in due:
        if _fire(conn, book, int(timer_id), int(incident_id), now):
            changed.append(int(incident_id))
    return changed


def _fire(conn: Conn, book: PolicyBook, timer_id: int, incident_id: int, now: datetime) -> bool:
    with conn.transaction():
        row = store.load(conn, incident_id, lock=True)
        timer = conn.execute(
            "select stage, tier, due_at from escalation_timers where id = %s "
            "and fired_at is null and cancelled_at is null for update",
            (timer_id,),
        ).fetchone()
        if timer is None:
            return False  # fired or replaced meanwhile
        policy = book.for_district(row.district)
        stage = Stage(timer[0])
        expected = pending_deadline(row.lifecycle(), policy)
        if expected is None or (expected.stage, expected.tier, expected.due_at) != (
            stage,
            timer[1],
            timer[2],
        ):
            # Stale: the policy file changed, or a writer forgot to replan. Put it right.
            store.replan_timer(conn, row, policy, now=now)
            return False
        moved = escalate(row.lifecycle(), policy, now=now, actor="system")
        conn.execute("update escalation_timers set fired_at = %s where id = %s", (now, timer_id))
        if moved is None:
            return False
        after, tier = moved
        names = policy.tiers
        late = (now - timer[2]).total_seconds()
        message = words.escalation_entry(
            stage=stage.value,
            tier_from=(names[row.escalation_tier].title, names[row.escalation_tier].title_en),
            tier_to=(names[tier].title, names[tier].title_en),
            deadline=timer[2],
            stage_started_at=row.stage_started_at,
            late_s=late,
        )
        entry = store.timeline(
            conn,
            incident_id,
            at=now,
            actor="system",
            action="escalate",
            from_state=str(row.state),
            to_state=str(row.state),
            note=f"{words.english(message)} (fired {late:.3f} s late)",
            message=message,
        )
        saved = store.save(conn, incident_id, after)
        notify.responders(
            conn,
            saved,
            policy,
            tiers=[tier],
            entry=entry,
            place=notify.place_of(conn, saved),
            reason=stage.value,
        )
        store.replan_timer(conn, saved, policy, now=now)
        store.announce(conn, [incident_id], outbox=True)
    ALERTING_ESCALATIONS_TOTAL.labels(tier=policy.tiers[tier].name).inc()
    return True
