"""`vigil alerting run`: the incident service and the escalation supervisor in one loop.

It LISTENs for new alerts and new timers, so an alert becomes an incident within a round trip
of its commit, and sleeps exactly until the earliest timer runs out. A poll every second is the
safety net for a missed notification. Everything it owns is in the database, so it can be
killed at any instant: an unfinished transaction rolls back, and the next run picks up every
unclaimed alert and every overdue timer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg

from alerting.lifecycle import State
from alerting.policies import PolicyBook
from alerting.supervisor import fire_due, next_due
from alerting.triage import triage_batch
from vigil.db.connect import Conn
from vigil.observability import INCIDENTS, Heartbeat

log = logging.getLogger(__name__)

POLL_S = 1.0
BATCH = 50
GAUGE_EVERY_S = 10.0
RECONNECT_S = 1.0


def utcnow() -> datetime:
    return datetime.now(UTC)


def work_once(conn: Conn, book: PolicyBook, clock: Callable[[], datetime] = utcnow) -> float:
    """Handle every waiting alert and overdue timer; returns seconds until there may be more."""
    while triage_batch(conn, book, now=clock(), limit=BATCH)[0] == BATCH:
        pass
    fire_due(conn, book, now=clock())
    due = next_due(conn)
    if due is None:
        return POLL_S
    return min(POLL_S, max(0.0, (due - clock()).total_seconds()))


def count_incidents(conn: Conn) -> None:
    """Refresh the incidents-per-state gauge."""
    counts = dict.fromkeys(State, 0)
    for state, n in conn.execute("select state, count(*) from incidents group by state"):
        counts[State(state)] = int(n)
    for state, n in counts.items():
        INCIDENTS.labels(state=str(state)).set(n)


def run(
    dsn: str, book: PolicyBook, stop: threading.Event, heartbeat: Heartbeat | None = None
) -> None:
    """Serve until `stop` is set, reconnecting after any database failure."""
    while not stop.is_set():
        try:
            _serve(dsn, book, stop, heartbeat)
        except psycopg.OperationalError as exc:
            log.warning("database connection lost (%s); reconnecting", exc)
            time.sleep(RECONNECT_S)


def _serve(dsn: str, book: PolicyBook, stop: threading.Event, heartbeat: Heartbeat | None) -> None:
    with (
        psycopg.connect(dsn, autocommit=True) as listener,
        psycopg.connect(dsn, autocommit=True) as conn,
    ):
        listener.execute("listen vigil_alert")
        listener.execute("listen vigil_timer")
        log.info("alerting service ready")
        counted = 0.0
        while not stop.is_set():
            wait = work_once(conn, book)
            if heartbeat is not None:
                heartbeat.beat()
            if time.monotonic() - counted > GAUGE_EVERY_S:
                count_incidents(conn)
                counted = time.monotonic()
            if wait > 0:
                # Returns at the first notification or when the wait is over.
                for _ in listener.notifies(timeout=wait, stop_after=1):
                    pass
