"""The adapter without a broker: a stand-in for the Bridge that records what would go out and
stores the tracker's memory as the real one does (in the same SQLite file), so restarts can be
played in a unit test."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from gateway.bridge import Reading
from gateway.foreign_state import Change, ForeignState, ensure_schema
from gateway.zigbee2mqtt import HubConfig, Zigbee2Mqtt
from vigil.codec import Event

BASE = "zigbee2mqtt"


class RecordingBridge:
    """What the adapter hands a Bridge, recorded; state saved like Bridge.emit saves it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.events: list[Event] = []
        self.readings: list[Reading] = []
        self.upstream: list[tuple[bool, str]] = []
        self.rejected = 0

    def emit(self, events: Sequence[Event], *, state: Iterable[Change] = ()) -> Future[int]:
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            ensure_schema(db)
            db.execute("begin")
            for change in state:
                change.save(db)
            db.execute("commit")
        finally:
            db.close()
        self.events.extend(events)
        done: Future[int] = Future()
        done.set_result(len(self.events))
        return done

    def read(self, readings: Iterable[Reading]) -> None:
        self.readings.extend(readings)

    def set_upstream(self, online: bool, why: str = "") -> None:
        self.upstream.append((online, why))

    def count_rejected(self, n: int = 1) -> None:
        self.rejected += n


def adapter(path: Path, bridge: RecordingBridge) -> Zigbee2Mqtt:
    """A fresh adapter process, as after a restart: memory loaded from `path`."""
    return Zigbee2Mqtt(
        HubConfig("127.0.0.1", base_topic=BASE),
        bridge,  # type: ignore[arg-type]
        ForeignState(path),
        report_path=path.with_suffix(".json"),
    )


def publish_devices(z: Zigbee2Mqtt, entries: list[dict[str, Any]], retained: bool = True) -> None:
    z.handle(f"{BASE}/bridge/devices", json.dumps(entries).encode(), retained=retained)


def publish_state(
    z: Zigbee2Mqtt, name: str, payload: dict[str, Any], retained: bool = False
) -> None:
    z.handle(f"{BASE}/{name}", json.dumps(payload).encode(), retained=retained)
