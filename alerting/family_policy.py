"""The family-call and quiet-hours parts of a district's escalation policy, as data and pure
logic handed `now`.

    [family_call]            # a TTS call follows a family SMS nobody acknowledged
    after_s = 120
    causes = ["panic", "fire"]
    min_severity = 3         # trouble (1) and supervisory (2) signals never call

    [quiet_hours]            # non-urgent family messages wait for the morning
    start = "22:00"
    end = "07:00"
    timezone = "Asia/Shanghai"
    urgent_severity = 4      # from here up: at once, day or night
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


@dataclass(frozen=True)
class FamilyCall:
    after: timedelta
    causes: frozenset[str]
    min_severity: int = 3

    def applies(self, cause: str, severity: int) -> bool:
        return cause in self.causes and severity >= self.min_severity


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time
    zone: ZoneInfo
    urgent_severity: int = 4

    def not_before(self, now: datetime, severity: int) -> datetime:
        """When a family message of this severity may go out: `now`, or the end of the quiet
        hours it falls in."""
        if severity >= self.urgent_severity:
            return now
        local = now.astimezone(self.zone)
        clock = local.time()
        overnight = self.start > self.end
        inside = (
            (clock >= self.start or clock < self.end)
            if overnight
            else (self.start <= clock < self.end)
        )
        if not inside:
            return now
        day = (
            local.date() + timedelta(days=1) if overnight and clock >= self.start else local.date()
        )
        return datetime.combine(day, self.end, tzinfo=self.zone)


def parse_family_call(raw: Any, fail: Any) -> FamilyCall | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise fail("family_call", "must be a table")
    unknown = set(raw) - {"after_s", "causes", "min_severity"}
    if unknown:
        raise fail("family_call", f"unknown keys {sorted(unknown)}")
    after = raw.get("after_s")
    if not isinstance(after, int | float) or isinstance(after, bool) or after < 0:
        raise fail("family_call.after_s", "must be a number of seconds >= 0")
    causes = raw.get("causes")
    if not isinstance(causes, list) or not all(isinstance(c, str) and c for c in causes):
        raise fail("family_call.causes", "must be a list of cause names")
    least = raw.get("min_severity", 3)
    if not isinstance(least, int) or not 3 <= least <= 5:
        raise fail("family_call.min_severity", "must be 3..5: trouble signals never call")
    return FamilyCall(timedelta(seconds=after), frozenset(causes), least)


def parse_quiet_hours(raw: Any, fail: Any) -> QuietHours | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise fail("quiet_hours", "must be a table")
    unknown = set(raw) - {"start", "end", "timezone", "urgent_severity"}
    if unknown:
        raise fail("quiet_hours", f"unknown keys {sorted(unknown)}")
    clocks = []
    for key in ("start", "end"):
        value = raw.get(key)
        found = _CLOCK.match(value) if isinstance(value, str) else None
        if found is None:
            raise fail(f"quiet_hours.{key}", 'must be a time like "22:00"')
        clocks.append(time(int(found[1]), int(found[2])))
    try:
        zone = ZoneInfo(str(raw.get("timezone", "Asia/Shanghai")))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise fail("quiet_hours.timezone", f"unknown time zone: {exc}") from exc
    urgent = raw.get("urgent_severity", 4)
    if not isinstance(urgent, int) or not 1 <= urgent <= 5:
        raise fail("quiet_hours.urgent_severity", "must be an integer 1..5")
    if clocks[0] == clocks[1]:
        raise fail("quiet_hours", "start and end must differ")
    return QuietHours(clocks[0], clocks[1], zone, urgent)
