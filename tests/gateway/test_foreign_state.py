"""The state tracker: a snapshot that changes is one event; repeats, replays and restarts none."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gateway.foreign_state import ForeignState, Memory, changes, ensure_schema
from vigil.codec import Event

NOW = 1_763_740_800.0


def _kinds(events: list[Event]) -> list[tuple[str, float]]:
    return [(e.kind, e.value) for e in events]


def test_a_change_is_one_event_and_a_change_back_is_a_restoral() -> None:
    memory = Memory()
    out = []
    for smoke in (False, True, True, True, False, False):
        events, memory = changes("zb-1", memory, {"smoke_alarm": smoke}, NOW)
        out += _kinds(events)
    assert out == [("smoke_alarm", 1.0), ("smoke_alarm", 0.0)]
    assert memory.seq == 2


def test_first_sight_of_a_quiet_state_says_nothing_but_an_alarm_does() -> None:
    events, _ = changes("zb-1", Memory(), {"smoke_alarm": False, "availability": 1.0}, NOW)
    assert events == []
    events, _ = changes("zb-1", Memory(), {"tamper": True, "availability": 0.0}, NOW)
    assert _kinds(events) == [("availability", 0.0), ("tamper", 1.0)]


def test_the_test_button_is_a_self_test_on_its_rising_edge_only() -> None:
    memory = Memory()
    out = []
    for test in (False, True, True, False, True):
        events, memory = changes("zb-1", memory, {"test": test}, NOW)
        out += _kinds(events)
    assert out == [("self_test", 1.0), ("self_test", 1.0)]


def test_unknown_and_non_numeric_properties_are_ignored() -> None:
    junk: dict[str, Any] = {"linkquality": 80, "smoke_alarm": "yes", "co_alarm": float("nan")}
    events, memory = changes("zb-1", Memory(), junk, NOW)
    assert events == []
    assert memory.states == {}


def test_sequence_numbers_rise_per_device_and_carry_the_detail() -> None:
    memory = Memory(seq=41)
    events, memory = changes(
        "zb-1", memory, {"smoke_alarm": 1, "tamper": 1}, NOW, ts=NOW - 2, detail={"model": "X"}
    )
    assert [e.seq for e in events] == [42, 43]
    assert all(e.ts == NOW - 2 and e.rx == NOW and e.detail == {"model": "X"} for e in events)


@given(st.lists(st.sampled_from([0.0, 1.0]), max_size=30), st.integers(0, 30))
def test_replaying_any_prefix_after_a_restart_raises_nothing_twice(
    values: list[float], cut: int
) -> None:
    """However the stream is cut, memory saved at the cut gives the same events as no cut."""
    whole: list[tuple[str, float]] = []
    memory = Memory()
    for v in values:
        events, memory = changes("d", memory, {"co_alarm": v}, NOW)
        whole += _kinds(events)
    cut = min(cut, len(values))
    first: list[tuple[str, float]] = []
    memory = Memory()
    for v in values[:cut]:
        events, memory = changes("d", memory, {"co_alarm": v}, NOW)
        first += _kinds(events)
    resumed = Memory(dict(memory.states), memory.seq)  # what the database held
    second: list[tuple[str, float]] = []
    for v in values[max(0, cut - 1) :]:  # the last state again (a retained replay), then on
        events, resumed = changes("d", resumed, {"co_alarm": v}, NOW)
        second += _kinds(events)
    assert first + second == whole


def test_memory_saved_with_the_events_is_what_a_restart_loads(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    tracker = ForeignState(path)
    change = tracker.changes("zb-1", {"smoke_alarm": True, "low_battery": False}, NOW)
    tracker.changes("zb-2", {"gas_alarm": True}, NOW)  # never saved: as if killed before queued
    db = sqlite3.connect(path, isolation_level=None)
    ensure_schema(db)
    db.execute("begin")
    change.save(db)
    db.execute("commit")
    db.close()
    again = ForeignState(path)
    assert again.memory("zb-1") == Memory({"smoke_alarm": 1.0, "low_battery": 0.0}, 1)
    assert again.memory("zb-2") == Memory()
    assert again.changes("zb-1", {"smoke_alarm": True}, NOW).events == []
    assert _kinds(again.changes("zb-2", {"gas_alarm": True}, NOW).events) == [("gas_alarm", 1.0)]


def test_a_press_takes_the_next_sequence_number(tmp_path: Path) -> None:
    tracker = ForeignState(tmp_path / "q.sqlite")
    tracker.changes("zb-1", {"tamper": True}, NOW)
    press = tracker.momentary("zb-1", "button", 1.0, NOW, detail={"reason": "panic"})
    assert [(e.kind, e.seq, e.detail["reason"]) for e in press.events] == [("button", 2, "panic")]
