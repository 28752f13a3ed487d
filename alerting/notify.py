"""Who is told of an incident change, and what: outbox rows written in the change's transaction.

The caller wakes the notifier once per transaction (`store.announce(..., outbox=True)`).
Each row's idempotency key is the timeline entry that caused it plus channel and recipient, so
a change produces each notification once however often its transaction is retried, and the
notifier hands the same key to the provider on every attempt.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb

from alerting import templates, webhooks_out, wecom
from alerting.escalation import Policy
from alerting.templates import Language, Place
from vigil.settings import get_settings

if TYPE_CHECKING:
    from alerting.store import Conn, IncidentRow


def place_of(conn: Conn, row: IncidentRow) -> Place:
    """The address an SMS names: the building and flat, never the resident."""
    if row.household_id is not None:
        found = conn.execute(
            "select b.address, h.unit from households h join buildings b on b.id = h.building_id "
            "where h.id = %s",
            (row.household_id,),
        ).fetchone()
        if found is not None:
            return Place(str(found[0]), str(found[1]))
    device = conn.execute(
        "select device_id from alerts where incident_id = %s order by id limit 1", (row.id,)
    ).fetchone()
    return Place(f"设备 {device[0]}" if device else "未登记地址", "")


def _outbox(
    conn: Conn,
    *,
    key: str,
    row: IncidentRow,
    channel: str,
    recipient: str,
    language: str,
    body: str,
    kind: str,
    tier: int | None = None,
    user_id: int | None = None,
    params: dict[str, str] | None = None,
    not_before: datetime | None = None,
) -> None:
    """`params`: the template variables for providers that send templates (Alibaba, Tencent);
    `not_before`: held back (quiet hours)."""
    conn.execute(
        "insert into notification_outbox (idempotency_key, incident_id, channel, recipient, "
        "language, body, kind, tier, user_id, params, next_attempt_at) "
        "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, coalesce(%s, now())) "
        "on conflict (idempotency_key) do nothing",
        (
            key,
            row.id,
            channel,
            recipient,
            language,
            body,
            kind,
            tier,
            user_id,
            Jsonb(params) if params is not None else None,
            not_before,
        ),
    )


def _console() -> str:
    return get_settings().console_public_url


def _lang(value: Any) -> Language:
    return "en" if value == "en" else "zh"


def family_alarm(
    conn: Conn, row: IncidentRow, *, entry: int, place: Place, not_before: datetime | None = None
) -> None:
    """SMS every current contact of the household's residents, each in their language
    (`not_before`: the policy's quiet hours hold a non-urgent one back)."""
    if row.household_id is None:
        return
    contacts = conn.execute(
        "select distinct on (c.phone) c.phone, c.language from contacts c "
        "join residents r on r.id = c.resident_id "
        "where r.household_id = %s and r.retired_at is null and c.retired_at is null "
        "order by c.phone, c.priority",
        (row.household_id,),
    ).fetchall()
    for phone, language in contacts:
        lang = _lang(language)
        _outbox(
            conn,
            key=f"t{entry}:sms:{phone}",
            row=row,
            channel="sms",
            recipient=str(phone),
            language=lang,
            body=templates.family_alarm(lang, cause=row.cause, place=place),
            kind="family_alarm",
            params=templates.family_alarm_params(lang, cause=row.cause, place=place),
            not_before=not_before,
        )


def family_closed(conn: Conn, row: IncidentRow, *, entry: int, place: Place, outcome: str) -> None:
    """Tell the family how it ended — those who were told of the alarm, and only them (and
    the webhook subscribers that it is closed)."""
    webhooks_out.plan(
        conn, row, entry=entry, event="incident.closed", place=place, console_url=_console()
    )
    told = conn.execute(
        "select distinct recipient, language from notification_outbox "
        "where incident_id = %s and kind = 'family_alarm'",
        (row.id,),
    ).fetchall()
    for phone, language in told:
        lang = _lang(language)
        _outbox(
            conn,
            key=f"t{entry}:sms:{phone}",
            row=row,
            channel="sms",
            recipient=str(phone),
            language=lang,
            body=templates.family_closed(lang, cause=row.cause, place=place, outcome=outcome),
            kind="family_closed",
            params=templates.family_closed_params(
                lang, cause=row.cause, place=place, outcome=outcome
            ),
        )


def _users(conn: Conn, role: str, grid_id: str | None) -> list[tuple[Any, ...]]:
    sql = "select id, username, phone, language from users where role = %s and disabled_at is null"
    params: tuple[Any, ...] = (role,)
    if role == "grid_member":
        sql += " and grid_id = %s"
        params = (role, grid_id)
    return list(conn.execute(sql + " order by id", params).fetchall())


def responders(
    conn: Conn,
    row: IncidentRow,
    policy: Policy,
    *,
    tiers: list[int],
    entry: int,
    place: Place,
    reason: str,
) -> None:
    """Tell the people of each tier by the tier's channels (SMS only from the policy's
    `sms_min_severity` up), and the grid's WeCom group."""
    event = "open" if reason in ("", "start") else "escalate"
    wecom.plan(
        conn, row, entry=entry, place=place, event=event, reason=reason, console_url=_console()
    )
    webhooks_out.plan(
        conn,
        row,
        entry=entry,
        event="incident.opened" if event == "open" else "incident.escalated",
        place=place,
        console_url=_console(),
    )
    for index in tiers:
        tier = policy.tiers[index]
        if "console" in tier.channels:
            _outbox(
                conn,
                key=f"t{entry}:console:{tier.name}",
                channel="console",
                recipient=tier.name,
                language="zh",
                body=templates.responder(
                    "zh",
                    incident_id=row.id,
                    cause=row.cause,
                    severity=row.severity,
                    place=place,
                    reason=reason,
                ),
                kind="console",
                row=row,
                tier=index,
            )
        for person in tier.people:
            if person.role is not None:
                for user_id, username, phone, language in _users(conn, person.role, row.grid_id):
                    _tell(
                        conn,
                        row,
                        policy,
                        tier.channels,
                        entry=entry,
                        place=place,
                        reason=reason,
                        recipient=(int(user_id), str(username), phone),
                        language=_lang(language),
                        tier=index,
                    )
            else:
                _tell(
                    conn,
                    row,
                    policy,
                    tier.channels,
                    entry=entry,
                    place=place,
                    reason=reason,
                    recipient=(None, str(person.name), person.phone),
                    language=_lang(person.language),
                    tier=index,
                )


def _tell(
    conn: Conn,
    row: IncidentRow,
    policy: Policy,
    channels: frozenset[str],
    *,
    entry: int,
    place: Place,
    reason: str,
    recipient: tuple[int | None, str, str | None],
    language: Language,
    tier: int | None,
) -> None:
    user_id, name, phone = recipient
    body = templates.responder(
        language,
        incident_id=row.id,
        cause=row.cause,
        severity=row.severity,
        place=place,
        reason=reason,
    )
    if "grid_member" in channels and user_id is not None:
        _outbox(
            conn,
            key=f"t{entry}:grid_member:{user_id}",
            row=row,
            channel="grid_member",
            recipient=name,
            language=language,
            body=body,
            kind="responder",
            tier=tier,
            user_id=user_id,
        )
    if "sms" in channels and phone and row.severity >= policy.sms_min_severity:
        params = templates.responder_params(
            language,
            incident_id=row.id,
            cause=row.cause,
            severity=row.severity,
            place=place,
            reason=reason,
        )
        _outbox(
            conn,
            key=f"t{entry}:sms:{phone}",
            row=row,
            channel="sms",
            recipient=phone,
            language=language,
            body=body,
            kind="responder",
            tier=tier,
            user_id=user_id,
            params=params,
        )


def dispatched(conn: Conn, row: IncidentRow, policy: Policy, *, entry: int, place: Place) -> None:
    """The assigned grid member hears of the job on their console page and by SMS."""
    found = conn.execute(
        "select id, username, phone, language from users where id = %s", (row.assigned_to,)
    ).fetchone()
    if found is None:
        return
    user_id, username, phone, language = found
    wecom.plan(
        conn, row, entry=entry, place=place, event="dispatch", reason="", console_url=_console()
    )
    webhooks_out.plan(
        conn, row, entry=entry, event="incident.dispatched", place=place, console_url=_console()
    )
    _tell(
        conn,
        row,
        policy,
        frozenset({"grid_member", "sms"}),
        entry=entry,
        place=place,
        reason="",
        recipient=(int(user_id), str(username), phone),
        language=_lang(language),
        tier=None,
    )
