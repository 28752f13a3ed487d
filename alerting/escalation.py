"""Tiered escalation ("the street blows the whistle, departments report") as data and pure logic.

A district's policy (a TOML file, `alerting/escalation.toml` by default) lists tiers in order —
grid member, community duty officer, street office, district, fire service — each with its
people and channels, and per severity the deadlines to acknowledge, dispatch and arrive. An open
incident has at most one running deadline: the one of its current stage. When it passes, the
incident escalates to the next tier that applies, and the same stage's deadline starts again.
Everything here is handed `now`; the supervisor in `alerting.supervisor` only drives it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from alerting.errors import EscalationConfigError
from alerting.family_policy import FamilyCall, QuietHours, parse_family_call, parse_quiet_hours
from alerting.lifecycle import Action, Incident, State, apply

DEFAULT_POLICY = Path(__file__).with_name("escalation.toml")
CHANNELS = frozenset({"console", "sms", "grid_member"})
ROLES = frozenset({"grid_member", "operator", "supervisor"})
_PHONE = re.compile(r"^\+?[0-9]{5,20}$")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class Stage(StrEnum):
    """What the responsible tier must do before its deadline."""

    ACKNOWLEDGE = "acknowledge"
    DISPATCH = "dispatch"
    ARRIVE = "arrive"


_STAGE_OF_STATE = {
    State.NEW: Stage.ACKNOWLEDGE,
    State.ACKNOWLEDGED: Stage.DISPATCH,
    State.DISPATCHED: Stage.ARRIVE,
}


@dataclass(frozen=True)
class Person:
    """Someone to tell: a role resolved from the registry (the household's grid member), or a
    named duty desk with its own phone."""

    role: str | None = None
    name: str | None = None
    phone: str | None = None
    language: str = "zh"


@dataclass(frozen=True)
class Tier:
    name: str
    title: str
    title_en: str
    channels: frozenset[str]
    people: tuple[Person, ...]
    only_confirmed_fire: bool = False


@dataclass(frozen=True)
class Deadlines:
    acknowledge: timedelta
    dispatch: timedelta
    arrive: timedelta
    start_tier: int
    top_tier: int  # escalation stops here: a low battery never reaches district leaders

    def of(self, stage: Stage) -> timedelta:
        deadline: timedelta = getattr(self, stage.value)
        return deadline


@dataclass(frozen=True)
class Policy:
    district: str
    tiers: tuple[Tier, ...]
    deadlines: dict[int, Deadlines]  # per severity 1..5
    fire_causes: frozenset[str]
    confirmed_fire_severity: int
    sms_min_severity: int = 3
    confirmed_fire_start_tier: int = 0
    source: str = "<memory>"
    family_call: FamilyCall | None = None
    quiet_hours: QuietHours | None = None

    def is_confirmed_fire(self, cause: str, severity: int) -> bool:
        return cause in self.fire_causes and severity >= self.confirmed_fire_severity

    def applies(self, tier: Tier, cause: str, severity: int) -> bool:
        return not tier.only_confirmed_fire or self.is_confirmed_fire(cause, severity)

    def start_tier(self, cause: str, severity: int) -> int:
        """Where a new incident starts: its severity's tier, or higher for a confirmed fire."""
        start = self.deadlines[severity].start_tier
        if self.is_confirmed_fire(cause, severity):
            start = max(start, self.confirmed_fire_start_tier)
        return start


@dataclass(frozen=True)
class Deadline:
    """A running deadline: the stage, the tier that must meet it, and when it runs out."""

    stage: Stage
    tier: int
    due_at: datetime


def pending_deadline(incident: Incident, policy: Policy) -> Deadline | None:
    """The one deadline running for the incident, or None (closed, on site, or nobody above)."""
    stage = _STAGE_OF_STATE.get(incident.state)
    if stage is None or next_tier(incident, policy) is None:
        return None
    started = incident.stage_started_at
    if incident.escalated_at is not None and incident.escalated_at > started:
        started = incident.escalated_at
    return Deadline(stage, incident.tier, started + policy.deadlines[incident.severity].of(stage))


def next_tier(incident: Incident, policy: Policy) -> int | None:
    """The next tier above the incident's that applies to it (the fire service only to a
    confirmed fire), or None at the top."""
    top = policy.deadlines[incident.severity].top_tier
    for index in range(incident.tier + 1, top + 1):
        if policy.applies(policy.tiers[index], incident.cause, incident.severity):
            return index
    return None


def escalate(
    incident: Incident, policy: Policy, *, now: datetime, actor: str, note: str | None = None
) -> tuple[Incident, int] | None:
    """The incident moved up one tier at `now` and the tier it reached, or None at the top."""
    target = next_tier(incident, policy)
    if target is None:
        return None
    after, _ = apply(incident, Action.ESCALATE, actor=actor, now=now, note=note)
    return replace(after, tier=target, escalated_at=now), target


def tiers_to_notify(policy: Policy, *, cause: str, severity: int, upto: int) -> list[int]:
    """Tiers 0..upto that apply: who hears of a new incident that starts at tier `upto`."""
    return [i for i in range(upto + 1) if policy.applies(policy.tiers[i], cause, severity)]


# ------------------------------------------------------------------------------------ loading
def load_policy(path: Path) -> Policy:
    """Read and check a district's escalation file; errors name the file and the field."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EscalationConfigError(f"{path}: cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise EscalationConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_policy(raw, source=str(path))


def parse_policy(raw: dict[str, Any], *, source: str = "<memory>") -> Policy:
    def fail(where: str, problem: str) -> EscalationConfigError:
        return EscalationConfigError(f"{source}: {where}: {problem}")

    district = raw.get("district")
    if not isinstance(district, str) or not district:
        raise fail("district", "must be a non-empty string")
    tiers = _parse_tiers(raw.get("tier"), fail)
    names = [t.name for t in tiers]
    fire = raw.get("fire", {})
    if not isinstance(fire, dict):
        raise fail("fire", "must be a table")
    causes = fire.get("causes", ["fire"])
    if not isinstance(causes, list) or not all(isinstance(c, str) and c for c in causes):
        raise fail("fire.causes", "must be a list of cause names")
    confirmed = fire.get("confirmed_severity", 4)
    if not isinstance(confirmed, int) or not 1 <= confirmed <= 5:
        raise fail("fire.confirmed_severity", "must be an integer 1..5")
    deadlines = _parse_deadlines(raw.get("severity"), names, tiers, fail)
    fire_start = fire.get("confirmed_start_tier", names[0])
    if fire_start not in names:
        raise fail("fire.confirmed_start_tier", f"unknown tier {fire_start!r}; tiers: {names}")
    unknown_fire = set(fire) - {"causes", "confirmed_severity", "confirmed_start_tier"}
    if unknown_fire:
        raise fail("fire", f"unknown keys {sorted(unknown_fire)}")
    sms_min = raw.get("sms_min_severity", 3)
    if not isinstance(sms_min, int) or not 1 <= sms_min <= 5:
        raise fail("sms_min_severity", "must be an integer 1..5")
    unknown = set(raw) - {
        "district",
        "fire",
        "severity",
        "tier",
        "sms_min_severity",
        "family_call",
        "quiet_hours",
    }
    if unknown:
        raise fail("top level", f"unknown keys {sorted(unknown)}")
    return Policy(
        district,
        tiers,
        deadlines,
        frozenset(causes),
        confirmed,
        sms_min,
        names.index(fire_start),
        source,
        parse_family_call(raw.get("family_call"), fail),
        parse_quiet_hours(raw.get("quiet_hours"), fail),
    )


def _parse_tiers(raw: Any, fail: Any) -> tuple[Tier, ...]:
    if not isinstance(raw, list) or not raw:
        raise fail("tier", "needs at least one [[tier]] table")
    tiers: list[Tier] = []
    for i, item in enumerate(raw):
        where = f"tier[{i}]"
        if not isinstance(item, dict):
            raise fail(where, "must be a table")
        unknown = set(item) - {
            "name",
            "title",
            "title_en",
            "channels",
            "people",
            "only_confirmed_fire",
        }
        if unknown:
            raise fail(where, f"unknown keys {sorted(unknown)}")
        name = item.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise fail(f"{where}.name", "must match [a-z][a-z0-9_]*")
        if any(t.name == name for t in tiers):
            raise fail(f"{where}.name", f"tier {name!r} appears twice")
        channels = item.get("channels")
        if not isinstance(channels, list) or not channels or not set(channels) <= CHANNELS:
            raise fail(f"{where}.channels", f"must be a non-empty list from {sorted(CHANNELS)}")
        people = tuple(
            _parse_person(p, f"{where}.people[{j}]", fail)
            for j, p in enumerate(item.get("people", []))
        )
        if not people:
            raise fail(f"{where}.people", "a tier needs at least one person or role")
        only_fire = item.get("only_confirmed_fire", False)
        if not isinstance(only_fire, bool):
            raise fail(f"{where}.only_confirmed_fire", "must be true or false")
        title = item.get("title", name)
        title_en = item.get("title_en", name)
        if not isinstance(title, str) or not isinstance(title_en, str):
            raise fail(f"{where}.title", "must be a string")
        tiers.append(Tier(name, title, title_en, frozenset(channels), people, only_fire))
    if tiers[0].only_confirmed_fire:
        raise fail("tier[0]", "the first tier must apply to every incident")
    return tuple(tiers)


def _parse_person(raw: Any, where: str, fail: Any) -> Person:
    if not isinstance(raw, dict):
        raise fail(where, "must be a table")
    unknown = set(raw) - {"role", "name", "phone", "language"}
    if unknown:
        raise fail(where, f"unknown keys {sorted(unknown)}")
    role, phone = raw.get("role"), raw.get("phone")
    language = raw.get("language", "zh")
    if language not in ("zh", "en"):
        raise fail(f"{where}.language", "must be 'zh' or 'en'")
    if role is not None:
        if role not in ROLES:
            raise fail(f"{where}.role", f"must be one of {sorted(ROLES)}")
        if phone is not None:
            raise fail(where, "give a role or a phone, not both")
        return Person(role=role, language=language)
    if not isinstance(phone, str) or not _PHONE.match(phone):
        raise fail(f"{where}.phone", "needs a role, or a phone like +8613800000000")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise fail(f"{where}.name", "a person with a phone needs a name")
    return Person(name=name, phone=phone, language=language)


def _parse_deadlines(
    raw: Any, names: list[str], tiers: tuple[Tier, ...], fail: Any
) -> dict[int, Deadlines]:
    if not isinstance(raw, dict):
        raise fail("severity", "needs a [severity.N] table for each severity 1..5")
    found: dict[int, Deadlines] = {}
    for key, item in raw.items():
        where = f"severity.{key}"
        if key not in {"1", "2", "3", "4", "5"}:
            raise fail(where, "severities are 1..5")
        if not isinstance(item, dict):
            raise fail(where, "must be a table")
        unknown = set(item) - {"acknowledge_s", "dispatch_s", "arrive_s", "start_tier", "top_tier"}
        if unknown:
            raise fail(where, f"unknown keys {sorted(unknown)}")
        seconds: dict[str, timedelta] = {}
        for stage in Stage:
            value = item.get(f"{stage.value}_s")
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise fail(f"{where}.{stage.value}_s", "must be a positive number of seconds")
            seconds[stage.value] = timedelta(seconds=value)
        start = item.get("start_tier", names[0])
        if start not in names:
            raise fail(f"{where}.start_tier", f"unknown tier {start!r}; tiers: {names}")
        if tiers[names.index(start)].only_confirmed_fire:
            raise fail(f"{where}.start_tier", "cannot start at a tier only for confirmed fires")
        top = item.get("top_tier", names[-1])
        if top not in names:
            raise fail(f"{where}.top_tier", f"unknown tier {top!r}; tiers: {names}")
        if names.index(top) < names.index(start):
            raise fail(f"{where}.top_tier", f"{top!r} comes before start_tier {start!r}")
        found[int(key)] = Deadlines(
            start_tier=names.index(start), top_tier=names.index(top), **seconds
        )
    missing = sorted(set(range(1, 6)) - set(found))
    if missing:
        raise fail("severity", f"missing severities {missing}")
    return found


def policy_path(policy_dir: Path | None, district: str | None) -> Path:
    """The district's own file `<dir>/<district>.toml` if there is one, else the default."""
    if policy_dir is not None and district:
        candidate = policy_dir / f"{district}.toml"
        if candidate.exists():
            return candidate
    if policy_dir is not None and (policy_dir / "default.toml").exists():
        return policy_dir / "default.toml"
    return DEFAULT_POLICY
