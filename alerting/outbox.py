"""The notification outbox's state changes: claim, sent, retry, give up, receipts and replies.

    pending ──claim──▶ sending ──provider took it──▶ sent ──receipt──▶ delivered | failed
       ▲                  │ error: retry later (backoff)        (undeliverable)
       └──────────────────┘ error past give-up, or permanent ──▶ failed

A claim is a lease: a 'sending' row whose worker died is claimed again when its lease runs out
and re-sent with the same idempotency key. Plain synchronous functions, each one transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerting import store
from alerting.sms.base import DeliveryReport, Inbound
from alerting.templates import is_acknowledgement
from vigil.db.connect import Conn

LEASE = timedelta(seconds=15)
REPLY_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Claimed:
    id: int
    key: str
    incident_id: int | None
    channel: str
    recipient: str
    body: str
    attempts: int
    first_attempt_at: datetime
    user_id: int | None
    kind: str
    language: str = "zh"
    params: dict[str, str] | None = None
    claims: int = 1

    @property
    def resend(self) -> bool:
        """Tried before: an earlier attempt may have reached the provider though we never heard
        (the notifier killed mid-send, the answer lost), so ask the provider where it can."""
        return self.claims > 1


def claim(conn: Conn, *, now: datetime, limit: int = 20, lease: timedelta = LEASE) -> list[Claimed]:
    """Take due rows (and 'sending' rows whose lease ran out) for this worker."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "update notification_outbox set status = 'sending', lease_until = %(lease)s, "
            "first_attempt_at = coalesce(first_attempt_at, %(now)s), claims = claims + 1 "
            "where id in (select id from notification_outbox where "
            "(status = 'pending' and next_attempt_at <= %(now)s) or "
            "(status = 'sending' and lease_until < %(now)s) "
            "order by next_attempt_at, id limit %(limit)s for update skip locked) "
            "returning id, idempotency_key as key, incident_id, channel, recipient, body, "
            "attempts, first_attempt_at, user_id, kind, language, params, claims",
            {"now": now, "lease": now + lease, "limit": limit},
        ).fetchall()
    return [Claimed(**r) for r in sorted(rows, key=lambda r: r["id"])]


def next_attempt_at(conn: Conn) -> datetime | None:
    row = conn.execute(
        "select min(case when status = 'pending' then next_attempt_at else lease_until end) "
        "from notification_outbox where status in ('pending', 'sending')"
    ).fetchone()
    return row[0] if row else None


def pending_by_channel(conn: Conn) -> list[tuple[str, int]]:
    """Rows waiting per channel (every channel listed, zeros included), for the gauge."""
    rows = conn.execute(
        "select c, count(o.id) from unnest(array['console', 'sms', 'grid_member', 'voice', "
        "'wecom']) c "
        "left join notification_outbox o on o.channel = c and o.status in ('pending', 'sending') "
        "group by c"
    ).fetchall()
    return [(str(c), int(n)) for c, n in rows]


def mark_sent(conn: Conn, row: Claimed, *, now: datetime, provider: str, provider_id: str) -> None:
    with conn.transaction():
        conn.execute(
            "update notification_outbox set status = 'sent', attempts = attempts + 1, "
            "sent_at = %s, provider = %s, provider_id = %s, last_error = null, "
            "lease_until = null where id = %s and status = 'sending'",
            (now, provider, provider_id, row.id),
        )
        apply_receipts(conn, now=now)
        if row.incident_id is not None:
            _sent_on_timeline(conn, row, now=now, provider_id=provider_id)
            store.announce(conn, [row.incident_id])


_SENT_ACTIONS = {
    "family_alarm": "sms_sent",
    "family_closed": "sms_sent",
    "family_call": "call_placed",
}


def _sent_on_timeline(conn: Conn, row: Claimed, *, now: datetime, provider_id: str) -> None:
    """What the family was sent goes on the incident's timeline: the SMS, the call."""
    action = _SENT_ACTIONS.get(row.kind)
    if action is None or row.incident_id is None:
        return
    what = "致电 / calling" if row.channel == "voice" else "短信 / SMS to"
    store.timeline(
        conn,
        row.incident_id,
        at=now,
        actor="system",
        action=action,
        from_state=None,
        to_state=None,
        note=f"{what} {row.recipient} ({provider_id})",
    )


def mark_cancelled(conn: Conn, row: Claimed, *, reason: str, now: datetime) -> None:
    """A planned call made moot (the family acknowledged, the incident closed) is not placed."""
    with conn.transaction():
        conn.execute(
            "update notification_outbox set status = 'cancelled', last_error = %s, "
            "lease_until = null where id = %s and status = 'sending'",
            (reason[:500], row.id),
        )
        if row.incident_id is not None:
            store.timeline(
                conn,
                row.incident_id,
                at=now,
                actor="system",
                action="call_cancelled",
                from_state=None,
                to_state=None,
                note=f"{row.recipient}: {reason}",
            )
            store.announce(conn, [row.incident_id])


def note_retry(conn: Conn, row: Claimed, *, error: str, now: datetime) -> None:
    """The first failure of a family or responder message goes on the timeline with its reason
    (later ones only to the row, so a throttled minute does not flood the timeline)."""
    if row.incident_id is None or row.attempts > 0:
        return
    store.timeline(
        conn,
        row.incident_id,
        at=now,
        actor="system",
        action="notification_delayed",
        from_state=None,
        to_state=None,
        note=f"{row.channel} to {row.recipient}: {error[:300]}",
    )
    store.announce(conn, [row.incident_id])


def push(conn: Conn, row: Claimed, *, now: datetime) -> None:
    """Deliver a console or grid-member notification: a NOTIFY the live stream forwards,
    committed together with the row's 'delivered' state, so it happens exactly once."""
    payload = {
        "id": row.id,
        "incident_id": row.incident_id,
        "channel": row.channel,
        "recipient": row.recipient,
        "user_id": row.user_id,
        "body": row.body,
    }
    with conn.transaction():
        conn.execute("select pg_notify('vigil_notification', %s)", (json.dumps(payload),))
        conn.execute(
            "update notification_outbox set status = 'delivered', attempts = attempts + 1, "
            "sent_at = %s, delivered_at = %s, provider = 'live', lease_until = null "
            "where id = %s and status = 'sending'",
            (now, now, row.id),
        )


def mark_retry(conn: Conn, row: Claimed, *, error: str, at: datetime) -> None:
    conn.execute(
        "update notification_outbox set status = 'pending', attempts = attempts + 1, "
        "next_attempt_at = %s, last_error = %s, lease_until = null "
        "where id = %s and status = 'sending'",
        (at, error[:500], row.id),
    )


def release(conn: Conn, rows: list[Claimed], *, at: datetime) -> None:
    """Give back rows not tried in this round (the provider is down): no attempt counted."""
    conn.execute(
        "update notification_outbox set status = 'pending', next_attempt_at = %s, "
        "lease_until = null where id = any(%s) and status = 'sending'",
        (at, [r.id for r in rows]),
    )


def mark_failed(conn: Conn, row: Claimed, *, error: str, now: datetime) -> None:
    """Give up, loudly: the failure goes on the incident's timeline for the operator."""
    with conn.transaction():
        conn.execute(
            "update notification_outbox set status = 'failed', attempts = attempts + 1, "
            "last_error = %s, lease_until = null where id = %s and status = 'sending'",
            (error[:500], row.id),
        )
        if row.incident_id is not None:
            store.timeline(
                conn,
                row.incident_id,
                at=now,
                actor="system",
                action="notification_failed",
                from_state=None,
                to_state=None,
                note=f"{row.channel} to {row.recipient}: {error[:200]}",
                message={
                    "code": "tl.notification_failed",
                    "params": {
                        "channel": row.channel,
                        "recipient": row.recipient,
                        "error": error[:200],
                    },
                },
            )
            store.announce(conn, [row.incident_id])


# ------------------------------------------------------------------------------------ receipts
def record_receipt(conn: Conn, provider: str, report: DeliveryReport, *, now: datetime) -> None:
    with conn.transaction():
        conn.execute(
            "insert into sms_receipts (received_at, provider, provider_id, delivered, failed, raw) "
            "values (%s, %s, %s, %s, %s, %s)",
            (now, provider, report.provider_id, report.delivered, report.failed, Jsonb(report.raw)),
        )
        apply_receipts(conn, now=now)


def apply_receipts(conn: Conn, *, now: datetime) -> int:
    """Match stored receipts to sent messages (a receipt may come before its 'sent')."""
    with conn.cursor(row_factory=dict_row) as cur:
        changed = cur.execute(
            "update notification_outbox o set "
            "  status = case when r.delivered then 'delivered' when r.failed then 'failed' "
            "                else o.status end, "
            "  delivered_at = case when r.delivered then %(now)s else o.delivered_at end, "
            "  receipt = r.raw "
            "from (select distinct on (provider, provider_id) provider, provider_id, delivered, "
            "      failed, raw from sms_receipts where applied_at is null "
            "      order by provider, provider_id, delivered desc, failed desc, id desc) r "
            "where o.provider = r.provider and o.provider_id = r.provider_id "
            "and o.status in ('sent', 'delivered', 'failed') "
            "returning o.incident_id, o.status, o.kind, o.recipient, o.receipt",
            {"now": now},
        ).fetchall()
        for r in changed:
            if r["status"] == "failed" and r["kind"] in _SENT_ACTIONS and r["incident_id"]:
                # The family's message did not arrive: the operator must know (and call).
                store.timeline(
                    conn,
                    int(r["incident_id"]),
                    at=now,
                    actor="system",
                    action="sms_undelivered",
                    from_state=None,
                    to_state=None,
                    note=f"短信未送达 / SMS not delivered to {r['recipient']}: "
                    f"{_receipt_reason(r['receipt'])}",
                )
        cur.execute(
            "update sms_receipts s set applied_at = %(now)s from notification_outbox o "
            "where s.applied_at is null and o.provider = s.provider "
            "and o.provider_id = s.provider_id and o.status <> 'sending'",
            {"now": now},
        )
        # Receipts nothing matches (later segments of a long message, strangers' ids) stop
        # being looked at after a day.
        cur.execute(
            "update sms_receipts set applied_at = %(now)s "
            "where applied_at is null and received_at < %(now)s - interval '1 day'",
            {"now": now},
        )
    store.announce(conn, {int(r["incident_id"]) for r in changed if r["incident_id"] is not None})
    return len(changed)


def _receipt_reason(receipt: object) -> str:
    """The provider's own words for a failed delivery, whichever provider it was."""
    if not isinstance(receipt, dict):
        return ""
    for key in ("err_code", "errmsg", "err_msg", "description", "stat", "MessageStatus"):
        if receipt.get(key):
            return str(receipt[key])[:100]
    return ""


# ------------------------------------------------------------------------------------ replies
def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


def record_inbound(conn: Conn, provider: str, message: Inbound, *, now: datetime) -> str:
    """A family's reply lands in the timeline of the incident they were last told about.

    Returns the outcome: 'acknowledged', 'reply', 'no_incident' or 'duplicate'.
    """
    with conn.transaction():
        sender = _digits(message.sender)
        found = conn.execute(
            "select o.incident_id from notification_outbox o where o.channel = 'sms' "
            "and o.kind = 'family_alarm' and o.created_at >= %s "
            "and regexp_replace(o.recipient, '[^0-9]', '', 'g') = %s "
            "order by o.created_at desc, o.id desc limit 1",
            (now - REPLY_WINDOW, sender),
        ).fetchone()
        incident_id = int(found[0]) if found else None
        ack = is_acknowledgement(message.body)
        outcome = "no_incident" if incident_id is None else ("acknowledged" if ack else "reply")
        inserted = conn.execute(
            "insert into sms_inbound (received_at, provider, provider_id, sender, recipient, "
            "body, incident_id, outcome) values (%s, %s, %s, %s, %s, %s, %s, %s) "
            "on conflict (provider, provider_id) where provider_id is not null do nothing "
            "returning id",
            (
                now,
                provider,
                message.provider_id,
                message.sender,
                message.recipient,
                message.body[:1000],
                incident_id,
                outcome,
            ),
        ).fetchone()
        if inserted is None:
            return "duplicate"
        if incident_id is not None:
            action = "family_ack" if ack else "family_reply"
            store.timeline(
                conn,
                incident_id,
                at=now,
                actor=f"sms:{message.sender}",
                action=action,
                from_state=None,
                to_state=None,
                note=message.body[:500],
                message={"code": "tl.family_reply", "params": {"body": message.body[:500]}},
            )
            store.announce(conn, [incident_id])
    return outcome
