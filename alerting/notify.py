"""Notifications written in the transaction of the incident change that causes them: this module
reads who there is (contacts, users, the assignee) and writes into the outbox what
`alerting.plan` decides, and hands the change to the grid's WeCom group (`alerting.wecom`) and
the webhook subscribers (`alerting.webhooks_out`), which keep outboxes of their own. The caller
wakes the notifier once per transaction (`store.announce(..., outbox=True)`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from psycopg.types.json import Jsonb

from alerting import plan, webhooks_out, webpush, wecom
from alerting.escalation import Policy
from alerting.plan import Notice, Person
from alerting.templates import Language, Place
from vigil.settings import get_settings

if TYPE_CHECKING:
    from alerting.store import IncidentRow
    from vigil.db.connect import Conn

_OUTBOX = (
    "insert into notification_outbox (idempotency_key, incident_id, channel, recipient, "
    "language, body, kind, tier, user_id, params, next_attempt_at) "
    "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, coalesce(%s, now())) "
    "on conflict (idempotency_key) do nothing"
)
_USERS = "select id, username, phone, language from users where disabled_at is null"


def write(conn: Conn, row: IncidentRow, notices: Sequence[Notice]) -> None:
    """Outbox rows for `notices`; one already written (same key) is left as it is. A grid
    member's notice also goes to their phones by Web Push (`alerting.webpush`)."""
    notices = list(notices)
    for n in notices:
        params = Jsonb(n.params) if n.params is not None else None
        conn.execute(
            _OUTBOX,
            (n.key, row.id, n.channel, n.recipient, n.language, n.body, n.kind, n.tier, n.user_id,
             params, n.not_before),
        )  # fmt: skip
    webpush.fan_out(conn, row.id, notices)


def _console() -> str:
    return get_settings().console_public_url


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


def _phones(rows: Sequence[tuple[object, ...]]) -> list[tuple[str, Language]]:
    return [(str(phone), plan.language(lang)) for phone, lang in rows]


def family_alarm(
    conn: Conn, row: IncidentRow, *, entry: int, place: Place, not_before: datetime | None = None
) -> None:
    contacts = conn.execute(
        "select distinct on (c.phone) c.phone, c.language from contacts c "
        "join residents r on r.id = c.resident_id "
        "where r.household_id = %s and r.retired_at is null and c.retired_at is null "
        "order by c.phone, c.priority",
        (row.household_id,),
    ).fetchall()
    notices = plan.family_alarm(
        row, entry=entry, place=place, contacts=_phones(contacts), not_before=not_before
    )
    write(conn, row, notices)


def family_closed(conn: Conn, row: IncidentRow, *, entry: int, place: Place, outcome: str) -> None:
    webhooks_out.plan(
        conn, row, entry=entry, event="incident.closed", place=place, console_url=_console()
    )
    told = conn.execute(
        "select distinct recipient, language from notification_outbox "
        "where incident_id = %s and kind = 'family_alarm'",
        (row.id,),
    ).fetchall()
    notices = plan.family_closed(row, entry=entry, place=place, outcome=outcome, told=_phones(told))
    write(conn, row, notices)


def _person(found: tuple[object, ...]) -> Person:
    user_id, username, phone, lang = found
    return Person(
        int(str(user_id)), str(username), None if phone is None else str(phone), plan.language(lang)
    )


def _users_of(conn: Conn, role: str, grid_id: str | None) -> list[Person]:
    """Active users of a role; grid members only those of the incident's grid."""
    if role == "grid_member":
        rows = conn.execute(_USERS + " and role = %s and grid_id = %s order by id", (role, grid_id))
    else:
        rows = conn.execute(_USERS + " and role = %s order by id", (role,))
    return [_person(r) for r in rows.fetchall()]


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
    roles = {p.role for i in tiers for p in policy.tiers[i].people if p.role is not None}
    users = {role: _users_of(conn, role, row.grid_id) for role in sorted(roles)}
    notices = plan.responders(
        row, policy, tiers=tiers, entry=entry, place=place, reason=reason, users=users
    )
    write(conn, row, notices)


def dispatched(conn: Conn, row: IncidentRow, policy: Policy, *, entry: int, place: Place) -> None:
    found = conn.execute(
        "select id, username, phone, language from users where id = %s", (row.assigned_to,)
    ).fetchone()
    if found is None:
        return
    wecom.plan(
        conn, row, entry=entry, place=place, event="dispatch", reason="", console_url=_console()
    )
    webhooks_out.plan(
        conn, row, entry=entry, event="incident.dispatched", place=place, console_url=_console()
    )
    write(
        conn, row, plan.dispatched(row, policy, entry=entry, place=place, assignee=_person(found))
    )
