"""Absences reaching the engine: no inactivity checks while a resident is away.

Two sources say a resident is away:
- `households.away_until`, set by the console (a family's "away until Sunday");
- the household's alarm panel (DC-09, issue 18): armed away (a closing, value 0) means the
  last person left; a disarm or an arm "stay" (value 1) means someone is home. A panel says
  nothing about when the resident comes back, so its absence lasts at most the household's
  `away_max_s` (the policy's ceiling of any absence, 72 h by default); after that the checks
  resume, as they do when an inferred absence runs too long.

The stage reads both at start and at every registry change (a change to `households` bumps the
registry version like any registry edit), follows a panel's presence events as they come, and
ends an absence itself when it runs out, so supervision resumes on time without a database
change. The engine's flag (`HI_AWAY`) is part of its saved state; the database (the households
and the stored presence events) is the truth and is reconciled with it at each read.
"""

from __future__ import annotations

import math
from typing import Any

import psycopg

from detectors.engine import DetectorEngine
from detectors.state import HI_AWAY

_AWAY = """
select id, extract(epoch from away_until)::float8 from households
where away_until > now() and retired_at is null
"""


# The latest presence event of each household's panels in the last week (a panel's absence
# lasts at most away_max_s; one longer than a week would be a policy nobody means).
_PANEL_PRESENCE = """
select distinct on (d.household_id)
       d.household_id, e.value, extract(epoch from e.time)::float8
from device_events e join devices d on d.id = e.device_id
where e.kind = 'presence' and e.time > now() - interval '7 days'
  and d.household_id is not null and d.retired_at is null
order by d.household_id, e.time desc
"""


def away_households(conn: psycopg.Connection[Any]) -> dict[str, float]:
    """Household id -> end of its away period (epoch s), for households away now."""
    return {str(h): float(until) for h, until in conn.execute(_AWAY)}


def panel_presence(conn: psycopg.Connection[Any]) -> dict[str, tuple[bool, float]]:
    """Household id -> (someone home, device time) of its panels' latest presence event."""
    return {
        str(h): (value is None or float(value) != 0.0, float(ts))
        for h, value, ts in conn.execute(_PANEL_PRESENCE)
    }


class AwayFollower:
    """Keeps the engine's away flags equal to the console's `away_until` and the panels'
    latest presence."""

    def __init__(self) -> None:
        self.until: dict[str, float] = {}  # the console's away periods
        self.presence: dict[str, tuple[bool, float]] = {}  # the panels' latest word

    def apply(
        self,
        engine: DetectorEngine,
        until: dict[str, float],
        now: float,
        presence: dict[str, tuple[bool, float]] | None = None,
    ) -> None:
        """Set the flags from a fresh read of the away households and the panels."""
        self.until = dict(until)
        for household, said in (presence or {}).items():
            self._note(household, said)
        for household in engine.registry.household_index:
            self._reconcile(engine, household, now, back_at=now)

    def on_presence(
        self, engine: DetectorEngine, household: str, home: bool, ts: float, now: float
    ) -> None:
        """A panel armed away (`home` False) or disarmed or armed stay (True) at `ts`."""
        if household not in engine.registry.household_index or not self._note(
            household, (home, ts)
        ):
            return  # not watched here, or older than what the panel said since
        self._reconcile(engine, household, now, back_at=ts)

    def expire(self, engine: DetectorEngine, now: float) -> None:
        """End the absences that are over; the silence restarts when each ended."""
        for household in set(self.until) | set(self.presence):
            h = engine.registry.household_index.get(household)
            if h is None or not engine.state.hh_i[h, HI_AWAY]:
                continue
            ended = self._away_until(engine, household)
            if ended <= now:
                self.until.pop(household, None)
                engine.set_away(household, False, ended)

    def _reconcile(
        self, engine: DetectorEngine, household: str, now: float, back_at: float
    ) -> None:
        """Set the household's flag to what its reasons say now; back home, the silence counts
        from `back_at`."""
        h = engine.registry.household_index[household]
        away = self._away_until(engine, household) > now
        if bool(engine.state.hh_i[h, HI_AWAY]) != away:
            engine.set_away(household, away, now if away else back_at)

    def _note(self, household: str, said: tuple[bool, float]) -> bool:
        """Keep the panel's newer word only (catch-up and redeliveries bring older ones)."""
        known = self.presence.get(household)
        if known is not None and known[1] > said[1]:
            return False
        self.presence[household] = said
        return True

    def _away_until(self, engine: DetectorEngine, household: str) -> float:
        """When the household's absence ends (-inf: not away)."""
        ends = self.until.get(household, -math.inf)
        home, ts = self.presence.get(household, (True, -math.inf))
        ceiling = engine.away_max_s(household)
        if not home and ceiling is not None:
            ends = max(ends, ts + ceiling)
        return ends
