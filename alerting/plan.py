"""Who is told of an incident change, on which channel, in which language: a pure function of
the incident, the escalation policy and the people, so every decision is tested without a
database. `alerting.notify` reads the people and writes what this plans into the outbox.

Each notice's idempotency key is the timeline entry that caused it plus channel and recipient,
so a change produces each notification once however often its transaction is retried, and the
notifier hands the same key to the provider on every attempt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from alerting import templates
from alerting.escalation import Policy
from alerting.templates import Language, Place

if TYPE_CHECKING:
    from alerting.store import IncidentRow


@dataclass(frozen=True)
class Person:
    """Someone who may be told: a console user (with an id) or a person named in the policy."""

    user_id: int | None
    name: str
    phone: str | None
    language: Language


@dataclass(frozen=True)
class Notice:
    """One outbox row to be: what to send, to whom, by which channel."""

    key: str
    channel: str
    recipient: str
    language: Language
    body: str
    kind: str
    tier: int | None = None
    user_id: int | None = None
    params: dict[str, str] | None = None
    """The template's variables, for providers that send templates (Alibaba, Tencent)."""
    not_before: datetime | None = None
    """Held back until then (the policy's quiet hours for a non-urgent message)."""


def language(value: Any) -> Language:
    """A stored language preference; anything but English reads Chinese."""
    return "en" if value == "en" else "zh"


def family_alarm(
    row: IncidentRow,
    *,
    entry: int,
    place: Place,
    contacts: Sequence[tuple[str, Language]],
    not_before: datetime | None = None,
) -> list[Notice]:
    """An SMS to every current contact of the household's residents, each in their language
    (`not_before`: the policy's quiet hours hold a non-urgent one back)."""
    if row.household_id is None:
        return []
    return [
        Notice(
            f"t{entry}:sms:{phone}",
            "sms",
            phone,
            lang,
            templates.family_alarm(lang, cause=row.cause, place=place),
            "family_alarm",
            params=templates.family_alarm_params(lang, cause=row.cause, place=place),
            not_before=not_before,
        )
        for phone, lang in contacts
    ]


def family_closed(
    row: IncidentRow,
    *,
    entry: int,
    place: Place,
    outcome: str,
    told: Sequence[tuple[str, Language]],
) -> list[Notice]:
    """How it ended, to those who were told of the alarm, and only them."""
    return [
        Notice(
            f"t{entry}:sms:{phone}",
            "sms",
            phone,
            lang,
            templates.family_closed(lang, cause=row.cause, place=place, outcome=outcome),
            "family_closed",
            params=templates.family_closed_params(
                lang, cause=row.cause, place=place, outcome=outcome
            ),
        )
        for phone, lang in told
    ]


def responders(
    row: IncidentRow,
    policy: Policy,
    *,
    tiers: Sequence[int],
    entry: int,
    place: Place,
    reason: str,
    users: Mapping[str, Sequence[Person]],
) -> list[Notice]:
    """The people of each tier by the tier's channels; `users` holds the active users of each
    role the tiers name (a grid member's role: those of the incident's grid). SMS goes only
    from the policy's `sms_min_severity` up."""
    notices: list[Notice] = []
    for index in tiers:
        tier = policy.tiers[index]
        if "console" in tier.channels:
            body = templates.responder(
                "zh",
                incident_id=row.id,
                cause=row.cause,
                severity=row.severity,
                place=place,
                reason=reason,
            )
            notices.append(
                Notice(
                    f"t{entry}:console:{tier.name}",
                    "console",
                    tier.name,
                    "zh",
                    body,
                    "console",
                    index,
                )
            )
        for person in tier.people:
            if person.role is not None:
                people = users.get(person.role, ())
            else:
                people = (Person(None, str(person.name), person.phone, language(person.language)),)
            for someone in people:
                notices += tell(
                    row, policy, tier.channels, entry=entry, place=place, reason=reason,
                    person=someone, tier=index,
                )  # fmt: skip
    return notices


def dispatched(
    row: IncidentRow, policy: Policy, *, entry: int, place: Place, assignee: Person | None
) -> list[Notice]:
    """The assigned grid member hears of the job on their console page and by SMS."""
    if assignee is None:
        return []
    channels = frozenset({"grid_member", "sms"})
    return tell(
        row, policy, channels, entry=entry, place=place, reason="", person=assignee, tier=None
    )


def tell(
    row: IncidentRow,
    policy: Policy,
    channels: frozenset[str],
    *,
    entry: int,
    place: Place,
    reason: str,
    person: Person,
    tier: int | None,
) -> list[Notice]:
    """One person, by those of `channels` that reach them."""
    body = templates.responder(
        person.language,
        incident_id=row.id,
        cause=row.cause,
        severity=row.severity,
        place=place,
        reason=reason,
    )
    notices = []
    if "grid_member" in channels and person.user_id is not None:
        notices.append(
            Notice(
                f"t{entry}:grid_member:{person.user_id}",
                "grid_member",
                person.name,
                person.language,
                body,
                "responder",
                tier,
                person.user_id,
            )
        )
    if "sms" in channels and person.phone and row.severity >= policy.sms_min_severity:
        params = templates.responder_params(
            person.language,
            incident_id=row.id,
            cause=row.cause,
            severity=row.severity,
            place=place,
            reason=reason,
        )
        notices.append(
            Notice(
                f"t{entry}:sms:{person.phone}",
                "sms",
                person.phone,
                person.language,
                body,
                "responder",
                tier,
                person.user_id,
                params,
            )
        )
    return notices
