"""The broker's own figures on its queues, for the operators (docs/security.md, "A bad day").

Session queues are bounded by bytes (vigil/stack.py): a worker that is gone, or one that cannot
keep up, has messages shed at its session's limit, telemetry first (events travel on a session
of their own). Mosquitto counts what it dropped in `$SYS/broker/publish/messages/dropped` and
what it holds in `$SYS/broker/store/messages/bytes`; ingest's status client (service account)
reads both, exposes them as metrics and writes them to `broker_health`, where the console's
device-health page shows an alert when the count went up in the last hour.

Mosquitto publishes a $SYS figure only when it changes, retained; before 2.0.16 (Debian
bookworm ships 2.0.11) the retained copy expires after 60 s. So a copy that comes retained is
the count from before we watched, while a live one is a change in the last `sys_interval`: the
first live count above zero is a drop even if we never saw the count before it (the broker
publishes none while nothing is dropped). A broker restart starts the count again at zero.
Pure folding here; `write` is the one statement.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg

from vigil.observability.metrics import BROKER_DROPPED_MESSAGES, BROKER_STORE_BYTES

DROPPED_TOPIC = "$SYS/broker/publish/messages/dropped"
STORE_BYTES_TOPIC = "$SYS/broker/store/messages/bytes"
TOPICS = (DROPPED_TOPIC, STORE_BYTES_TOPIC)

_UPSERT = """
insert into broker_health as h (broker, dropped, store_bytes, last_drop_at, updated_at)
values (%(broker)s, coalesce(%(dropped)s, 0), %(store_bytes)s, to_timestamp(%(last_drop)s), now())
on conflict (broker) do update
set dropped = coalesce(%(dropped)s, h.dropped),
    store_bytes = coalesce(excluded.store_bytes, h.store_bytes),
    last_drop_at = coalesce(excluded.last_drop_at, h.last_drop_at),
    updated_at = now()
"""


@dataclass
class BrokerFigures:
    dropped: int | None = None
    store_bytes: int | None = None
    last_drop: float | None = None  # when `dropped` was last seen to go up
    dirty: bool = False


class BrokerWatch:
    """Folds the broker's $SYS figures; thread-safe (paho's thread folds, the writer writes)."""

    def __init__(self, broker: str) -> None:
        self.broker = broker
        self._lock = threading.Lock()
        self.figures = BrokerFigures()

    def on_sys(
        self, topic: str, payload: bytes, now: float | None = None, *, retained: bool = False
    ) -> None:
        """Fold one $SYS message; `retained`: the broker's stored copy sent on subscribing."""
        try:
            value = int(payload.decode().strip())
        except (UnicodeDecodeError, ValueError):
            return
        now = time.time() if now is None else now
        with self._lock:
            f = self.figures
            if topic == DROPPED_TOPIC:
                # Only a rise is a drop (a restart starts again at 0); a live count with none
                # seen before rose from 0, a retained one is where the count stood.
                before = f.dropped if f.dropped is not None else (None if retained else 0)
                if before is not None and value > before:
                    f.last_drop = now
                f.dropped = value
                BROKER_DROPPED_MESSAGES.set(value)
            elif topic == STORE_BYTES_TOPIC:
                f.store_bytes = value
                BROKER_STORE_BYTES.set(value)
            else:
                return
            f.dirty = True

    def write(self, conn: psycopg.Connection[Any]) -> None:
        """Upsert the figures if they changed (in the caller's transaction)."""
        with self._lock:
            f = self.figures
            if not f.dirty:
                return
            params = {
                "broker": self.broker,
                "dropped": f.dropped,
                "store_bytes": f.store_bytes,
                "last_drop": f.last_drop,
            }
            f.dirty = False
        try:
            conn.execute(_UPSERT, params)
        except psycopg.Error:
            with self._lock:
                self.figures.dirty = True
            raise
