"""Web Push (RFC 8030, payload encrypted per RFC 8291, VAPID per RFC 8292) to grid members'
phones, through the outbox like an SMS.

Every grid-member notice the plan writes (a dispatch, an escalation) is fanned out here, in the
same transaction, to one `webpush` outbox row per browser the user subscribed from; the row's
idempotency key is the notice's key plus the subscription, so a replayed change writes nothing
twice. The notifier sends each with `pywebpush`; a push service that says the subscription is
gone (404/410) revokes it, any other failure is retried like an SMS (at least once; a push
service deduplicates nothing, but the outbox claims each row once per lease).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from alerting.plan import Notice

if TYPE_CHECKING:
    from vigil.db.connect import Conn

CHANNEL = "webpush"
TTL_S = 3600  # a dispatch an hour old is no news: the push service may drop it after that


def fan_out(conn: Conn, incident_id: int, notices: Iterable[Notice]) -> int:
    """One `webpush` row per live subscription of each grid-member notice's user."""
    written = 0
    for n in notices:
        if n.channel != "grid_member" or n.user_id is None:
            continue
        subs = conn.execute(
            "select id from push_subscriptions where user_id = %s and revoked_at is null",
            (n.user_id,),
        ).fetchall()
        for (sub_id,) in subs:
            cur = conn.execute(
                "insert into notification_outbox (idempotency_key, incident_id, channel, "
                "recipient, language, body, kind, tier, user_id) "
                "values (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "on conflict (idempotency_key) do nothing",
                (
                    f"{n.key}:webpush:{sub_id}",
                    incident_id,
                    CHANNEL,
                    f"sub:{sub_id}",
                    n.language,
                    n.body,
                    n.kind,
                    n.tier,
                    n.user_id,
                ),
            )
            written += cur.rowcount
    return written


@dataclass(frozen=True)
class Outcome:
    """What the push service said: sent, gone (the subscription is dead) or retry later."""

    sent: bool
    gone: bool = False
    error: str | None = None
    status: int | None = None


def payload(*, incident_id: int | None, body: str, language: str) -> bytes:
    """What the service worker shows; `incident_id` makes the tap open the task."""
    title = "Vigil 网格员：新任务" if language != "en" else "Vigil: new task"
    return json.dumps(
        {"title": title, "body": body, "incident_id": incident_id}, ensure_ascii=False
    ).encode()


def send(
    conn: Conn,
    *,
    recipient: str,
    data: bytes,
    private_key: str,
    subject: str,
    timeout_s: float = 10.0,
) -> Outcome:
    """Encrypt and post one message to the subscription `recipient` ("sub:<id>") names."""
    from pywebpush import WebPushException, webpush

    sub_id = int(recipient.removeprefix("sub:"))
    row = conn.execute(
        "select endpoint, p256dh, auth from push_subscriptions "
        "where id = %s and revoked_at is null",
        (sub_id,),
    ).fetchone()
    if row is None:
        return Outcome(sent=False, gone=True, error="subscription revoked")
    info: dict[str, Any] = {"endpoint": row[0], "keys": {"p256dh": row[1], "auth": row[2]}}
    try:
        response = webpush(
            subscription_info=info,
            data=data,
            vapid_private_key=private_key,
            vapid_claims={"sub": subject},
            ttl=TTL_S,
            timeout=timeout_s,
        )
    except WebPushException as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status in (404, 410):
            conn.execute(
                "update push_subscriptions set revoked_at = now() where id = %s", (sub_id,)
            )
            return Outcome(sent=False, gone=True, error=f"gone ({status})", status=status)
        return Outcome(sent=False, error=str(exc)[:300], status=status)
    except OSError as exc:  # the push service unreachable: try again later
        return Outcome(sent=False, error=str(exc)[:300])
    code = getattr(response, "status_code", 201)
    return Outcome(sent=True, status=code)
