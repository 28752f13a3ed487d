"""What one ingest worker counts, kept per worker and exported through `vigil.observability`.

The worker's threads update plain attributes of `Counters` (each attribute, or each key of the
per-lane dicts, has one writer);
`committed()` also feeds the shared Prometheus metrics (`vigil_ingest_*`, docs/observability.md),
and `export()` binds the gauges to this worker's state so a stalled worker shows a growing lag.
The per-worker copy is what health checks, tests and the benchmark read.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from ingest.deadletter import Reason
from ingest.store import Outcome
from vigil.observability import (
    INGEST_COMMIT_SECONDS,
    INGEST_DEAD_LETTERS_TOTAL,
    INGEST_EVENTS_TOTAL,
    INGEST_LAG_SECONDS,
    INGEST_MESSAGES_TOTAL,
    INGEST_PENDING_MESSAGES,
    INGEST_READINGS_TOTAL,
)


@dataclass
class Counters:
    """Everything an ingest worker counts; `snapshot()` is a JSON-ready copy."""

    received: dict[str, int] = field(default_factory=dict)  # per MQTT session
    messages_committed: int = 0  # committed and acknowledged, whatever their outcome
    messages_duplicate: int = 0
    messages_refused: int = 0  # dead-lettered whole
    readings: int = 0
    readings_duplicate: int = 0
    events: int = 0
    events_duplicate: int = 0
    dead_letters: Counter[Reason] = field(default_factory=Counter)  # rows, by reason
    dead_items: Counter[Reason] = field(default_factory=Counter)  # readings/events/messages
    commits: int = 0
    newest_sent: float = 0.0  # gateway send time of the newest committed message
    # Per lane (its committing connection) and per MQTT session: each key is registered
    # before the threads start, and written by one thread.
    database: dict[str, bool] = field(default_factory=dict)  # reachable at the last attempt
    broker: dict[str, bool] = field(default_factory=dict)  # connected
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def committed(self, outcome: Outcome, *, stream: bool = True) -> None:
        """Count a commit; `stream` False for the events lane, whose sporadic messages say
        nothing about how far behind the stream the worker is."""
        with self.lock:
            self.messages_committed += outcome.messages
            self.messages_duplicate += outcome.duplicate_messages
            self.messages_refused += outcome.refused_messages
            self.readings += outcome.readings
            self.readings_duplicate += outcome.duplicate_readings
            self.events += outcome.events
            self.events_duplicate += outcome.duplicate_events
            self.dead_letters.update(outcome.dead_letters)
            self.dead_items.update(outcome.dead_items)
            if stream:
                self.newest_sent = max(self.newest_sent, outcome.newest_sent)
            self.commits += 1
        stored = outcome.messages - outcome.duplicate_messages - outcome.refused_messages
        INGEST_MESSAGES_TOTAL.labels(outcome="committed").inc(stored)
        INGEST_MESSAGES_TOTAL.labels(outcome="duplicate").inc(outcome.duplicate_messages)
        INGEST_MESSAGES_TOTAL.labels(outcome="dead_letter").inc(outcome.refused_messages)
        INGEST_READINGS_TOTAL.labels(outcome="stored").inc(outcome.readings)
        INGEST_READINGS_TOTAL.labels(outcome="duplicate").inc(outcome.duplicate_readings)
        INGEST_EVENTS_TOTAL.labels(outcome="stored").inc(outcome.events)
        INGEST_EVENTS_TOTAL.labels(outcome="duplicate").inc(outcome.duplicate_events)
        for reason, rows in outcome.dead_letters.items():
            INGEST_DEAD_LETTERS_TOTAL.labels(reason=reason.value).inc(rows)
        INGEST_COMMIT_SECONDS.observe(outcome.seconds)

    @property
    def messages_received(self) -> int:
        return sum(self.received.values())

    @property
    def database_up(self) -> bool:
        return bool(self.database) and all(self.database.values())

    @property
    def broker_connected(self) -> bool:
        return bool(self.broker) and all(self.broker.values())

    @property
    def pending_messages(self) -> int:
        """Received but not yet committed and acknowledged."""
        return self.messages_received - self.messages_committed

    def lag_seconds(self, now: float | None = None) -> float:
        """Behind the broker: now minus the send time of the newest committed message."""
        if not self.newest_sent:
            return 0.0
        return max(0.0, (time.time() if now is None else now) - self.newest_sent)

    def export(self) -> None:
        """Make the shared lag and pending gauges read this worker."""
        INGEST_LAG_SECONDS.set_function(self.lag_seconds)
        INGEST_PENDING_MESSAGES.set_function(lambda: self.pending_messages)
