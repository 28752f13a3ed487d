"""Rollups, retention and packing of closed chunks on a timer, for the TimescaleDB edition
without a job scheduler.

`vigil.db.timescale.maintain` does the work (and nothing under the community edition, whose
own jobs do it); with several ingest workers, an advisory lock lets one run at a time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg

from ingest.dead_retention import DeadLetterBound, prune_dead_letters
from vigil.db.timescale import MaintenanceReport, Retention, maintain

log = logging.getLogger(__name__)

_LOCK_KEY = 0x56494D54  # "VIMT"


def maintain_once(
    conn: psycopg.Connection[tuple[object, ...]], retention: Retention, now: datetime
) -> MaintenanceReport | None:
    """One maintenance pass, or None if another worker is doing it right now."""
    row = conn.execute("select pg_try_advisory_lock(%s)", (_LOCK_KEY,)).fetchone()
    if not row or not row[0]:
        return None
    try:
        return maintain(conn, retention, now)
    finally:
        conn.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))


class Maintenance:
    """Runs `maintain_once` every `interval_s` seconds in a daemon thread until `stop` is set."""

    def __init__(
        self,
        dsn: str,
        retention: Retention,
        interval_s: float,
        stop: threading.Event,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        dead_letters: DeadLetterBound | None = None,
    ) -> None:
        self._dsn = dsn
        self._retention = retention
        self._interval_s = interval_s
        self._stop = stop
        self._clock = clock
        self._dead_letters = dead_letters
        self._thread = threading.Thread(target=self._run, name="ingest-maintenance", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                with psycopg.connect(self._dsn, autocommit=True, connect_timeout=5) as conn:
                    report = maintain_once(conn, self._retention, self._clock())
                    if self._dead_letters is not None:
                        prune_dead_letters(conn, self._dead_letters, self._clock())
            except psycopg.Error as exc:
                log.warning("maintenance failed, will retry next time: %s", exc)
                continue
            if report is not None:
                log.info(
                    "maintenance (%s): rollups %s .. %s, dropped %d chunks, packed %d indexes",
                    report.edition,
                    report.rollup_from,
                    report.rollup_to,
                    report.dropped_chunks,
                    report.packed_indexes,
                )
