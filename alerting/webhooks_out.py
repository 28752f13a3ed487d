"""Outbound webhooks: incident events to subscribed systems, signed, retried, at least once.

Each subscriber (`webhook_subscribers`: URL, secret, causes, grids) gets a row in its own outbox
(`webhook_outbox`) for each incident event it wants, written in the event's transaction; the
notifier posts due rows. Every attempt of a row carries the same body and the same delivery id
(`X-Vigil-Delivery`), so a subscriber that saw it already can drop the repeat: at least once,
never lost. The signature (`X-Vigil-Signature: t=<unix seconds>,v1=<hex>`) is HMAC-SHA256 with
the subscriber's secret over "<t>.<body>"; a receiver checks it and that t is recent
(`verify`). A 2xx answer is delivery; anything else is retried with backoff until the give-up
time, each subscriber on its own, so one that is down delays nobody else. A subscriber gets
its deliveries in order: those behind a failed one wait for it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from vigil.backoff import Backoff

if TYPE_CHECKING:
    from alerting.store import IncidentRow
    from alerting.templates import Place
    from vigil.db.connect import Conn

LEASE = timedelta(seconds=30)
DEFAULT_BACKOFF = Backoff(initial=2.0, maximum=60.0, give_up_after=24 * 3600.0, jitter=0.1)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, now: float, tolerance_s: float = 300) -> bool:
    """What a subscriber runs: the signature matches and is recent (replays refused)."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def plan(
    conn: Conn, row: IncidentRow, *, entry: int, event: str, place: Place, console_url: str
) -> int:
    """One row per enabled subscriber that wants this incident's cause and grid."""
    payload = {
        "event": event,
        "incident": {
            "id": row.id,
            "cause": row.cause,
            "signal": row.signal,
            "severity": row.severity,
            "state": str(row.state),
            "grid_id": row.grid_id,
            "district": row.district,
            "address": place.address,
            "unit": place.unit,
            "opened_at": row.opened_at.isoformat(),
            "url": f"{console_url.rstrip('/')}/incidents/{row.id}",
            "cap": f"{console_url.rstrip('/')}/api/cap/{row.id}",
        },
    }
    inserted = conn.execute(
        "insert into webhook_outbox (event_key, subscriber_id, incident_id, event, payload) "
        "select %s, s.id, %s, %s, %s from webhook_subscribers s where s.disabled_at is null "
        "and (cardinality(s.causes) = 0 or %s = any(s.causes)) "
        "and (cardinality(s.grids) = 0 or %s = any(s.grids)) "
        "on conflict (subscriber_id, event_key) do nothing",
        (f"t{entry}", row.id, event, Jsonb(payload), row.cause, row.grid_id or ""),
    )
    return inserted.rowcount


@dataclass(frozen=True)
class Delivery:
    id: int
    delivery_id: str
    event: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    subscriber_id: int
    url: str
    secret: str


def claim(conn: Conn, *, now: datetime, limit: int = 20) -> list[Delivery]:
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "update webhook_outbox o set status = 'sending', lease_until = %(lease)s "
            "from webhook_subscribers s where s.id = o.subscriber_id and o.id in ("
            "  select id from webhook_outbox where (status = 'pending' and next_attempt_at <= "
            "  %(now)s) or (status = 'sending' and lease_until < %(now)s) "
            "  order by next_attempt_at, id limit %(limit)s for update skip locked) "
            "returning o.id, o.delivery_id::text, o.event, o.payload, o.attempts, o.created_at, "
            "o.subscriber_id, s.url, s.secret",
            {"now": now, "lease": now + LEASE, "limit": limit},
        ).fetchall()
    return [Delivery(**r) for r in sorted(rows, key=lambda r: r["id"])]


def body_of(delivery: Delivery) -> bytes:
    """The same bytes on every attempt: the delivery id inside, keys sorted."""
    document = {"delivery_id": delivery.delivery_id, **delivery.payload}
    return json.dumps(document, ensure_ascii=False, sort_keys=True).encode()


def release(conn: Conn, items: list[Delivery], *, at: datetime) -> None:
    conn.execute(
        "update webhook_outbox set status = 'pending', next_attempt_at = %s, lease_until = null "
        "where id = any(%s) and status = 'sending'",
        (at, [i.id for i in items]),
    )


def next_due(conn: Conn) -> datetime | None:
    row = conn.execute(
        "select min(case when status = 'pending' then next_attempt_at else lease_until end) "
        "from webhook_outbox where status in ('pending', 'sending')"
    ).fetchone()
    return row[0] if row else None


class WebhookDispatcher:
    """Posts due webhook deliveries; one round at a time, handed `now`."""

    def __init__(self, backoff: Backoff = DEFAULT_BACKOFF, timeout_s: float = 5.0) -> None:
        self._backoff = backoff
        self._timeout = timeout_s

    async def round(self, conn: Conn, *, now: datetime, unix_now: float) -> int:
        """Deliver what is due; returns how many were delivered."""
        due = await asyncio.to_thread(claim, conn, now=now)
        if not due:
            return 0
        # Subscribers at once, each one's deliveries in order: one that hangs costs the round
        # one timeout and holds back nobody else (the notifier's SMS wait at most that long).
        groups: dict[int, list[Delivery]] = {}
        for item in due:
            groups.setdefault(item.subscriber_id, []).append(item)
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            outcomes = await asyncio.gather(
                *(self._in_order(client, group, int(unix_now)) for group in groups.values())
            )
        delivered = 0
        for tried, untried in outcomes:
            retry_at: datetime | None = None
            for item, error in tried:
                retry_at = await asyncio.to_thread(self._record, conn, item, error, now)
                delivered += error is None
            if untried:  # behind a failed one: they keep their place, not an attempt spent
                await asyncio.to_thread(release, conn, untried, at=retry_at or now)
        return delivered

    async def _in_order(
        self, client: httpx.AsyncClient, group: list[Delivery], timestamp: int
    ) -> tuple[list[tuple[Delivery, str | None]], list[Delivery]]:
        """Post one subscriber's deliveries oldest first, stopping at the first failure."""
        tried: list[tuple[Delivery, str | None]] = []
        for index, item in enumerate(group):
            error = await self._post(client, item, timestamp)
            tried.append((item, error))
            if error is not None:
                return tried, group[index + 1 :]
        return tried, []

    async def _post(self, client: httpx.AsyncClient, item: Delivery, timestamp: int) -> str | None:
        body = body_of(item)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Vigil-Delivery": item.delivery_id,
            "X-Vigil-Event": item.event,
            "X-Vigil-Signature": sign(item.secret, timestamp, body),
        }
        try:
            answer = await client.post(item.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"unreachable: {exc}"[:300] or "unreachable"
        if 200 <= answer.status_code < 300:
            return None
        return f"HTTP {answer.status_code}: {answer.text[:200]}"

    def _record(
        self, conn: Conn, item: Delivery, error: str | None, now: datetime
    ) -> datetime | None:
        """Store the outcome; returns when a failed delivery is tried again."""
        if error is None:
            conn.execute(
                "update webhook_outbox set status = 'delivered', attempts = attempts + 1, "
                "delivered_at = %s, lease_until = null, last_error = null "
                "where id = %s and status = 'sending'",
                (now, item.id),
            )
            return None
        retry_at = self._backoff.retry_at(
            attempts=item.attempts + 1,
            first_attempt=item.created_at,
            now=now,
            spread=(item.id % 21 - 10) / 10,
        )
        if retry_at is None:
            conn.execute(
                "update webhook_outbox set status = 'failed', attempts = attempts + 1, "
                "last_error = %s, lease_until = null where id = %s and status = 'sending'",
                (error, item.id),
            )
        else:
            conn.execute(
                "update webhook_outbox set status = 'pending', attempts = attempts + 1, "
                "last_error = %s, next_attempt_at = %s, lease_until = null "
                "where id = %s and status = 'sending'",
                (error, retry_at, item.id),
            )
        return retry_at
