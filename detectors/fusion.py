"""From kernel events to alerts: coincidence across detectors, gateway cover, and policy classes.

Kernels judge one device at a time; this state machine sees the events of all of them in order
and decides what an operator gets. Coincidence: while a detector is in alarm, a second detector
in the same household or building that is in alarm or pre-alarm confirms it (higher severity),
and a pre-alarm there becomes a fire alarm. A kitchen's cooking smoke (supervisory) becomes a
fire alarm when a detector outside the kitchen sees smoke too, or any detector around is in
alarm. A device whose gateway is known offline does not raise its own offline alert (the
gateway's covers it). Pure: handed events, no clock, no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from detectors.alert import Alert
from detectors.codes import (
    BATTERY_LOW,
    CLEAR,
    CO_ALARM,
    COOKING,
    FALSE_PRESS,
    FIRE,
    GAS,
    GATEWAY_OFFLINE,
    HEAT,
    HUSHED,
    KINDS,
    OFFLINE,
    PANIC,
    PRE_ALARM,
    R_DEVICE_RESTORED,
    RULES,
    SENSOR_FAULT,
    SMOKE_ALARM,
    TAMPER_KIND,
    WATER_LEAK,
)
from detectors.explain import Event, Reading, explain
from detectors.policy import Policy
from detectors.registry import Registry
from detectors.rooms import room_class

FIRE_KINDS = frozenset({FIRE, SMOKE_ALARM, HEAT})
MEAL_KEEP = 0.98  # each new cooking episode keeps this share of the old ones (about 50 remembered)
MEAL_USUAL = 3.0  # episodes within an hour of now that make it a usual meal time
MOMENTARY = frozenset({PANIC, FALSE_PRESS, HUSHED})
# Conditions whose end the board shows (a restoral): trouble and tamper whenever they end, alarms
# only when the device itself declared them over (a detector's own smoke alarm going quiet).
RESTORED_ALWAYS = frozenset({OFFLINE, BATTERY_LOW, TAMPER_KIND, SENSOR_FAULT})
RESTORED_DECLARED = frozenset({SMOKE_ALARM, HEAT, CO_ALARM, GAS, WATER_LEAK})
RESTORAL_RULE = "restored"  # Alert.rule of a restoral; alerting joins it, never opens with it


@dataclass
class FusionState:
    """What fusion remembers between events; saved with the engine."""

    alarm: dict[int, set[int]] = field(default_factory=dict)  # slot -> fire kinds latched
    pre: set[int] = field(default_factory=set)  # slots in pre-alarm
    confirmed: dict[int, int] = field(default_factory=dict)  # slot -> slot that confirmed it
    gateways_offline: set[str] = field(default_factory=set)
    cooking: set[int] = field(default_factory=set)  # kitchen slots showing cooking smoke
    # Household -> cooking episodes per local hour of day (learned meal times), forgetting old
    # episodes (MEAL_KEEP per new one).
    meals: dict[str, list[float]] = field(default_factory=dict)

    def dumps(self) -> str:
        return json.dumps(
            {
                "alarm": {str(k): sorted(v) for k, v in self.alarm.items()},
                "pre": sorted(self.pre),
                "confirmed": {str(k): v for k, v in self.confirmed.items()},
                "gateways_offline": sorted(self.gateways_offline),
                "cooking": sorted(self.cooking),
                "meals": self.meals,
            }
        )

    @classmethod
    def loads(cls, text: str) -> FusionState:
        raw = json.loads(text)
        return cls(
            alarm={int(k): set(v) for k, v in raw["alarm"].items()},
            pre=set(raw["pre"]),
            confirmed={int(k): int(v) for k, v in raw["confirmed"].items()},
            gateways_offline=set(raw["gateways_offline"]),
            cooking=set(raw.get("cooking", ())),
            meals={str(k): [float(x) for x in v] for k, v in raw.get("meals", {}).items()},
        )


class Fusion:
    def __init__(
        self,
        policy: Policy,
        registry: Registry,
        figures_of: Callable[[int], Mapping[str, float]],
        state: FusionState | None = None,
    ) -> None:
        self.policy = policy
        self.registry = registry
        self.figures_of = figures_of
        self.state = state or FusionState()

    def apply(
        self, events: list[Event], reading_of: Callable[[int], Reading | None], now: float
    ) -> list[Alert]:
        """Alerts for events in order; `now` is the received_at of time-driven events."""
        alerts: list[Alert] = []
        for event in events:
            reading = reading_of(event.row) if event.row >= 0 else None
            received = reading.received_at if reading is not None else now
            if event.action == CLEAR:
                self._clear(event)
                if event.kind in RESTORED_ALWAYS or (
                    event.kind in RESTORED_DECLARED and event.rule == R_DEVICE_RESTORED
                ):
                    alerts.append(self._restoral(event, reading, received))
            else:
                alerts.extend(self._raise(event, reading, received))
        return alerts

    def gateway(self, gateway_id: str, online: bool, ts: float) -> list[Alert]:
        offline = self.state.gateways_offline
        if online:
            offline.discard(gateway_id)
            return []
        if gateway_id in offline:
            return []
        offline.add(gateway_id)
        kind = self.policy.kinds[KINDS[GATEWAY_OFFLINE]]
        return [
            Alert(
                ts=ts,
                device_id=gateway_id,
                household_id=None,
                kind=kind.name,
                signal=kind.signal,
                severity=kind.severity,
                score=1.0,
                reason=f"gateway {gateway_id} reported offline",
                rule="gateway_status",
                evidence={
                    "gateway_id": gateway_id,
                    "reason": {"code": "reason.gateway_status", "params": {"gateway": gateway_id}},
                },
                received_at=ts,
            )
        ]

    def hushed(self, slot: int, ts: float, until: float, by: str) -> list[Alert]:
        """The hush of a room set from the console, as an alert for the incident timeline."""
        device = self.registry.devices[slot]
        kind = self.policy.kinds[KINDS[HUSHED]]
        return [
            Alert(
                ts=ts,
                device_id=device.device_id,
                household_id=device.household_id,
                kind=kind.name,
                signal=kind.signal,
                severity=kind.severity,
                score=1.0,
                reason=f"cooking confirmed by phone ({by}): smoke-only alarms in the "
                f"{device.room or 'room'} hushed for {until - ts:.0f} s; heat and CO still alarm",
                rule="hush_console",
                evidence={"until": until, "by": by, "room": device.room},
                received_at=ts,
            )
        ]

    def _members(self, slot: int) -> list[tuple[int, str]]:
        """Other devices sharing a household or building with `slot`, with the scope shared."""
        device = self.registry.devices[slot]
        reg = self.registry
        out = [(o, "household") for o in reg.household_members[device.household_id] if o != slot]
        if device.building_id is not None:
            out += [
                (o, "building")
                for o in reg.building_members[device.building_id]
                if reg.devices[o].household_id != device.household_id
            ]
        return out

    def _partner(self, slot: int, include_pre: bool) -> tuple[int, str] | None:
        """Another device of the household or building in alarm (or pre-alarm)."""
        st = self.state
        candidates = set(st.alarm) | ((st.pre | st.cooking) if include_pre else set())
        candidates.discard(slot)
        if not candidates:
            return None
        for other, scope in self._members(slot):
            if other in candidates:
                return other, scope
        return None

    def _clear(self, event: Event) -> None:
        st = self.state
        if event.kind in FIRE_KINDS:
            kinds = st.alarm.get(event.slot, set())
            kinds.discard(event.kind)
            if not kinds:
                st.alarm.pop(event.slot, None)
        elif event.kind == PRE_ALARM:
            st.pre.discard(event.slot)
        elif event.kind == COOKING:
            st.cooking.discard(event.slot)
        if event.slot not in st.alarm and event.slot not in st.pre and event.slot not in st.cooking:
            st.confirmed.pop(event.slot, None)

    def _raise(self, event: Event, reading: Reading | None, received: float) -> list[Alert]:
        st = self.state
        slot = event.slot
        if event.kind in FIRE_KINDS:
            partner = self._partner(slot, include_pre=True)
            already = slot in st.confirmed and event.kind == FIRE
            st.alarm.setdefault(slot, set()).add(event.kind)
            out = [] if already else [self._alert(event, reading, received, partner)]
            return out + self._confirm_others(slot, event, received)
        if event.kind in (PRE_ALARM, COOKING):
            return self._pre_alarm(event, reading, received)
        if event.kind == GATEWAY_OFFLINE:
            return self._gateway_silence(event, received)
        gateway = self.registry.devices[slot].gateway_id
        if event.kind == OFFLINE and gateway in st.gateways_offline:
            return []  # the gateway's own offline alert covers it
        return [self._alert(event, reading, received, None)]

    def _pre_alarm(self, event: Event, reading: Reading | None, received: float) -> list[Alert]:
        """A pre-alarm: shown, or a fire alarm at once when a neighbour is already in alarm."""
        st = self.state
        slot = event.slot
        (st.cooking if event.kind == COOKING else st.pre).add(slot)
        out = [] if event.kind == COOKING else self._kitchens_confirmed(slot, event, received)
        if slot in st.alarm or slot in st.confirmed:
            return out
        partner = self._partner(slot, include_pre=False)
        if partner is None and event.kind == COOKING:
            partner = self._outside_kitchen(slot)
        if partner is None:
            alert = self._alert(event, reading, received, None)
            if event.kind == COOKING:
                alert = self._meal_time(alert, event)
            return [alert, *out]
        st.confirmed[slot] = partner[0]
        return [self._coincidence(slot, event, received, partner), *out]

    def _meal_time(self, alert: Alert, event: Event) -> Alert:
        """Learn the household's meal times from its cooking episodes, and say whether this one
        is at a usual time (evidence for the operator; the fire rules do not depend on it)."""
        figures = self.figures_of(event.slot)
        hour = int(((event.ts + figures["utc_offset_h"] * 3600.0) // 3600.0) % 24)
        household = self.registry.devices[event.slot].household_id
        counts = self.state.meals.setdefault(household, [0.0] * 24)
        seen = sum(counts[(hour + d) % 24] for d in (-1, 0, 1))
        usual = seen >= MEAL_USUAL
        for h in range(24):
            counts[h] *= MEAL_KEEP
        counts[hour] += 1.0
        evidence = {**alert.evidence, "meal_time": {"hour": hour, "episodes_near": round(seen, 1)}}
        reason = alert.reason + (
            f"; a usual meal time for this household ({seen:.0f} earlier episodes near {hour}:00)"
            if usual
            else f"; not (yet) a usual meal time for this household ({hour}:00)"
        )
        return replace(alert, evidence=evidence, reason=reason)

    def _kitchen(self, slot: int) -> bool:
        return room_class(self.registry.devices[slot].room) == "kitchen"

    def _outside_kitchen(self, slot: int) -> tuple[int, str] | None:
        """A detector of the household outside the kitchen in pre-alarm: smoke has spread."""
        household = self.registry.devices[slot].household_id
        for other in self.registry.household_members[household]:
            if other != slot and other in self.state.pre and not self._kitchen(other):
                return other, "household"
        return None

    def _kitchens_confirmed(self, slot: int, event: Event, received: float) -> list[Alert]:
        """A pre-alarm outside the kitchen turns the household's cooking smoke into fire."""
        st = self.state
        if not st.cooking or self._kitchen(slot):
            return []
        out = []
        household = self.registry.devices[slot].household_id
        for other in self.registry.household_members[household]:
            if other in st.cooking and other not in st.alarm and other not in st.confirmed:
                st.confirmed[other] = slot
                out.append(self._coincidence(other, event, received, (slot, "household")))
        return out

    def _gateway_silence(self, event: Event, received: float) -> list[Alert]:
        """Every device behind a gateway went quiet (the event's slot is the gateway index)."""
        name = self.registry.gateways[event.slot]
        if name in self.state.gateways_offline:
            return []  # its own status said so already
        members = self.registry.gateway_members[name]
        households = {self.registry.devices[s].household_id for s in members}
        kind = self.policy.kinds[KINDS[GATEWAY_OFFLINE]]
        return [
            Alert(
                ts=event.ts,
                device_id=name,
                household_id=households.pop() if len(households) == 1 else None,
                kind=kind.name,
                signal=kind.signal,
                severity=kind.severity,
                score=event.score,
                reason=f"nothing received from any of its {len(members)} devices for "
                f"{event.ts - event.since:.0f} s",
                rule="gateway_silence",
                evidence={
                    "gateway_id": name,
                    "last_received": event.since,
                    "score": event.score,
                    "reason": {
                        "code": "reason.gateway_silence",
                        "params": {"count": len(members), "after": round(event.ts - event.since)},
                    },
                },
                received_at=received,
            )
        ]

    def _confirm_others(self, slot: int, event: Event, received: float) -> list[Alert]:
        """A new alarm turns the pre-alarms around it into confirmed fire alarms."""
        st = self.state
        out = []
        for other, scope in self._members(slot):
            waiting = other in st.pre or other in st.cooking
            if waiting and other not in st.alarm and other not in st.confirmed:
                st.confirmed[other] = slot
                out.append(self._coincidence(other, event, received, (slot, scope)))
        return out

    def _alert(
        self,
        event: Event,
        reading: Reading | None,
        received: float,
        partner: tuple[int, str] | None,
    ) -> Alert:
        device = self.registry.devices[event.slot]
        kind = self.policy.kinds[KINDS[event.kind]]
        rule, reason, evidence = explain(event, reading, self.figures_of(event.slot))
        severity = kind.severity
        if partner is not None and event.kind not in MOMENTARY:
            severity = kind.confirmed_severity
            other = self.registry.devices[partner[0]].device_id
            evidence["confirmed_by"] = {"device_id": other, "scope": partner[1]}
            reason += f"; confirmed by {other} in the same {partner[1]}"
        return Alert(
            ts=event.ts,
            device_id=device.device_id,
            household_id=device.household_id,
            kind=kind.name,
            signal=kind.signal,
            severity=severity,
            score=event.score,
            reason=reason,
            rule=rule,
            evidence=evidence,
            received_at=received,
        )

    def _restoral(self, event: Event, reading: Reading | None, received: float) -> Alert:
        """The end of a condition, for the board: same kind, rule `restored`, lowest severity."""
        device = self.registry.devices[event.slot]
        kind = self.policy.kinds[KINDS[event.kind]]
        evidence: dict[str, Any] = {"restoral": True, "cleared_by": RULES[event.rule]}
        if reading is not None:
            evidence["reading"] = {"ts": reading.ts, "value": reading.value}
        return Alert(
            ts=event.ts,
            device_id=device.device_id,
            household_id=device.household_id,
            kind=kind.name,
            signal=kind.signal,
            severity=1,
            score=0.0,
            reason=f"{kind.name} restored ({RULES[event.rule]})",
            rule=RESTORAL_RULE,
            evidence=evidence,
            received_at=received,
        )

    def _coincidence(
        self, slot: int, event: Event, received: float, partner: tuple[int, str]
    ) -> Alert:
        device = self.registry.devices[slot]
        other = self.registry.devices[partner[0]].device_id
        kind = self.policy.kinds[KINDS[FIRE]]
        evidence: dict[str, Any] = {
            "confirmed_by": {"device_id": other, "scope": partner[1]},
            "trigger": {
                "device_id": self.registry.devices[event.slot].device_id,
                "rule": RULES[event.rule],
            },
            "reason": {
                "code": "reason.coincidence",
                "params": {"other": other, "scope": partner[1]},
            },
        }
        return Alert(
            ts=event.ts,
            device_id=device.device_id,
            household_id=device.household_id,
            kind=kind.name,
            signal=kind.signal,
            severity=kind.confirmed_severity,
            score=1.0,
            reason=(
                f"cooking smoke in the kitchen and smoke at {other} outside it"
                if slot in self.state.cooking and partner[0] in self.state.pre
                else f"pre-alarm confirmed by {other} in alarm in the same {partner[1]}"
            ),
            rule="coincidence",
            evidence=evidence,
            received_at=received,
        )
