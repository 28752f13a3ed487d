"""`households.away_until` reaching the engine: no inactivity checks while a resident is away.

The stage reads the households that are away now at start and at every registry change (a
change to `households` bumps the registry version like any registry edit), and ends an away
period itself when its `away_until` passes, so supervision resumes on time without a database
change. The engine's flag (`HI_AWAY`) is part of its saved state; the database is the truth and
is reconciled with it at each read.
"""

from __future__ import annotations

from typing import Any

import psycopg

from detectors.engine import DetectorEngine
from detectors.state import HI_AWAY

_AWAY = """
select id, extract(epoch from away_until)::float8 from households
where away_until > now() and retired_at is null
"""


def away_households(conn: psycopg.Connection[Any]) -> dict[str, float]:
    """Household id -> end of its away period (epoch s), for households away now."""
    return {str(h): float(until) for h, until in conn.execute(_AWAY)}


class AwayFollower:
    """Keeps the engine's away flags equal to the database's `away_until`."""

    def __init__(self) -> None:
        self.until: dict[str, float] = {}

    def apply(self, engine: DetectorEngine, until: dict[str, float], now: float) -> None:
        """Set the flags from a fresh read of the away households."""
        self.until = dict(until)
        flags = engine.state.hh_i[:, HI_AWAY]
        for household, h in engine.registry.household_index.items():
            away = household in self.until
            if bool(flags[h]) != away:
                engine.set_away(household, away, now)

    def expire(self, engine: DetectorEngine, now: float) -> None:
        """End the away periods that are over; the silence restarts when each ended."""
        for household, until in list(self.until.items()):
            if until <= now:
                del self.until[household]
                if household in engine.registry.household_index:
                    engine.set_away(household, False, until)
