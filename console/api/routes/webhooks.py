"""Webhook subscribers (other systems that want incident events): add, list, disable, and see
their recent deliveries. Administrators only; a subscriber's secret is given once and never
read back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, status
from psycopg.errors import UniqueViolation
from pydantic import BaseModel, Field, HttpUrl

from console.api.deps import AuditDep, SessionDep, UserManager, not_found
from console.api.models.common import BigId
from console.api.sqlutil import fetch_all, fetch_one

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class SubscriberCreate(BaseModel):
    name: Name
    url: HttpUrl
    secret: str = Field(min_length=16, max_length=256)
    causes: list[Annotated[str, Field(max_length=32)]] = Field(default=[], max_length=32)
    grids: list[Annotated[str, Field(max_length=64)]] = Field(default=[], max_length=256)


class SubscriberPublic(BaseModel):
    id: int
    name: str
    url: str
    causes: list[str]
    grids: list[str]
    created_at: datetime
    disabled_at: datetime | None


class DeliveryPublic(BaseModel):
    delivery_id: str
    event: str
    incident_id: int | None
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


_COLUMNS = "id, name, url, causes, grids, created_at, disabled_at"


@router.get("")
def list_subscribers(conn: SessionDep, user: UserManager) -> list[SubscriberPublic]:
    return fetch_all(
        conn, SubscriberPublic, f"select {_COLUMNS} from webhook_subscribers order by id", ()
    )


@router.post("", status_code=status.HTTP_201_CREATED)
def add_subscriber(
    body: SubscriberCreate, conn: SessionDep, user: UserManager, audit: AuditDep
) -> SubscriberPublic:
    try:
        row = conn.execute(
            "insert into webhook_subscribers (name, url, secret, causes, grids) "
            "values (%s, %s, %s, %s, %s) returning id",
            (body.name, str(body.url), body.secret, body.causes, body.grids),
        ).fetchone()
    except UniqueViolation as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, "a subscriber of that name exists") from exc
    assert row is not None
    audit("webhook.add", f"webhook:{row[0]}", {"name": body.name, "url": str(body.url)})
    return _one(conn, int(row[0]))


def _one(conn: SessionDep, subscriber_id: int) -> SubscriberPublic:
    found = fetch_one(
        conn,
        SubscriberPublic,
        f"select {_COLUMNS} from webhook_subscribers where id = %s",
        (subscriber_id,),
    )
    if found is None:
        raise not_found("webhook subscriber")
    return found


@router.delete("/{subscriber_id}")
def disable_subscriber(
    subscriber_id: BigId, conn: SessionDep, user: UserManager, audit: AuditDep
) -> SubscriberPublic:
    """Disabled, not deleted: its deliveries stay on record; pending ones are not sent."""
    _one(conn, subscriber_id)
    conn.execute(
        "update webhook_subscribers set disabled_at = coalesce(disabled_at, now()) where id = %s",
        (subscriber_id,),
    )
    conn.execute(
        "update webhook_outbox set status = 'failed', last_error = 'subscriber disabled' "
        "where subscriber_id = %s and status = 'pending'",
        (subscriber_id,),
    )
    audit("webhook.disable", f"webhook:{subscriber_id}", {})
    return _one(conn, subscriber_id)


@router.get("/{subscriber_id}/deliveries")
def deliveries(subscriber_id: BigId, conn: SessionDep, user: UserManager) -> list[DeliveryPublic]:
    _one(conn, subscriber_id)
    return fetch_all(
        conn,
        DeliveryPublic,
        "select delivery_id::text, event, incident_id, status, attempts, last_error, created_at, "
        "delivered_at from webhook_outbox where subscriber_id = %s order by id desc limit 200",
        (subscriber_id,),
    )
