"""Panel event codes to Vigil event kinds, from the shipped table (gateway/dc09/codes.toml).

Every code comes out as an event: a mapped one as its kind (value 1.0 raised, 0.0 restored), any
other as `panel_event`, carrying the raw code, zone, area, text and account, so that nothing a
panel reports is dropped and an unknown code is shown rather than guessed at.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from gateway.dc09.frame import PanelEvent

PANEL_EVENT = "panel_event"
KINDS = frozenset(
    {
        "smoke_alarm", "heat_alarm", "co_alarm", "gas_alarm", "water_leak", "button", "tamper",
        "low_battery",
        "fault", "self_test", "presence", PANEL_EVENT,
    }
)  # fmt: skip
QUALIFIERS = {"1": "new", "3": "restore", "6": "status"}


@dataclass(frozen=True)
class Rule:
    kind: str
    name: str
    name_en: str
    reason: str | None = None
    value: float | None = None  # SIA: fixed by the code
    restores: bool = True
    restore_value: float = 0.0


@dataclass(frozen=True)
class Mapped:
    """One wire event (without device, times and sequence, which the receiver adds)."""

    kind: str
    value: float
    detail: dict[str, Any]


class CodeTableError(ValueError):
    """The shipped code table breaks its own rules."""


def _rule(code: str, raw: dict[str, Any]) -> Rule:
    try:
        rule = Rule(**raw)
    except TypeError as exc:
        raise CodeTableError(f"code {code}: {exc}") from None
    if rule.kind not in KINDS:
        raise CodeTableError(f"code {code}: unknown kind {rule.kind!r}")
    return rule


@cache
def tables() -> tuple[dict[str, Rule], dict[str, Rule], dict[str, str]]:
    """Contact ID rules, SIA rules, and SIA names of unmapped codes."""
    base = resources.files("gateway.dc09")
    raw = tomllib.loads(base.joinpath("codes.toml").read_text(encoding="utf-8"))
    names = tomllib.loads(base.joinpath("sia_names.toml").read_text(encoding="utf-8"))
    cid = {f"{int(k):03d}": _rule(k, v) for k, v in raw["cid"].items()}
    sia = {k: _rule(k, v) for k, v in raw["sia"].items()}
    for code, rule in sia.items():
        if rule.value not in (0.0, 1.0):
            raise CodeTableError(f"SIA code {code}: value must be 1.0 or 0.0")
    return cid, sia, dict(names["sia"])


def map_event(event: PanelEvent, account: str) -> Mapped:
    """The wire event for one panel event; unknown codes become `panel_event`, never an error."""
    cid, sia, sia_names = tables()
    detail: dict[str, Any] = {"source": "dc09", "account": account, "code": event.code,
                              "protocol": event.protocol}  # fmt: skip
    for key in ("qualifier", "zone", "area", "user", "text"):
        value = getattr(event, key)
        if value is not None:
            detail[key] = value
    if event.protocol == "cid":
        rule = cid.get(event.code)
        restore = event.qualifier == "3"
        detail["qualifier_name"] = QUALIFIERS.get(event.qualifier or "", "unknown")
        if rule is None:
            return _unmapped(detail, 0.0 if restore else 1.0, None)
        detail.update(name=rule.name, name_en=rule.name_en)
        if rule.reason is not None:
            detail["reason"] = rule.reason
        if restore and not rule.restores:
            return Mapped(PANEL_EVENT, 0.0, detail)
        value = rule.restore_value if restore else 1.0
        return Mapped(rule.kind, value, detail)
    rule = sia.get(event.code)
    if rule is None:
        return _unmapped(detail, 1.0, sia_names.get(event.code))
    detail.update(name=rule.name, name_en=rule.name_en)
    if rule.reason is not None:
        detail["reason"] = rule.reason
    assert rule.value is not None
    return Mapped(rule.kind, rule.value, detail)


def _unmapped(detail: dict[str, Any], value: float, name_en: str | None) -> Mapped:
    detail["known"] = False
    detail["name"] = "未识别的报警主机事件"
    detail["name_en"] = name_en or "Unknown panel event"
    return Mapped(PANEL_EVENT, value, detail)
