"""The console's words: the reader's language, the district's time zone, and the timeline and
alert sentences rendered from their catalogue codes (vigil/messages.py).

Rows written before the timeline stored codes hold English sentences; the ones alerting wrote
(an alert opening or joining an incident, an escalation, a failed notification) are mapped back
to their codes here when read, so they too read in the viewer's language.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import Depends, Header, Query

from alerting.policies import default_book
from alerting.templates import STAGES
from alerting.words import reason_of
from console.api.deps import SettingsDep
from vigil.messages import Language, language_of, render

Message = dict[str, Any]


def get_language(
    lang: Annotated[str | None, Query(max_length=8, description="zh or en")] = None,
    accept_language: Annotated[str | None, Header(max_length=200)] = None,
) -> Language:
    """`?lang=` if given, else the Accept-Language header; Chinese unless English is asked for."""
    return language_of(lang or accept_language)


LangDep = Annotated[Language, Depends(get_language)]


def get_timezone(settings: SettingsDep) -> str:
    return settings.district_timezone


TzDep = Annotated[str, Depends(get_timezone)]

_ALERT_NOTE = re.compile(
    r"^(?P<kind>\w+) on (?P<device>[\w-]+)(?P<joined> joined)?: (?P<reason>.*?)"
    r"(?:; severity (?P<before>\d)→(?P<after>\d))?"
    r"(?: \(household '(?P<household>[^']*)' is not registered\))?$"
)
_ESCALATION_NOTE = re.compile(
    r"^(?P<stage>[^:]+): (?P<from>.+?) → (?P<to>.+?) "
    r"\(deadline (?P<deadline>\S+), fired (?P<late>[\d.]+) s late\)$"
)
_FAILED_NOTE = re.compile(r"^(?P<channel>\w+) to (?P<recipient>\S+): (?P<error>.*)$")


def _tier_titles() -> dict[str, tuple[str, str]]:
    """English tier title → (zh, en), from the default escalation policy."""
    return {t.title_en: (t.title, t.title_en) for t in default_book().for_district(None).tiers}


def tier_titles() -> dict[str, dict[str, str]]:
    """Tier name → {zh, en} title: who a console notice went to ("grid" → 网格员)."""
    return {
        t.name: {"zh": t.title, "en": t.title_en} for t in default_book().for_district(None).tiers
    }


def legacy_message(  # noqa: PLR0911
    entry: dict[str, Any], alerts: list[dict[str, Any]], rooms: dict[str, str | None]
) -> Message | None:
    """The catalogue message an English system sentence of an older row stands for."""
    note = entry.get("note") or ""
    action = entry.get("action")
    if action in ("open", "evidence") and (m := _ALERT_NOTE.match(note)):
        device, kind = m["device"], m["kind"]
        alert: dict[str, Any] = next(
            (a for a in alerts if a["device_id"] == device and a["kind"] == kind),
            {"kind": kind, "device_id": device, "reason": m["reason"], "evidence": {}},
        )
        params: dict[str, Any] = {
            "kind": kind,
            "device": device,
            "room": rooms.get(device),
            "reason": reason_of(alert),
        }
        if m["household"]:
            return {
                "code": "tl.open_unregistered",
                "params": {**params, "household": m["household"]},
            }
        if m["joined"]:
            return {
                "code": "tl.joined",
                "params": {
                    **params,
                    "before": int(m["before"] or 0),
                    "after": int(m["after"] or 0),
                },
            }
        return {"code": "tl.open" if action == "open" else "tl.comment", "params": params}
    if action == "escalate" and (m := _ESCALATION_NOTE.match(note)):
        stage = next((k for k, (_zh, en) in STAGES.items() if en == m["stage"]), None)
        titles = _tier_titles()
        tier_from = titles.get(m["from"], (m["from"], m["from"]))
        tier_to = titles.get(m["to"], (m["to"], m["to"]))
        return {
            "code": "tl.escalate",
            "params": {
                "stage": stage or m["stage"],
                "from": {"zh": tier_from[0], "en": tier_from[1]},
                "to": {"zh": tier_to[0], "en": tier_to[1]},
                "deadline": m["deadline"],
            },
        }
    if action == "notification_failed" and (m := _FAILED_NOTE.match(note)):
        return {"code": "tl.notification_failed", "params": m.groupdict()}
    if action in ("family_ack", "family_reply"):
        return {"code": "tl.family_reply", "params": {"body": note}}
    if entry.get("actor") == "system" and note:
        return {"code": "tl.unparsed", "params": {"text": note}}
    return None


def timeline_texts(
    entries: Iterable[dict[str, Any]],
    alerts: list[dict[str, Any]],
    rooms: dict[str, str | None],
    lang: Language,
    tz: str,
) -> list[dict[str, Any]]:
    """Each entry with `text`: its system sentence in `lang`, or the person's own note as typed."""
    out = []
    for entry in entries:
        message: Message | None = None
        if entry.get("code"):
            message = {"code": entry["code"], "params": entry.get("params") or {}}
        else:
            message = legacy_message(entry, alerts, rooms)
        if message is not None:
            text = render(message["code"], message["params"], lang, tz)
            out.append(
                {**entry, "code": message["code"], "params": message["params"], "text": text}
            )
        else:
            out.append({**entry, "text": entry.get("note")})
    return out


def alert_text(alert: dict[str, Any], lang: Language, tz: str) -> str:
    """An alert's reason in `lang`."""
    message = reason_of(alert)
    return render(message["code"], message["params"], lang, tz)
