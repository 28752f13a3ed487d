"""Notifications written in the transaction of the incident change that causes them: this module
reads who there is (contacts, users, the assignee) and writes into the outbox what
`alerting.plan` decides. The caller wakes the notifier once per transaction
(`store.announce(..., outbox=True)`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from alerting import plan, webpush
from alerting.escalation import Policy
from alerting.plan import Notice, Person
from alerting.templates import Language, Place

if TYPE_CHECKING:
    from alerting.store import IncidentRow
    from vigil.db.connect import Conn

_OUTBOX = (
    "insert into notification_outbox (idempotency_key, incident_id, channel, recipient, "
    "language, body, kind, tier, user_id) values (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "on conflict (idempotency_key) do nothing"
)
_USERS = "select id, username, phone, language from users where disabled_at is null"


def write(conn: Conn, row: IncidentRow, notices: Iterable[Notice]) -> None:
    """Outbox rows for `notices`; one already written (same key) is left as it is. A grid
    member's notice also goes to their phones by Web Push (`alerting.webpush`)."""
    notices = list(notices)
    for n in notices:
        conn.execute(
            _OUTBOX,
            (n.key, row.id, n.channel, n.recipient, n.language, n.body, n.kind, n.tier, n.user_id),
        )
    webpush.fan_out(conn, row.id, notices)


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


def family_alarm(conn: Conn, row: IncidentRow, *, entry: int, place: Place) -> None:
    contacts = conn.execute(
        "select distinct on (c.phone) c.phone, c.language from contacts c "
        "join residents r on r.id = c.resident_id "
        "where r.household_id = %s and r.retired_at is null and c.retired_at is null "
        "order by c.phone, c.priority",
        (row.household_id,),
    ).fetchall()
    write(conn, row, plan.family_alarm(row, entry=entry, place=place, contacts=_phones(contacts)))


def family_closed(conn: Conn, row: IncidentRow, *, entry: int, place: Place, outcome: str) -> None:
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
    assignee = None if found is None else _person(found)
    write(conn, row, plan.dispatched(row, policy, entry=entry, place=place, assignee=assignee))
