"""Words for the four wellness checks, Chinese first, with the household's learned figures.

The kernel hands the figures in the event's figure slots (detectors.kernels._inactivity_event):
`ref` the learned reference time (latest usual first activity, or latest usual return; epoch
s) or, silent at home, how many silences about that hour the longest was taken from, `usual`
the usual first activity (epoch s), the longest silence this home shows at that hour (s) or,
out, the night deadline (epoch s), `limit` the silence allowed (s) and `cap` the daytime
ceiling for this home's sensors.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any, Protocol

ROUTINE_RULES = ("not_up", "silent_at_home", "out_not_back", "max_silence")


class _Event(Protocol):
    @property
    def ts(self) -> float: ...
    @property
    def since(self) -> float: ...
    @property
    def smoke(self) -> float: ...
    @property
    def base(self) -> float: ...
    @property
    def trise(self) -> float: ...
    @property
    def ror(self) -> float: ...


def _clock(t: float, figures: Mapping[str, float]) -> str:
    """Local HH:MM of epoch t (the household's utc_offset_h)."""
    return time.strftime("%H:%M", time.gmtime(t + figures["utc_offset_h"] * 3600.0))


def _hours(s: float) -> str:
    return f"{s / 3600:.1f}"


def reason(rule: str, e: _Event, figures: Mapping[str, float]) -> str:
    """One line, Chinese then English."""
    last = _clock(e.since, figures)
    silent = _hours(e.ts - e.since)
    if rule == "not_up":
        usual = (
            f"通常 {_clock(e.base, figures)} 前起床（近 28 天最晚 {_clock(e.smoke, figures)}）"
            if not math.isnan(e.base)
            else f"最晚通常 {_clock(e.smoke, figures)} 前起床"
        )
        usual_en = (
            f"usually up by {_clock(e.base, figures)} (latest in 28 days "
            f"{_clock(e.smoke, figures)})"
            if not math.isnan(e.base)
            else f"usually up by {_clock(e.smoke, figures)} at the latest"
        )
        return f"未起床：{usual}；{last} 以后无活动。 Not up: {usual_en}; no activity since {last}."
    if rule == "silent_at_home":
        n = "" if math.isnan(e.smoke) else f" {e.smoke:.0f} "
        seen = (
            f"此时段前后近 28 天{n}次安静中最长 {_hours(e.base)} 小时"
            if e.base > 0
            else "此时段尚无记录"
        )
        seen_en = (
            f"the longest of{n or ' the '}silences about this hour in 28 days was "
            f"{_hours(e.base)} h"
            if e.base > 0
            else "no silence at this hour learned yet"
        )
        limit = _hours(e.trise)
        if e.trise >= e.ror - 1.0:  # the daytime ceiling held, not this home's silences
            limit_zh = f"本户白天上限 {limit} 小时"
            limit_en = f"check at {limit} h, the daytime ceiling"
        else:
            limit_zh, limit_en = f"上限 {limit} 小时", f"check at {limit} h"
        return (
            f"在家无活动：{last} 以后 {silent} 小时无活动，{seen}（{limit_zh}）。 "
            f"Silent at home: no activity for {silent} h since {last}; {seen_en} ({limit_en})."
        )
    if rule == "out_not_back":
        night = _clock(e.base, figures)
        if math.isnan(e.smoke):
            return (
                f"外出未归：{last} 出门，{night} 前未回家（非习惯性外出）。 "
                f"Out and not back: left at {last}, not back by {night} (not a usual absence)."
            )
        return (
            f"外出未归：{last} 出门，通常最晚 {_clock(e.smoke, figures)} 前回家。 "
            f"Out and not back: left at {last}, usually back by {_clock(e.smoke, figures)} "
            "at the latest."
        )
    return (
        f"长时间无活动：{last} 以后 {silent} 小时无任何活动迹象。 "
        f"No sign of life for {silent} h since {last}."
    )


def reason_pair(rule: str, e: _Event, figures: Mapping[str, float]) -> tuple[str, str]:
    """The reason in Chinese and in English, apart (a reader sees one)."""
    zh, _, en = reason(rule, e, figures).partition("。 ")
    return zh + "。", en


def evidence(rule: str, e: _Event, figures: Mapping[str, float]) -> dict[str, Any]:
    """The learned figures behind the check, for the console (epoch s and seconds)."""

    def clean(v: float) -> float | None:
        return None if math.isnan(v) or math.isinf(v) else round(v, 1)

    out: dict[str, Any] = {"check": rule, "silence_s": round(e.ts - e.since, 1)}
    if rule == "not_up":
        out |= {"latest_usual_wake": clean(e.smoke), "usual_wake": clean(e.base)}
    elif rule == "silent_at_home":
        out |= {
            "silences_seen": clean(e.smoke),
            "longest_silence_s": clean(e.base),
            "limit_s": clean(e.trise),
            "daytime_cap_s": clean(e.ror),
        }
    elif rule == "out_not_back":
        out |= {"latest_usual_return": clean(e.smoke), "back_by_night": clean(e.base)}
    return out
