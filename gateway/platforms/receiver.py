"""From a checked push to staged events and readings: registry, profile, states, supervision.

Synchronous and handed `now`; the HTTP side (app.py) awaits the bridge's acknowledgement.
States become events only when they change (a repeated "alarm" report raises nothing new; the
first "normal" of a device sets its baseline silently); momentary kinds (a button press, the
test button) raise an event each time, and a retried push is never read twice because its key
is remembered.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from gateway.platforms.profiles import MOMENTARY_KINDS, Action, Profile, Profiles, read_frame
from gateway.platforms.pushes import Kind, Push
from gateway.platforms.state import ReadingRow, State, Txn
from vigil.codec import Event

log = logging.getLogger(__name__)

AVAILABILITY = "availability"


class Sink(Protocol):
    """The bridge to Vigil's broker: events acknowledged through a future, readings queued."""

    def emit(self, events: list[Event]) -> Future[Any]: ...

    def read(self, readings: list[ReadingRow]) -> None: ...


@dataclass(frozen=True)
class DeviceEntry:
    """A registered platform device: Vigil's id for it and the profile to read it with."""

    device_id: str
    source: str
    product: str = ""
    profile: str | None = None
    imei: str | None = None
    platform_id: str | None = None
    profile_hint: bool = False  # `profile` is the device's model: a profile id, or not one


class Registry(Protocol):
    def find(self, source: str, platform_id: str, imei: str | None) -> DeviceEntry | None: ...


@dataclass
class MemoryRegistry:
    """Devices held in memory (tests, and the cache of the database registry)."""

    by_platform_id: dict[tuple[str, str], DeviceEntry] = field(default_factory=dict)
    by_imei: dict[tuple[str, str], DeviceEntry] = field(default_factory=dict)

    def add(self, entry: DeviceEntry) -> None:
        if entry.platform_id:
            self.by_platform_id[(entry.source, entry.platform_id)] = entry
        if entry.imei:
            self.by_imei[(entry.source, entry.imei)] = entry

    def find(self, source: str, platform_id: str, imei: str | None) -> DeviceEntry | None:
        entry = self.by_platform_id.get((source, platform_id))
        if entry is None and imei:
            entry = self.by_imei.get((source, imei))
        return entry


class Result(StrEnum):
    STAGED = "staged"  # new: events and readings staged, to be acknowledged
    DUPLICATE = "duplicate"  # a retry of a push already accepted
    PENDING = "pending"  # a retry of a push staged and not yet acknowledged
    DEAD = "dead"  # kept as a dead letter with its reason (answered 200: a retry cannot help)
    IGNORED = "ignored"  # acknowledged and not forwarded (command responses and the like)


@dataclass(frozen=True)
class Outcome:
    result: Result
    outbox_id: int = 0
    events: list[Event] = field(default_factory=list)
    readings: list[ReadingRow] = field(default_factory=list)
    reason: str = ""


@dataclass(frozen=True)
class Refusal:
    """Why a push cannot be read: the dead letter's reason and detail."""

    reason: str
    detail: str


@dataclass(frozen=True)
class SupervisionConfig:
    """A device is offline once `interval * (1 + grace) + slack_s` passed without a word."""

    grace: float = 0.25
    slack_s: float = 600.0


class Receiver:
    def __init__(
        self,
        state: State,
        profiles: Profiles,
        registry: Registry,
        supervision: SupervisionConfig | None = None,
        topic_prefix: str = "platform",
    ) -> None:
        # Dead letters are filed under the receiver's gateway topic (vigil/v1/site/gateway), so
        # the console lists them with that gateway's, like every other gateway's refusals.
        self.topic_prefix = topic_prefix
        self.state = state
        self.profiles = profiles
        self.registry = registry
        self.supervision = supervision or SupervisionConfig()
        self.counters: dict[str, int] = {}

    def _count(self, what: str) -> None:
        self.counters[what] = self.counters.get(what, 0) + 1

    # ---- a push --------------------------------------------------------------------------
    def take(self, account: str, push: Push, raw: bytes, now: float) -> Outcome:
        seen = self.state.seen(push.key)
        if seen is not None:
            self._count("duplicate")
            return Outcome(Result.DUPLICATE if seen else Result.PENDING)
        if push.kind is Kind.OTHER:
            with self.state.transaction() as txn:
                txn.mark(push.key, now, accepted=True)
            self._count("ignored")
            return Outcome(Result.IGNORED)
        topic = f"{self.topic_prefix}/platform/{push.source}/{account}/{push.device}"
        found = self._device(push, now)
        if isinstance(found, Refusal):
            return self._dead(push, topic, found.reason, found.detail, raw=raw, now=now)
        entry, profile = found
        with self.state.transaction() as txn:
            txn.mark(push.key, now, accepted=False)
            if push.imei:  # CTWing's online/offline reports name the device by its id only
                txn.learn(push.source, push.device, push.imei)
            events, readings, problems = self._read(txn, entry, profile, push, now)
            if problems:
                # The readable part goes on; what the profile could not read is kept, visible.
                detail = f"{profile.id}: " + "; ".join(problems)
                txn.dead(now, topic, "unreadable", detail, raw)
                self._count("unreadable")
                log.warning("push from %s: %s", push.device, detail)
            if not events and not readings:
                txn.mark(push.key, now, accepted=True)
                outcome = Outcome(Result.DEAD if problems else Result.IGNORED, reason="nothing")
            else:
                outbox_id = txn.stage(push.key, events, readings)
                outcome = Outcome(Result.STAGED, outbox_id, events, readings)
        self._count("pushes")
        return outcome

    def _device(self, push: Push, now: float) -> tuple[DeviceEntry, Profile] | Refusal:
        """The registered device and its profile, or why the push cannot be read (a reason
        and its detail, for the dead letter)."""
        if push.ts < now - self.state.remember_s:
            # Older than deduplication remembers: a retry could no longer be recognised, so
            # it is not forwarded (a replayed old push must not raise an alarm again).
            return Refusal("stale", f"push {(now - push.ts) / 3600:.1f} h old")
        imei = push.imei or self.state.imei_of(push.source, push.device)
        entry = self.registry.find(push.source, push.device, imei)
        if entry is None:
            who = f"device {push.device}" + (f" (IMEI {push.imei})" if push.imei else "")
            return Refusal("unknown_device", f"{who} is not registered")
        profile = self.profiles.find(
            push.source, entry.product or push.product, entry.profile, strict=not entry.profile_hint
        )
        if profile is None:
            why = (
                f"no profile {entry.profile!r}"
                if entry.profile and not entry.profile_hint
                else f"no profile for {push.source} product {push.product or entry.product!r}"
            )
            return Refusal("no_profile", why)
        return entry, profile

    def _dead(
        self, push: Push, topic: str, reason: str, detail: str, *, raw: bytes, now: float
    ) -> Outcome:
        with self.state.transaction() as txn:
            txn.mark(push.key, now, accepted=True)
            txn.dead(now, topic, reason, detail, raw)
        self._count(reason)
        log.warning("dead letter (%s) from %s: %s", reason, topic, detail)
        return Outcome(Result.DEAD, reason=reason)

    def malformed(self, source: str, account: str, detail: str, raw: bytes, now: float) -> None:
        """A body that is not a push of the documented formats, from an authentic sender."""
        with self.state.transaction() as txn:
            txn.dead(now, f"{self.topic_prefix}/platform/{source}/{account}", "malformed",
                     detail, raw)  # fmt: skip
        self._count("malformed")

    def _read(
        self, txn: Txn, entry: DeviceEntry, profile: Profile, push: Push, now: float
    ) -> tuple[list[Event], list[ReadingRow], list[str]]:
        dev = entry.device_id
        base = {"source": str(push.source), "model": profile.id, "product": push.product}
        emit = _Emitter(txn, dev, push.ts, now, base)
        readings: list[ReadingRow] = []
        problems: list[str] = []
        if push.kind in (Kind.ONLINE, Kind.OFFLINE):
            value = 1.0 if push.kind is Kind.ONLINE else 0.0
            if txn.prop(dev, AVAILABILITY) != value:
                if value == 0.0 or txn.prop(dev, AVAILABILITY) is not None:
                    emit(AVAILABILITY, value, reason=f"platform_{push.kind}")
                txn.set_prop(dev, AVAILABILITY, value)
            if push.kind is Kind.ONLINE:
                txn.heard(dev, now, profile.heartbeat_s, profile.id)
            return emit.events, readings, problems
        fields = _fields(profile, push, problems)
        reading = profile.read(fields)
        problems.extend(reading.problems)
        if fields and reading.known_fields == 0:
            names = ", ".join(sorted(fields)[:12])
            problems.append(f"no field this profile reads (fields: {names})")
        # Heard from: the device is online again if it was not.
        if txn.prop(dev, AVAILABILITY) == 0.0:
            emit(AVAILABILITY, 1.0, reason="heard")
        txn.set_prop(dev, AVAILABILITY, 1.0)
        txn.heard(dev, now, reading.heartbeat_s or profile.heartbeat_s, profile.id)
        if reading.readings:
            seq = txn.next_seq(dev)
            readings.extend(ReadingRow(dev, seq, push.ts, now, m, v) for m, v in reading.readings)
        for name, action in reading.actions:
            _apply(txn, emit, action, code=f"{name}={fields.get(name)!r}")
        return emit.events, readings, problems

    # ---- supervision ---------------------------------------------------------------------
    def supervise(self, now: float) -> list[tuple[int, str, list[Event]]]:
        """Devices silent past their heartbeat: one offline event each, staged."""
        staged = []
        cfg = self.supervision
        for h in self.state.heard():
            deadline = h.last + h.interval * (1 + cfg.grace) + cfg.slack_s
            if now < deadline or self.state.prop(h.dev, AVAILABILITY) == 0.0:
                continue
            key = f"supervision:{h.dev}:{h.last}"
            with self.state.transaction() as txn:
                txn.set_prop(h.dev, AVAILABILITY, 0.0)
                txn.mark(key, now, accepted=False)
                detail = {"reason": "missed_heartbeat", "model": h.profile,
                          "last_heard": h.last, "interval_s": h.interval}  # fmt: skip
                ev = Event(dev=h.dev, seq=txn.next_seq(h.dev), ts=now, rx=now, kind=AVAILABILITY,
                           value=0.0, detail=detail)  # fmt: skip
                staged.append((txn.stage(key, [ev], []), key, [ev]))
            self._count("missed_heartbeat")
            log.warning("device %s silent since %.0f (every %.0f s): offline", h.dev, h.last,
                        h.interval)  # fmt: skip
        return staged


class _Emitter:
    """Events of one device from one message, numbered from the device's own sequence."""

    def __init__(self, txn: Txn, dev: str, ts: float, now: float, base: dict[str, Any]) -> None:
        self.txn, self.dev, self.ts, self.now, self.base = txn, dev, ts, now, base
        self.events: list[Event] = []

    def __call__(self, kind: str, value: float, ts: float | None = None, **detail: Any) -> None:
        self.events.append(Event(
            dev=self.dev, seq=self.txn.next_seq(self.dev), ts=self.ts if ts is None else ts,
            rx=self.now, kind=kind, value=value, detail={**self.base, **detail},
        ))  # fmt: skip


def _apply(txn: Txn, emit: _Emitter, action: Action, code: str) -> None:
    """A state as the message says it: an event when it changes, none when it does not."""
    dev, ts = emit.dev, emit.ts
    if action.kind in MOMENTARY_KINDS:
        emit(action.kind, 1.0, code=code)
        return
    before = txn.prop(dev, action.kind)
    last_at = txn.prop_at(dev, action.kind) or 0.0
    if ts < last_at:
        # Older than the state already known (a late retry): a restoral changes nothing; an
        # alarm the board never saw is shown, then restored at the time of the newer report.
        if action.value == 1.0 and before == 0.0:
            emit(action.kind, 1.0, code=code, late=True)
            emit(action.kind, 0.0, ts=last_at, code=code, late=True)
        return
    txn.set_prop(dev, action.kind, action.value, ts)
    if before == action.value or (action.value == 0.0 and before is None):
        return  # unchanged, or the first "normal" of a device: its baseline
    emit(action.kind, action.value, code=code)


def _fields(profile: Profile, push: Push, problems: list[str]) -> Mapping[str, Any]:
    """The fields of a push: as sent, or read from a transparent product's APPdata."""
    frame = push.appdata
    if frame is None:
        return push.fields
    if profile.appdata == "json":
        return _json_fields(frame, problems)
    if profile.appdata == "hex":
        try:
            frame = bytes.fromhex(frame.decode("ascii"))
        except (UnicodeDecodeError, ValueError) as exc:
            problems.append(f"APPdata is not hex text: {exc}")
            return {}
    if profile.appdata in ("binary", "hex"):
        found, missing = read_frame(profile.frame, frame)
        problems.extend(missing)
        return found
    problems.append(
        f"a transparent frame of {len(frame)} bytes: profile {profile.id} has no decoder for it"
    )
    return {}


def _json_fields(frame: bytes, problems: list[str]) -> Mapping[str, Any]:
    try:
        decoded = json.loads(frame)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(f"APPdata is not JSON text: {exc}")
        return {}
    if not isinstance(decoded, dict):
        problems.append("APPdata JSON is not an object")
        return {}
    return decoded
