"""The timeline's system sentences as catalogue messages (vigil/messages.py): built here from an
alert or a timer, stored as code and parameters, and rendered in each reader's language."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from vigil.db.connect import Conn
from vigil.messages import render

Message = dict[str, Any]


def reason_of(alert: dict[str, Any]) -> Message:
    """An alert's reason as a message: the one the detectors stored, else the rule's name, else
    (an alert from an older writer) its stored text as a system record."""
    evidence = alert.get("evidence") or {}
    stored = evidence.get("reason")
    if isinstance(stored, dict) and isinstance(stored.get("code"), str):
        message: Message = {"code": stored["code"], "params": stored.get("params") or {}}
    elif isinstance(evidence.get("rule"), str):
        message = {"code": f"rule.{evidence['rule']}", "params": {}}
    else:
        return {"code": "tl.unparsed", "params": {"text": str(alert.get("reason", ""))}}
    confirmed = evidence.get("confirmed_by")
    if isinstance(confirmed, dict) and message["code"] != "reason.coincidence":
        return {
            "code": "reason.with_confirmation",
            "params": {
                "reason": message,
                "other": confirmed.get("device_id"),
                "scope": confirmed.get("scope"),
            },
        }
    return message


def _room(conn: Conn, device_id: str) -> str | None:
    row = conn.execute("select room from devices where id = %s", (device_id,)).fetchone()
    return None if row is None else row[0]


def alert_entry(
    conn: Conn,
    alert: dict[str, Any],
    code: str,
    **extra: Any,
) -> Message:
    """A timeline message about an alert: its kind, device (with the room) and reason."""
    return {
        "code": code,
        "params": {
            "kind": alert["kind"],
            "device": alert["device_id"],
            "room": _room(conn, alert["device_id"]),
            "reason": reason_of(alert),
            **extra,
        },
    }


def escalation_entry(
    *,
    stage: str,
    tier_from: tuple[str, str],
    tier_to: tuple[str, str],
    deadline: datetime,
    stage_started_at: datetime | None,
    late_s: float,
) -> Message:
    """ "超时 15 秒未确认：网格员 → 社区值班员" for a missed step, else the stage's name."""
    params: dict[str, Any] = {
        "stage": stage,
        "step": stage,
        "from": {"zh": tier_from[0], "en": tier_from[1]},
        "to": {"zh": tier_to[0], "en": tier_to[1]},
        "deadline": deadline.isoformat(),
        "late_s": round(late_s, 3),
    }
    if stage in ("acknowledge", "dispatch", "arrive") and stage_started_at is not None:
        params["waited"] = round((deadline - stage_started_at).total_seconds())
        return {"code": "tl.escalate_late", "params": params}
    return {"code": "tl.escalate", "params": params}


def english(message: Message) -> str:
    """The English form kept in the note column, for logs and readers that predate codes."""
    return render(message["code"], message.get("params") or {}, "en")
