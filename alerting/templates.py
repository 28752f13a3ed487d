"""Short notification texts in the recipient's language, with no medical details.

Only the cause, the address and the outcome go out: an SMS crosses carriers and lock screens,
so nothing about the resident's health or name is ever put in one. Texts stay within 70
characters in Chinese where they can (one UCS-2 SMS); the SMPP client splits longer ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Language = Literal["zh", "en"]

CAUSES: dict[str, tuple[str, str]] = {
    "fire": ("火警", "fire"),
    "panic": ("紧急呼叫", "emergency call"),
    "inactivity": ("长时间无活动", "no activity"),
    "offline": ("设备离线", "device offline"),
    "gateway_offline": ("网关离线", "gateway offline"),
    "battery_low": ("电池电量低", "low battery"),
    "tamper": ("设备被拆动", "device tampered"),
    "sensor_fault": ("传感器故障", "sensor fault"),
    "dirty": ("探测器需清洁", "detector needs cleaning"),
    "gas": ("燃气泄漏", "gas leak"),
    "water_leak": ("漏水", "water leak"),
}

OUTCOMES: dict[str, tuple[str, str]] = {
    "resolved": ("已处理完毕", "has been handled"),
    "false_alarm": ("经核实为误报", "was a false alarm"),
    "test": ("为测试信号", "was a test"),
}

STAGES: dict[str, tuple[str, str]] = {
    "acknowledge": ("未及时确认", "not acknowledged in time"),
    "dispatch": ("未及时派单", "not dispatched in time"),
    "arrive": ("未及时到场", "nobody on site in time"),
    "manual": ("人工升级", "escalated by the centre"),
    "start": ("重大事件", "major incident"),
    "family_call": ("家属电话未确认", "family not reached by phone"),
}

ACK_WORDS = frozenset({"1", "收到", "ok", "yes", "确认"})


@dataclass(frozen=True)
class Place:
    """Where the incident is, as a text message may say it."""

    address: str
    unit: str


def _pick(table: dict[str, tuple[str, str]], key: str, language: Language) -> str:
    zh, en = table.get(key, (key, key.replace("_", " ")))
    return zh if language == "zh" else en


def family_alarm(language: Language, *, cause: str, place: Place) -> str:
    what = _pick(CAUSES, cause, language)
    if language == "zh":
        return f"【Vigil】{place.address}{place.unit}{what}，社区正在处理。收到请回复1"
    return (
        f"[Vigil] {what.capitalize()} at {place.address} {place.unit}. "
        "The community centre is on it. Reply 1 to confirm."
    )


def family_closed(language: Language, *, cause: str, place: Place, outcome: str) -> str:
    what = _pick(CAUSES, cause, language)
    result = _pick(OUTCOMES, outcome, language)
    if language == "zh":
        return f"【Vigil】{place.address}{place.unit}的{what}{result}。"
    return f"[Vigil] The {what} at {place.address} {place.unit} {result}."


def responder(
    language: Language,
    *,
    incident_id: int,
    cause: str,
    severity: int,
    place: Place,
    reason: str,
) -> str:
    """For grid members and duty desks: what, where, how serious, and why it reached them."""
    what = _pick(CAUSES, cause, language)
    why = _pick(STAGES, reason, language) if reason in STAGES else ""
    if language == "zh":
        tail = f"，{why}" if why else ""
        return f"【Vigil】#{incident_id} {what} 级别{severity} {place.address}{place.unit}{tail}"
    tail = f", {why}" if why else ""
    return f"[Vigil] #{incident_id} {what} sev {severity} {place.address} {place.unit}{tail}"


def is_acknowledgement(body: str) -> bool:
    """A family's reply that acknowledges: "1" or "收到" (and a few obvious variants)."""
    text = body.strip().strip("。.!！").lower()
    return text in ACK_WORDS


# ------------------------------------------------------------------ template parameters
# Alibaba Cloud and Tencent Cloud send only templates a district registered in advance: the
# variables of each kind, in this order (Tencent's templates number them {1}, {2}, ...). The
# texts to register are in docs/alerting.md; they say the same as the functions above.
PARAMS: dict[str, tuple[str, ...]] = {
    "family_alarm": ("place", "what"),
    "family_closed": ("place", "what", "result"),
    "responder": ("no", "what", "level", "place", "why"),
    "family_call": ("name", "place", "what"),
}


def family_alarm_params(language: Language, *, cause: str, place: Place) -> dict[str, str]:
    return {"place": _joined(place, language), "what": _pick(CAUSES, cause, language)}


def family_closed_params(
    language: Language, *, cause: str, place: Place, outcome: str
) -> dict[str, str]:
    return {
        **family_alarm_params(language, cause=cause, place=place),
        "result": _pick(OUTCOMES, outcome, language),
    }


def responder_params(
    language: Language, *, incident_id: int, cause: str, severity: int, place: Place, reason: str
) -> dict[str, str]:
    why = _pick(STAGES, reason, language) if reason in STAGES else "-"
    return {
        "no": str(incident_id),
        "what": _pick(CAUSES, cause, language),
        "level": str(severity),
        "place": _joined(place, language),
        "why": why,
    }


def family_call_params(
    language: Language, *, name: str, cause: str, place: Place
) -> dict[str, str]:
    """The spoken alarm: "您的家人${name}家中${what}（${place}）…请按1确认"."""
    return {"name": name, **family_alarm_params(language, cause=cause, place=place)}


def fit_params(params: dict[str, str], *, limit: int) -> dict[str, str]:
    """Each value within the provider's per-variable length (cut with an ellipsis), never
    empty: both providers refuse an empty variable."""
    fitted = {}
    for name, value in params.items():
        text = value.strip() or "-"
        fitted[name] = text if len(text) <= limit else text[: limit - 1] + "…"
    return fitted


def _joined(place: Place, language: Language) -> str:
    return f"{place.address}{place.unit}" if language == "zh" else f"{place.address} {place.unit}"
