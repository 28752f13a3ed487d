"""zigbee2mqtt's `exposes` to Vigil's kinds, as data (gateway/zigbee2mqtt.toml): pure, no I/O.

`Mapping.plan(entry)` reads one `bridge/devices` entry (its definition's exposes) and returns
what to take from that device's state payloads, or None when nothing maps (the device is then
listed as unmapped). `DevicePlan.read(payload)` turns one state payload into states for the
tracker, momentary presses and telemetry readings.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from vigil.device_types import device_types
from vigil.provisioning.zigbee import device_id

ACCESS_STATE = 1  # zigbee2mqtt's access bit: the property is published in the device's state
_NUMBERED = re.compile(r"(_alarm)?_(l|ep)?[0-9]+$")
ALARM_KINDS = frozenset({"smoke_alarm", "heat_alarm", "co_alarm", "gas_alarm", "water_leak"})
# Edge kinds under the tracker's edge property names (gateway/foreign_state.py EDGES).
EDGE_KEYS = {"self_test": "test", "button": "sos"}


OVERRIDE_KEYS = frozenset({"binary", "edge", "enum", "actions", "numeric", "ignore", "type"})


class MappingError(ValueError):
    """The mapping file or an override is malformed."""


@dataclass(frozen=True)
class Rule:
    """One property of a device's state payload and what it becomes."""

    prop: str
    kind: str
    how: str  # "binary", "edge", "enum", "enum_edge", "action", "numeric"
    on: Any = True  # binary: value_on; enum: the values that mean raised
    off: Any = False
    invert: bool = False
    reasons: Mapping[str, str] = field(default_factory=dict)  # action value -> press reason


@dataclass(frozen=True)
class Reading:
    metric: str
    value: float


@dataclass(frozen=True)
class Press:
    kind: str
    value: float
    reason: str
    code: str


@dataclass
class Taken:
    """What one payload says: tracker states, presses, telemetry, and values it could not read."""

    states: dict[str, float] = field(default_factory=dict)
    presses: list[Press] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DevicePlan:
    """What to take from one device's payloads."""

    ieee: str
    friendly_name: str
    model: str
    vendor: str
    description: str
    vigil_id: str
    vigil_type: str | None
    rules: tuple[Rule, ...]

    @property
    def kinds(self) -> list[str]:
        return sorted({r.kind for r in self.rules if r.how != "numeric"})

    def read(self, payload: Mapping[str, Any]) -> Taken:
        taken = Taken()
        allowed = _type_metrics(self.vigil_type)
        for rule in self.rules:
            if rule.prop not in payload:
                continue
            raw = payload[rule.prop]
            if rule.how == "numeric":
                if _number(raw) is not None and (allowed is None or rule.kind in allowed):
                    taken.readings.append(Reading(rule.kind, float(raw)))
                elif raw is not None and _number(raw) is None:
                    taken.refused.append(f"{rule.prop}={raw!r}")
                continue
            if rule.how == "action":
                if isinstance(raw, str) and raw in rule.reasons:
                    taken.presses.append(Press(rule.kind, 1.0, rule.reasons[raw], raw))
                continue
            level = _level(rule, raw)
            if level is None:
                if raw is not None:
                    taken.refused.append(f"{rule.prop}={raw!r}")
                continue
            key = EDGE_KEYS.get(rule.kind, rule.kind)
            # Several properties may say one kind (smoke and smoke_state): raised if any says so.
            taken.states[key] = max(level, taken.states.get(key, 0.0))
        if taken.states.get("test", 0.0) >= 0.5:
            # A device's own test sets its alarm flags too: that is a self-test, never a fire.
            for kind in ALARM_KINDS:
                taken.states.pop(kind, None)
        return taken


def _number(raw: Any) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    return float(raw) if math.isfinite(raw) else None


def _level(rule: Rule, raw: Any) -> float | None:
    """1.0 raised, 0.0 not, None when the value is not one the expose declares."""
    if rule.how in ("binary", "edge"):
        if raw == rule.on:
            level = 1.0
        elif raw == rule.off:
            level = 0.0
        else:
            return None
        return 1.0 - level if rule.invert else level
    if not isinstance(raw, str):
        return None
    return 1.0 if raw in rule.on else 0.0


def _type_metrics(type_name: str | None) -> frozenset[str] | None:
    if type_name is None:
        return None
    found = device_types().get(type_name)
    return frozenset(found.metrics) if found else None


def _walk(exposes: Any) -> Iterator[Mapping[str, Any]]:
    """Every expose and feature, depth first (composites and specific exposes nest features)."""
    if not isinstance(exposes, list):
        return
    for expose in exposes:
        if isinstance(expose, Mapping):
            yield expose
            yield from _walk(expose.get("features"))


@dataclass(frozen=True)
class ExposeMap:
    """The mapping tables (zigbee2mqtt.toml), possibly with per-model overrides."""

    binary: Mapping[str, str]
    edge: Mapping[str, str]
    enum: Mapping[str, Mapping[str, Any]]
    actions: Mapping[str, str]
    sos_description: tuple[str, ...]
    sos_actions: tuple[str, ...]
    numeric: Mapping[str, str]
    types: Mapping[str, tuple[str, ...]]
    models: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None) -> ExposeMap:
        """The shipped tables; `overrides` is the config file's `[models]` table."""
        text = resources.files("gateway").joinpath("zigbee2mqtt.toml").read_text("utf-8")
        return cls.from_dict(tomllib.loads(text), overrides or {})

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], models: Mapping[str, Any]) -> ExposeMap:
        try:
            sos = raw.get("sos_button", {})
            made = cls(
                binary=dict(raw.get("binary", {})),
                edge=dict(raw.get("edge", {})),
                enum={k: dict(v) for k, v in raw.get("enum", {}).items()},
                actions=dict(raw.get("actions", {})),
                sos_description=tuple(s.lower() for s in sos.get("description", ())),
                sos_actions=tuple(sos.get("actions", ())),
                numeric=dict(raw.get("numeric", {})),
                types={k: tuple(v) for k, v in raw.get("types", {}).items()},
                models={str(k): dict(v) for k, v in models.items()},
            )
        except (AttributeError, TypeError, ValueError) as exc:
            raise MappingError(f"malformed zigbee2mqtt mapping: {exc}") from exc
        for name, table in made.models.items():
            unknown = set(table) - OVERRIDE_KEYS
            if unknown:
                raise MappingError(f"[models.{name!r}]: unknown keys {sorted(unknown)}")
            kind = table.get("type")
            if kind is not None and kind not in device_types():
                raise MappingError(f"[models.{name!r}]: unknown device type {kind!r}")
        return made

    def _for_model(self, model: str) -> ExposeMap:
        over = self.models.get(model)
        if not over:
            return self
        return ExposeMap(
            binary={**self.binary, **over.get("binary", {})},
            edge={**self.edge, **over.get("edge", {})},
            enum={**self.enum, **over.get("enum", {})},
            actions={**self.actions, **over.get("actions", {})},
            sos_description=self.sos_description,
            sos_actions=self.sos_actions,
            numeric={**self.numeric, **over.get("numeric", {})},
            types=self.types,
        )

    def plan(self, entry: Mapping[str, Any]) -> DevicePlan | None:
        """The plan for one `bridge/devices` entry; None for the coordinator, a device not yet
        interviewed (no definition) or one whose exposes map to nothing Vigil uses."""
        definition = entry.get("definition")
        ieee = entry.get("ieee_address")
        if entry.get("type") == "Coordinator" or not isinstance(definition, Mapping):
            return None
        if not isinstance(ieee, str):
            return None
        model = str(definition.get("model", ""))
        over = self.models.get(model, {})
        table = self._for_model(model)
        ignore = set(over.get("ignore", ()))
        description = str(definition.get("description", ""))
        sos = any(word in description.lower() for word in self.sos_description)
        rules: list[Rule] = []
        seen: set[str] = set()
        for expose in _walk(definition.get("exposes")):
            prop = expose.get("property")
            if not isinstance(prop, str) or prop in seen or prop in ignore:
                continue
            access = expose.get("access", ACCESS_STATE)
            if not isinstance(access, int) or not access & ACCESS_STATE:
                continue
            rule = table._rule(expose, prop, sos)
            if rule is not None:
                seen.add(prop)
                rules.append(rule)
        if not any(r.how != "numeric" for r in rules):
            return None
        kinds = {r.kind for r in rules if r.how != "numeric"}
        vigil_type = over.get("type") or next(
            (t for t, ks in self.types.items() if kinds & set(ks)), None
        )
        return DevicePlan(
            ieee=ieee,
            friendly_name=str(entry.get("friendly_name", ieee)),
            model=model,
            vendor=str(definition.get("vendor", "")),
            description=description,
            vigil_id=device_id(ieee),
            vigil_type=vigil_type,
            rules=tuple(rules),
        )

    def _rule(self, expose: Mapping[str, Any], prop: str, sos: bool) -> Rule | None:
        kind_of = expose.get("type")
        if kind_of == "binary":
            return self._binary(expose, prop)
        if kind_of == "enum":
            return self._enum(expose, prop, sos)
        if kind_of == "numeric" and prop in self.numeric:
            return Rule(prop, self.numeric[prop], "numeric")
        return None

    def _binary(self, expose: Mapping[str, Any], prop: str) -> Rule | None:
        on, off = expose.get("value_on", True), expose.get("value_off", False)
        base = prop
        if base not in self.binary and base not in self.edge:
            base = _NUMBERED.sub("", prop)  # water_leak_alarm_1, occupancy_2 -> their base
        if base in self.binary:
            kind = self.binary[base]
            return Rule(prop, kind.lstrip("!"), "binary", on, off, kind.startswith("!"))
        if base in self.edge:
            return Rule(prop, self.edge[base], "edge", on, off)
        return None

    def _enum(self, expose: Mapping[str, Any], prop: str, sos: bool) -> Rule | None:
        values = [v for v in expose.get("values", []) if isinstance(v, str)]
        if prop == "action":
            reasons = {v: self.actions[v] for v in values if v in self.actions}
            if sos:
                reasons.update({v: "panic" for v in values if v in self.sos_actions})
            return Rule(prop, "button", "action", reasons=reasons) if reasons else None
        spec = self.enum.get(prop)
        if spec is None:
            return None
        on = frozenset(spec.get("on", ()))
        return Rule(prop, str(spec["kind"]), "enum_edge" if spec.get("edge") else "enum", on=on)


def unmapped_summary(entry: Mapping[str, Any]) -> dict[str, Any]:
    """What an installer needs to see about a device nothing maps: its model and exposes."""
    definition = entry.get("definition") or {}
    exposes = [
        f"{e.get('type')}:{e.get('property') or e.get('name')}"
        for e in _walk(definition.get("exposes") if isinstance(definition, Mapping) else None)
    ]
    return {
        "ieee_address": entry.get("ieee_address"),
        "friendly_name": entry.get("friendly_name"),
        "model": definition.get("model") if isinstance(definition, Mapping) else None,
        "vendor": definition.get("vendor") if isinstance(definition, Mapping) else None,
        "exposes": exposes,
    }
