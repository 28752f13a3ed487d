"""The console's hushes (`room_hushes`) reaching the engine, as `ingest.detection.away` does.

The stage reads the hushes still running at start and at every registry change (an insert into
`room_hushes` bumps the registry version) and hands each new one to `DetectorEngine.hush` once;
the engine keeps the hush in its saved state, so a restart keeps it too. The console already
wrote the incident timeline entry; the engine's own hush alert is not written again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import psycopg

from detectors.engine import DetectorEngine
from detectors.errors import DetectorError

log = logging.getLogger(__name__)

_ACTIVE = """
select id, household_id, room, extract(epoch from started_at)::float8,
       extract(epoch from until)::float8, actor
from room_hushes where until > now() order by id
"""


@dataclass(frozen=True)
class Hush:
    id: int
    household_id: str
    room: str
    started: float
    until: float
    actor: str


def active_hushes(conn: psycopg.Connection[Any]) -> list[Hush]:
    """The console's hushes that have not ended."""
    return [
        Hush(int(i), str(h), str(r), float(s), float(u), str(a))
        for i, h, r, s, u, a in conn.execute(_ACTIVE)
    ]


class HushFollower:
    """Applies each console hush to the engine once."""

    def __init__(self) -> None:
        self.applied: set[int] = set()

    def apply(self, engine: DetectorEngine, hushes: list[Hush]) -> int:
        """Hand the new hushes to the engine; returns how many took effect."""
        done = 0
        for hush in hushes:
            if hush.id in self.applied:
                continue
            self.applied.add(hush.id)
            try:
                engine.hush(
                    hush.household_id, hush.room, hush.started, until=hush.until, by=hush.actor
                )
                done += 1
            except DetectorError as exc:
                log.warning("hush %d not applied: %s", hush.id, exc)
        return done
