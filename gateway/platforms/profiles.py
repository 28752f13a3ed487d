"""Vendor profiles as data: which fields of a product's messages mean what (docs/platforms.md).

Every vendor puts different fields in its messages and the same name can mean opposite things
(one vendor's `smoke_state` 0 is the alarm), so nothing about a field is assumed: a profile
(one TOML file per product) says which fields are readings, which are states, which are event
codes, and how often the device reports. Reading a message is pure: `Profile.read` returns the
readings, state changes and momentary events it holds, and the problems it could not read.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from vigil.errors import VigilError

# Event kinds of the wire contract a profile may raise: states (1 raised, 0 restoral) and
# momentary ones (always 1).
STATE_KINDS = frozenset(
    {"smoke_alarm", "heat_alarm", "co_alarm", "gas_alarm", "tamper", "low_battery", "fault"}
)
MOMENTARY_KINDS = frozenset({"button", "self_test"})
_ACTION = re.compile(r"^(?P<kind>[a-z_]+)(?:=(?P<value>[01]))?$")
_METRIC = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class ProfileError(VigilError):
    """A profile file is not valid; the text names the file and the entry."""


@dataclass(frozen=True)
class Action:
    kind: str
    value: float  # 1.0 raised / momentary, 0.0 restoral


@dataclass(frozen=True)
class ReadingRule:
    metric: str
    scale: float = 1.0
    offset: float = 0.0
    negate: bool = False  # a vendor that reports -114 dBm as 114
    ignore: frozenset[str] = frozenset()  # values meaning "unknown" (e.g. CSQ 99)


@dataclass(frozen=True)
class ThresholdRule:
    kind: str
    below: float | None = None
    above: float | None = None

    def action(self, value: float) -> Action:
        low = self.below is not None and value < self.below
        high = self.above is not None and value > self.above
        return Action(self.kind, 1.0 if (low or high) else 0.0)


@dataclass(frozen=True)
class FrameField:
    """A field of a transparent product's binary frame: `length` bytes at `offset`."""

    name: str
    offset: int
    length: int
    signed: bool = False
    little: bool = False  # byte order; big-endian (network order) unless said

    def read(self, frame: bytes) -> int | None:
        end = self.offset + self.length
        if end > len(frame):
            return None
        chunk = frame[self.offset : end]
        if self.little:
            return int.from_bytes(chunk, "little", signed=self.signed)
        return int.from_bytes(chunk, "big", signed=self.signed)


def read_frame(fields: tuple[FrameField, ...], frame: bytes) -> tuple[dict[str, int], list[str]]:
    """The named fields of a binary frame, and what did not fit (a frame too short)."""
    found: dict[str, int] = {}
    problems = []
    for f in fields:
        value = f.read(frame)
        if value is None:
            problems.append(f"frame of {len(frame)} bytes has no {f.name} at {f.offset}+{f.length}")
        else:
            found[f.name] = value
    return found, problems


@dataclass
class Reading:
    """What a profile read from one message."""

    readings: list[tuple[str, float]] = field(default_factory=list)
    actions: list[tuple[str, Action]] = field(default_factory=list)  # (field, action)
    derived: list[tuple[str, Action]] = field(default_factory=list)  # from thresholds
    problems: list[str] = field(default_factory=list)
    known_fields: int = 0
    heartbeat_s: float | None = None  # an interval the device announced


@dataclass(frozen=True)
class Profile:
    id: str
    name: str
    name_en: str
    device_type: str
    platforms: frozenset[str]
    products: frozenset[str]
    heartbeat_s: float
    codes: Mapping[str, Mapping[str, tuple[Action, ...]]]
    states: Mapping[str, Mapping[str, tuple[Action, ...]]]
    readings: Mapping[str, ReadingRule]
    thresholds: Mapping[str, ThresholdRule]
    heartbeat_field: str | None = None
    heartbeat_unit_s: float = 1.0
    appdata: str | None = None  # a transparent product's APPdata: "json", "binary" or "hex"
    frame: tuple[FrameField, ...] = ()  # where the fields are in a binary frame
    ignore_fields: frozenset[str] = frozenset()

    def read(self, fields: Mapping[str, Any]) -> Reading:
        """What `fields` say. A state a message states outright (a code, a state field) wins
        over one derived from a value in the same message (a battery level under a threshold):
        a vendor's "low battery" code is not undone by its own battery figure beside it."""
        out = Reading()
        for name, raw in fields.items():
            if name in self.ignore_fields:
                continue
            self._read_field(name, raw, out)
        stated = {a.kind for _, a in out.actions}
        out.actions.extend((n, a) for n, a in out.derived if a.kind not in stated)
        return out

    def _read_field(self, name: str, raw: Any, out: Reading) -> None:
        known = False
        text = _key(raw)
        for table in (self.codes, self.states):
            if name in table:
                known = True
                actions = table[name].get(text)
                if actions is None:
                    out.problems.append(f"{name}={raw!r} is not a value this profile knows")
                else:
                    out.actions.extend((name, a) for a in actions)
        if name in self.readings or name in self.thresholds or name == self.heartbeat_field:
            known = True
            self._read_number(name, raw, out)
        if known:
            out.known_fields += 1

    def _read_number(self, name: str, raw: Any, out: Reading) -> None:
        rule = self.readings.get(name)
        if rule is not None and _key(raw) in rule.ignore:
            return
        value = _number(raw)
        if value is None:
            out.problems.append(f"{name}={raw!r} is not a number")
            return
        if rule is not None:
            signed = -abs(value) if rule.negate else value
            out.readings.append((rule.metric, signed * rule.scale + rule.offset))
        threshold = self.thresholds.get(name)
        if threshold is not None:
            out.derived.append((name, threshold.action(value)))
        if name == self.heartbeat_field and value > 0:
            out.heartbeat_s = value * self.heartbeat_unit_s


def _key(raw: Any) -> str:
    """A field value as a table key: 1, 1.0, "1" and "01"-less text all read the same."""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw).strip()


def _number(raw: Any) -> float | None:
    if isinstance(raw, bool):
        return float(raw)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


# ---- loading -------------------------------------------------------------------------------
def _actions(where: str, spec: Any) -> tuple[Action, ...]:
    items = [spec] if isinstance(spec, str) else spec
    if not isinstance(items, list):
        raise ProfileError(f'{where}: want a list of actions like ["smoke_alarm=1"]')
    actions = []
    for item in items:
        m = _ACTION.match(str(item))
        if m is None:
            raise ProfileError(f"{where}: {item!r} is not an action (kind=1, kind=0 or kind)")
        kind, value = m["kind"], m["value"]
        if kind in STATE_KINDS:
            if value is None:
                raise ProfileError(f"{where}: {kind} is a state: say {kind}=1 or {kind}=0")
            actions.append(Action(kind, float(value)))
        elif kind in MOMENTARY_KINDS:
            if value == "0":
                raise ProfileError(f"{where}: {kind} has no restoral")
            actions.append(Action(kind, 1.0))
        else:
            known = ", ".join(sorted(STATE_KINDS | MOMENTARY_KINDS))
            raise ProfileError(f"{where}: unknown event kind {kind!r} (known: {known})")
    return tuple(actions)


def _table(where: str, spec: Any) -> dict[str, tuple[Action, ...]]:
    if not isinstance(spec, dict):
        raise ProfileError(f"{where}: want a table of value = [actions]")
    return {_key(v): _actions(f"{where}.{v}", a) for v, a in spec.items()}


def _states(where: str, spec: Any) -> dict[str, tuple[Action, ...]]:
    """`event`, `raised` and `normal` values: a shorthand for a code table of one kind."""
    if not isinstance(spec, dict) or "event" not in spec:
        raise ProfileError(f'{where}: want event = "kind", raised = [...], normal = [...]')
    kind = spec["event"]
    if kind not in STATE_KINDS:
        raise ProfileError(f"{where}: {kind!r} is not a state kind")
    table: dict[str, tuple[Action, ...]] = {}
    for value in spec.get("raised", []):
        table[_key(value)] = (Action(kind, 1.0),)
    for value in spec.get("normal", []):
        if _key(value) in table:
            raise ProfileError(f"{where}: {value!r} is both raised and normal")
        table[_key(value)] = (Action(kind, 0.0),)
    for value in spec.get("ignore", []):
        table.setdefault(_key(value), ())
    if not table:
        raise ProfileError(f"{where}: no raised or normal values")
    return table


def _reading(where: str, spec: Any) -> ReadingRule:
    if not isinstance(spec, dict) or not _METRIC.match(str(spec.get("metric", ""))):
        raise ProfileError(f'{where}: want metric = "name" (lower case)')
    return ReadingRule(
        metric=spec["metric"],
        scale=float(spec.get("scale", 1.0)),
        offset=float(spec.get("offset", 0.0)),
        negate=bool(spec.get("negate", False)),
        ignore=frozenset(_key(v) for v in spec.get("ignore", [])),
    )


def _threshold(where: str, spec: Any) -> ThresholdRule:
    if not isinstance(spec, dict) or spec.get("event") not in STATE_KINDS:
        raise ProfileError(f'{where}: want event = "<state kind>" and below or above')
    below, above = spec.get("below"), spec.get("above")
    if below is None and above is None:
        raise ProfileError(f"{where}: say below = N or above = N")
    return ThresholdRule(
        spec["event"],
        None if below is None else float(below),
        None if above is None else float(above),
    )


def _frame_field(where: str, name: str, spec: Any) -> FrameField:
    if not isinstance(spec, dict) or "offset" not in spec:
        raise ProfileError(f"{where}: want offset = N and length = 1, 2 or 4")
    length = int(spec.get("length", 1))
    if length not in (1, 2, 3, 4, 8) or int(spec["offset"]) < 0:
        raise ProfileError(f"{where}: offset >= 0 and length 1, 2, 3, 4 or 8")
    order = str(spec.get("order", "big"))
    if order not in ("big", "little"):
        raise ProfileError(f'{where}: order is "big" or "little"')
    return FrameField(name, int(spec["offset"]), length, bool(spec.get("signed", False)),
                      order == "little")  # fmt: skip


def parse_profile(text: str, origin: str) -> Profile:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{origin}: not TOML: {exc}") from exc
    try:
        pid = str(raw["id"])
        heartbeat_s = float(raw["heartbeat_s"])
        platforms = frozenset(str(p) for p in raw["platforms"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ProfileError(f"{origin}: id, platforms and heartbeat_s are required ({exc})") from exc
    if not platforms <= {"ctwing", "onenet"}:
        raise ProfileError(f"{origin}: platforms are ctwing and/or onenet, not {sorted(platforms)}")
    if heartbeat_s <= 0:
        raise ProfileError(f"{origin}: heartbeat_s must be positive")
    profile = Profile(
        id=pid,
        name=str(raw.get("name", pid)),
        name_en=str(raw.get("name_en", raw.get("name", pid))),
        device_type=str(raw.get("device_type", "smoke_alarm")),
        platforms=platforms,
        products=frozenset(str(p) for p in raw.get("products", [])),
        heartbeat_s=heartbeat_s,
        codes={k: _table(f"{origin} codes.{k}", v) for k, v in raw.get("codes", {}).items()},
        states={k: _states(f"{origin} states.{k}", v) for k, v in raw.get("states", {}).items()},
        readings={
            k: _reading(f"{origin} readings.{k}", v) for k, v in raw.get("readings", {}).items()
        },
        thresholds={
            k: _threshold(f"{origin} thresholds.{k}", v)
            for k, v in raw.get("thresholds", {}).items()
        },
        heartbeat_field=raw.get("heartbeat_field"),
        heartbeat_unit_s=float(raw.get("heartbeat_unit_s", 1.0)),
        appdata=raw.get("appdata"),
        frame=tuple(
            _frame_field(f"{origin} frame.{k}", k, v) for k, v in raw.get("frame", {}).items()
        ),
        ignore_fields=frozenset(str(f) for f in raw.get("ignore_fields", [])),
    )
    if profile.appdata not in (None, "json", "binary", "hex"):
        raise ProfileError(f'{origin}: appdata is "json", "binary", "hex" or absent')
    if profile.appdata in ("binary", "hex") and not profile.frame:
        raise ProfileError(f"{origin}: a binary APPdata needs [frame.<field>] entries")
    return profile


class Profiles:
    """The shipped profiles plus an installer's own directory (which wins on the same id)."""

    def __init__(self, profiles: Iterable[Profile]) -> None:
        self.by_id: dict[str, Profile] = {}
        self._by_product: dict[tuple[str, str], Profile] = {}
        for p in profiles:
            self.by_id[p.id] = p
        for p in self.by_id.values():
            for platform in p.platforms:
                for product in p.products:
                    self._by_product[(platform, product)] = p

    @classmethod
    def load(cls, extra_dir: Path | None = None) -> Profiles:
        found = []
        shipped = resources.files("gateway.platforms").joinpath("profiles")
        for entry in sorted(shipped.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".toml"):
                found.append(parse_profile(entry.read_text("utf-8"), entry.name))
        if extra_dir is not None:
            for path in sorted(extra_dir.glob("*.toml")):
                found.append(parse_profile(path.read_text("utf-8"), str(path)))
        return cls(found)

    def find(
        self, platform: str, product: str, profile_id: str | None, *, strict: bool = True
    ) -> Profile | None:
        """The device's own profile when the registry names one, else its product's. Not
        `strict`: the name is only a hint (a model that may not be a profile id)."""
        if profile_id:
            found = self.by_id.get(profile_id)
            if found is not None or strict:
                return found
        return self._by_product.get((platform, product))
