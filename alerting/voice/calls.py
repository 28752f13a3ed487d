"""Family calls: planned after a family SMS, placed by the notifier, settled by receipts.

    family SMS ──after_s, nobody acknowledged──▶ call contact 1 ──key 1──▶ family_ack
                                                      │ no answer / other key / no key
                                                      ▼
                                                 call contact 2 … ──none left──▶ next tier

Each call is an outbox row (channel 'voice', `call_order` its place in the calling order);
the next one is written in the transaction that settles the last, so a crash anywhere loses
none and places none twice. Receipts are recorded (`voice_events`) before they are acted on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerting import notify, store
from alerting.escalation import Policy, escalate
from alerting.lifecycle import State
from alerting.policies import PolicyBook
from alerting.store import IncidentRow
from alerting.templates import Language, Place, family_call_params
from alerting.voice.base import ACK_KEY, CALL_RESULTS, FINAL_CODES
from vigil.db.connect import Conn

CLOSED = frozenset({State.RESOLVED, State.FALSE_ALARM, State.TEST})


@dataclass(frozen=True)
class VoiceEvent:
    """One receipt of a call: its status code, and the keys pressed if any."""

    call_id: str
    status_code: str
    dtmf: str | None
    raw: dict[str, Any]


def _contacts(conn: Conn, household_id: str) -> list[tuple[str, str, str]]:
    """(phone, language, resident name) of the household's current contacts in calling order."""
    rows = conn.execute(
        "select c.phone, c.language, r.name, min(c.priority) as p, min(c.id) as i "
        "from contacts c join residents r on r.id = c.resident_id "
        "where r.household_id = %s and r.retired_at is null and c.retired_at is null "
        "group by c.phone, c.language, r.name order by p, i",
        (household_id,),
    ).fetchall()
    seen: set[str] = set()
    ordered = []
    for phone, language, name, _, _ in rows:
        if phone not in seen:
            seen.add(phone)
            ordered.append((str(phone), str(language), str(name)))
    return ordered


def plan(
    conn: Conn,
    row: IncidentRow,
    policy: Policy,
    *,
    entry: int,
    place: Place,
    now: datetime,
    order: int = 0,
) -> bool:
    """Write the call to the `order`-th contact (due after the policy's delay for the first,
    at once for the next); False when the policy calls nobody or nobody is left."""
    rule = policy.family_call
    if rule is None or row.household_id is None or not rule.applies(row.cause, row.severity):
        return False
    contacts = _contacts(conn, row.household_id)
    if order >= len(contacts):
        return False
    phone, language, name = contacts[order]
    lang: Language = "en" if language == "en" else "zh"
    due = now + rule.after if order == 0 else now
    if policy.quiet_hours is not None:
        due = max(due, policy.quiet_hours.not_before(due, row.severity))
    params = family_call_params(lang, name=name, cause=row.cause, place=place)
    spoken = f"您的家人{params['name']}家中{params['what']}（{params['place']}），请按1确认"
    conn.execute(
        "insert into notification_outbox (idempotency_key, incident_id, channel, recipient, "
        "language, body, kind, params, call_order, next_attempt_at) "
        "values (%s, %s, 'voice', %s, %s, %s, 'family_call', %s, %s, %s) "
        "on conflict (idempotency_key) do nothing",
        (f"t{entry}:voice:{order}", row.id, phone, lang, spoken, Jsonb(params), order, due),
    )
    return True


def moot(conn: Conn, incident_id: int) -> str | None:
    """Why a planned call is no longer needed: the family acknowledged, or it is over."""
    found = conn.execute(
        "select i.state, exists (select 1 from incident_timeline t where t.incident_id = i.id "
        "and t.action = 'family_ack') from incidents i where i.id = %s",
        (incident_id,),
    ).fetchone()
    if found is None:
        return "事件不存在 / no such incident"
    if found[1]:
        return "家属已确认 / the family already acknowledged"
    if State(found[0]) in CLOSED:
        return "事件已关闭 / the incident is closed"
    return None


def record(conn: Conn, book: PolicyBook, provider: str, event: VoiceEvent, *, now: datetime) -> str:
    """Store a call receipt and act on it; returns what it did ('acknowledged', 'next_contact',
    'escalated', 'recorded', 'unknown_call')."""
    with conn.transaction():
        conn.execute(
            "insert into voice_events (received_at, provider, call_id, status_code, dtmf, raw) "
            "values (%s, %s, %s, %s, %s, %s)",
            (now, provider, event.call_id, event.status_code, event.dtmf, Jsonb(event.raw)),
        )
        return _apply(conn, book, provider, event, now)


def apply_early(conn: Conn, book: PolicyBook, provider: str, call_id: str, *, now: datetime) -> int:
    """Receipts that came before the call was recorded as placed (the provider was quicker
    than our commit), acted on now, in their order; returns how many."""
    events = conn.execute(
        "select status_code, dtmf, raw from voice_events where provider = %s and call_id = %s "
        "and applied_at is null order by id",
        (provider, call_id),
    ).fetchall()
    for status_code, dtmf, raw in events:
        with conn.transaction():
            _apply(conn, book, provider, VoiceEvent(call_id, status_code, dtmf, raw), now)
    return len(events)


def _apply(conn: Conn, book: PolicyBook, provider: str, event: VoiceEvent, now: datetime) -> str:
    """Act on one stored receipt, in the caller's transaction."""
    found = conn.execute(
        "select incident_id from notification_outbox where channel = 'voice' "
        "and provider = %s and provider_id = %s",
        (provider, event.call_id),
    ).fetchone()
    if found is None or found[0] is None:
        return "unknown_call"
    incident = store.load(conn, int(found[0]), lock=True)  # the incident first, as always
    with conn.cursor(row_factory=dict_row) as cur:
        call = cur.execute(
            "select id, recipient, status, call_order from notification_outbox "
            "where channel = 'voice' and provider = %s and provider_id = %s for update",
            (provider, event.call_id),
        ).fetchone()
    assert call is not None
    conn.execute(
        "update voice_events set applied_at = %s where provider = %s and call_id = %s",
        (now, provider, event.call_id),
    )
    if call["status"] != "sent":
        return "recorded"  # settled already: a repeated or late receipt
    actor = f"voice:{call['recipient']}"
    if event.dtmf:
        store.timeline(
            conn,
            incident.id,
            at=now,
            actor=actor,
            action="call_key",
            from_state=None,
            to_state=None,
            note=f"按键 {event.dtmf} / key {event.dtmf} pressed",
        )
        if event.dtmf.startswith(ACK_KEY):
            return _acknowledged(conn, incident, call, actor, now)
    if event.status_code not in FINAL_CODES:
        store.announce(conn, [incident.id])
        return "recorded"
    return _unanswered(conn, book, incident, call, event, now)


def _acknowledged(
    conn: Conn, incident: IncidentRow, call: dict[str, Any], actor: str, now: datetime
) -> str:
    conn.execute(
        "update notification_outbox set status = 'delivered', delivered_at = %s where id = %s",
        (now, call["id"]),
    )
    store.timeline(
        conn,
        incident.id,
        at=now,
        actor=actor,
        action="family_ack",
        from_state=None,
        to_state=None,
        note="家属电话按1确认 / the family confirmed by phone (key 1)",
    )
    store.announce(conn, [incident.id])
    return "acknowledged"


def _unanswered(  # noqa: PLR0917 (one step of `record`, its state handed on)
    conn: Conn,
    book: PolicyBook,
    incident: IncidentRow,
    call: dict[str, Any],
    event: VoiceEvent,
    now: datetime,
) -> str:
    result = CALL_RESULTS.get(event.status_code, f"呼叫结束 / call ended ({event.status_code})")
    if event.status_code in ("200000", "200100"):
        result = "已接听未按1 / answered, no key 1"
    conn.execute(
        "update notification_outbox set status = 'failed', last_error = %s where id = %s",
        (result, call["id"]),
    )
    entry = store.timeline(
        conn,
        incident.id,
        at=now,
        actor=f"voice:{call['recipient']}",
        action="call_unanswered",
        from_state=None,
        to_state=None,
        note=result,
    )
    store.announce(conn, [incident.id], outbox=True)
    if incident.state in CLOSED:
        return "recorded"
    policy = book.for_district(incident.district)
    place = notify.place_of(conn, incident)
    if plan(
        conn, incident, policy, entry=entry, place=place, now=now, order=call["call_order"] + 1
    ):
        return "next_contact"
    return _escalate(conn, incident, policy, place, now)


def _escalate(
    conn: Conn, incident: IncidentRow, policy: Policy, place: Place, now: datetime
) -> str:
    """No contact confirmed: the next tier hears of it, with the reason."""
    moved = escalate(incident.lifecycle(), policy, now=now, actor="system")
    if moved is None:
        store.timeline(
            conn,
            incident.id,
            at=now,
            actor="system",
            action="family_unreached",
            from_state=None,
            to_state=None,
            note="家属均未接通确认，已无更高层级 / no family member confirmed; no tier above",
        )
        return "recorded"
    after, tier = moved
    entry = store.timeline(
        conn,
        incident.id,
        at=now,
        actor="system",
        action="escalate",
        from_state=str(incident.state),
        to_state=str(incident.state),
        note=(
            f"家属电话未确认 / family not reached by phone: "
            f"{policy.tiers[incident.escalation_tier].title_en} → {policy.tiers[tier].title_en}"
        ),
    )
    saved = store.save(conn, incident.id, after)
    notify.responders(
        conn, saved, policy, tiers=[tier], entry=entry, place=place, reason="family_call"
    )
    store.replan_timer(conn, saved, policy, now=now)
    store.announce(conn, [incident.id], outbox=True)
    return "escalated"
