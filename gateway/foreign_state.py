"""State to events for devices that report their state, not their events (zigbee2mqtt, NB-IoT).

A foreign hub publishes snapshots ("smoke": true, "tamper": false, "battery_low": false ...) and
publishes them again whenever it likes: on every report, after its own restart, and as retained
messages on every reconnect. Vigil wants events: one when a state changes, none when it does not.
`changes` is the pure rule; `ForeignState` keeps, per (device, property), the last state sent and,
per device, the last event sequence number, in SQLite beside the bridge's disk queue.

Exactly once: the new states are written in the same SQLite transaction that puts their events
in the disk queue (`Bridge.emit(events, state=change)`), so a crash leaves either both (the
events go out, the state is known) or neither (the next snapshot produces the events again).
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigil.codec import Event

# Properties that are states: an event on every change, both ways (1 raised, 0 restored).
STATES = frozenset({
    "smoke_alarm", "heat_alarm", "co_alarm", "gas_alarm", "water_leak", "tamper",
    "low_battery", "fault", "availability", "motion", "door",
})  # fmt: skip
# Properties whose rising edge is a momentary event: a device's own test (never a fire), and an
# SOS button that reports its press as a flag.
EDGES = {"test": "self_test", "sos": "button"}
# On first sight only a state that is not the quiet one says something (no restoral of nothing).
QUIET = {"availability": 1.0}

_SCHEMA = """
create table if not exists foreign_state (
    device text not null,
    prop text not null,
    value real not null,
    primary key (device, prop)
);
create table if not exists foreign_seq (device text primary key, seq integer not null);
"""


@dataclass(frozen=True)
class Memory:
    """What the tracker knows of one device: its last states and its last sequence number."""

    states: Mapping[str, float] = field(default_factory=dict)
    seq: int = 0


@dataclass(frozen=True)
class Change:
    """The events a snapshot made and the memory to store with them."""

    device: str
    events: list[Event]
    memory: Memory

    def save(self, db: sqlite3.Connection) -> None:
        """Write the new memory; called inside the disk queue's transaction."""
        db.executemany(
            "insert into foreign_state (device, prop, value) values (?, ?, ?) "
            "on conflict (device, prop) do update set value = excluded.value",
            [(self.device, p, v) for p, v in self.memory.states.items()],
        )
        db.execute(
            "insert into foreign_seq (device, seq) values (?, ?) "
            "on conflict (device) do update set seq = excluded.seq",
            (self.device, self.memory.seq),
        )


def _level(value: float | bool) -> float:
    return 1.0 if float(value) >= 0.5 else 0.0


def changes(
    device: str,
    memory: Memory,
    snapshot: Mapping[str, float | bool],
    now: float,
    *,
    ts: float | None = None,
    detail: Mapping[str, Any] | None = None,
) -> tuple[list[Event], Memory]:
    """Events for what `snapshot` changed against `memory`, and the memory after it.

    States (STATES) give an event on each change: value 1.0 raised, 0.0 restored. An edge
    (EDGES: `test`) gives its event when it becomes true. Properties neither a state nor an edge
    are ignored, as are values that are not numbers. `ts` is the device time (default `now`).
    """
    states = dict(memory.states)
    seq = memory.seq
    events: list[Event] = []
    at = now if ts is None else ts
    for prop in sorted(snapshot):
        raw = snapshot[prop]
        if isinstance(raw, bool):
            raw = float(raw)
        if not isinstance(raw, int | float) or not math.isfinite(raw):
            continue
        kind = prop if prop in STATES else EDGES.get(prop)
        if kind is None:
            continue
        value = _level(raw)
        before = states.get(prop)
        states[prop] = value
        if before == value:
            continue
        if before is None and value == QUIET.get(prop, 0.0):
            continue
        if prop in EDGES and value == 0.0:
            continue
        seq += 1
        events.append(
            Event(dev=device, seq=seq, ts=at, rx=now, kind=kind, value=value,
                  detail=dict(detail or {}))
        )  # fmt: skip
    return events, Memory(states, seq)


class ForeignState:
    """The tracker: memory of every device, loaded from SQLite at start, kept in step in memory.

    `changes` updates the in-memory copy at once (the next snapshot is judged against it); the
    copy reaches disk with the events, through `Change.save` in the queue's transaction.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        db = sqlite3.connect(path)
        try:
            db.execute("pragma journal_mode = wal")
            ensure_schema(db)
            db.commit()
            states: dict[str, dict[str, float]] = {}
            for dev, prop, value in db.execute("select device, prop, value from foreign_state"):
                states.setdefault(dev, {})[prop] = float(value)
            seqs = dict(db.execute("select device, seq from foreign_seq").fetchall())
        finally:
            db.close()
        self._lock = threading.Lock()
        self._memory = {
            dev: Memory(states.get(dev, {}), int(seqs.get(dev, 0)))
            for dev in set(states) | set(seqs)
        }

    def memory(self, device: str) -> Memory:
        with self._lock:
            return self._memory.get(device, Memory())

    def devices(self) -> Iterable[str]:
        with self._lock:
            return list(self._memory)

    def changes(
        self,
        device: str,
        snapshot: Mapping[str, float | bool],
        now: float,
        *,
        ts: float | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> Change:
        with self._lock:
            before = self._memory.get(device, Memory())
            events, after = changes(device, before, snapshot, now, ts=ts, detail=detail)
            self._memory[device] = after
        return Change(device, events, after)

    def momentary(
        self,
        device: str,
        kind: str,
        value: float,
        now: float,
        *,
        ts: float | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> Change:
        """One event no state records (a button press), with the device's next sequence number."""
        with self._lock:
            before = self._memory.get(device, Memory())
            after = Memory(before.states, before.seq + 1)
            self._memory[device] = after
        event = Event(dev=device, seq=after.seq, ts=now if ts is None else ts, rx=now, kind=kind,
                      value=value, detail=dict(detail or {}))  # fmt: skip
        return Change(device, [event], after)


def ensure_schema(db: sqlite3.Connection) -> None:
    """The tracker's tables in the queue's database (the bridge calls it at start)."""
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
