"""Who may see which live-stream message: the REST API's rules, applied to the stream.

The stream once trusted the `?grid_id=` a client asked for and sent every message without a
grid to everyone, so a grid member subscribed to their own grid received other grids' incidents
(addresses, family phone numbers, SMS texts) that answer 404 over REST. Now the scope comes from
the signed-in user (`live_guard` puts it on the connection), each message carries its audience,
and a grid member gets only:

- incident changes of their grid, by the REST rule (the incident's grid, else its building's);
- notifications addressed to them, or to nobody in particular about an incident of their grid;
- nothing that concerns the whole district (device health, the demo SMS log).

District-wide users (operators, supervisors, administrators) get everything, or one grid and the
messages without a grid when they ask for `?grid_id=`.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

SCOPE_KEY = "vigil.live_scope"

# The grid an incident belongs to, as REST decides it (console/api/routes/incidents.py).
INCIDENT_GRID_SQL = """
select coalesce(i.grid_id, b.grid_id) as grid_id
from incidents i
left join households h on h.id = i.household_id
left join buildings b on b.id = h.building_id
where i.id = %s
"""
# The open-incident snapshot's filter with the same rule.
SNAPSHOT_GRID_SQL = (
    " and coalesce(grid_id, (select b.grid_id from households h "
    "join buildings b on b.id = h.building_id where h.id = incidents.household_id)) = %s"
)


@dataclass(frozen=True)
class Audience:
    """Who one message is for."""

    grid_id: str | None = None  # the grid it concerns, if any
    user_id: int | None = None  # addressed to this user alone
    district_only: bool = False  # about the whole district: never for a grid member


DISTRICT = Audience(district_only=True)


@dataclass(frozen=True)
class LiveScope:
    """What one subscriber may receive."""

    user_id: int | None
    confined_to: str | None  # a grid member's grid; None for district-wide users
    asked: str | None = None  # a district-wide user's own narrowing (`?grid_id=`)

    @property
    def grid(self) -> str | None:
        """The grid the snapshot is filtered by."""
        return self.confined_to or self.asked

    def wants(self, audience: Audience) -> bool:
        if self.confined_to is not None:
            if audience.district_only:
                return False
            if audience.user_id is not None:
                return audience.user_id == self.user_id
            return audience.grid_id == self.confined_to
        return self.asked is None or audience.grid_id in (None, self.asked)


def set_scope(connection: HTTPConnection, scope: LiveScope) -> None:
    connection.scope[SCOPE_KEY] = scope


def scope_of(connection: HTTPConnection) -> LiveScope:
    """The scope `live_guard` decided; without one the stream must not start (fail closed)."""
    scope = connection.scope.get(SCOPE_KEY)
    if not isinstance(scope, LiveScope):
        raise PermissionError("the live stream was reached without its guard")
    return scope
