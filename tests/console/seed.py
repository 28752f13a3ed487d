"""A small district for the console tests: two grids, one household each, users of every role."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from unittest import mock

from psycopg.types.json import Jsonb

from console.api import accounts, passwords
from console.api.roles import Role
from vigil.db.connect import Conn

PASSWORD = "correct-horse-battery"
# username -> (role, grid)
USERS: dict[str, tuple[Role, str | None]] = {
    "op": (Role.OPERATOR, None),
    "sup": (Role.SUPERVISOR, None),
    "gm1": (Role.GRID_MEMBER, "g1"),
    "gm2": (Role.GRID_MEMBER, "g2"),
    "inst": (Role.INSTALLER, None),
    "admin": (Role.ADMIN, None),
}


@functools.cache
def _seed_hash(password: str) -> str:
    """One real argon2 hash per password and test session, shared by every seeded user: the
    product's cost (0.2-0.5 s a hash here) is paid once, not six times per seeded database."""
    return passwords.hash_password(password)


def _square(lon: float, lat: float, size: float = 0.004) -> dict[str, object]:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def seed_district(conn: Conn) -> None:
    conn.execute("insert into sites (id, name, name_en) values ('s1', '和平街道', 'Heping')")
    for grid, lon in (("g1", 116.400), ("g2", 116.405)):
        conn.execute(
            "insert into grids (id, site_id, name, name_en, geometry) "
            "values (%s, 's1', %s, %s, %s)",
            (grid, f"第{grid[1]}网格", f"Grid {grid[1]}", Jsonb(_square(lon, 39.900))),
        )
        building = f"b{grid[1]}"
        conn.execute(
            "insert into buildings (id, grid_id, name, address, lat, lon, floors) "
            "values (%s, %s, %s, %s, 39.902, %s, 6)",
            (building, grid, f"{grid[1]}号楼", f"和平路{grid[1]}号", lon + 0.002),
        )
        household = f"h{grid[1]}"
        conn.execute(
            "insert into households (id, building_id, unit, living_alone) "
            "values (%s, %s, '301', %s)",
            (household, building, grid == "g1"),
        )
        row = conn.execute(
            "insert into residents (household_id, name, birth_year, phone, medical_notes) "
            "values (%s, %s, 1941, '13800000001', '心脏起搏器') returning id",
            (household, f"王{grid[1]}奶奶"),
        ).fetchone()
        assert row is not None
        conn.execute(
            "insert into contacts (resident_id, name, relation, phone) values (%s, %s, '女儿', %s)",
            (row[0], f"李{grid[1]}", f"1390000000{grid[1]}"),
        )
        gateway = f"gw{grid[1]}"
        conn.execute(
            "insert into gateways (id, site_id, building_id, mqtt_username, status) "
            "values (%s, 's1', %s, %s, 'online')",
            (gateway, building, gateway),
        )
        conn.execute(
            "insert into devices (id, device_type, gateway_id, household_id, room, last_seen, "
            "battery_v) values (%s, 'smoke', %s, %s, 'kitchen', now(), 3.0), "
            "(%s, 'panic', %s, %s, 'bedroom', now(), 2.4)",
            (f"smoke{grid[1]}", gateway, household, f"panic{grid[1]}", gateway, household),
        )
    with mock.patch.object(accounts, "hash_password", _seed_hash):
        _seed_users(conn)


def _seed_users(conn: Conn) -> None:
    for username, (role, user_grid) in USERS.items():
        accounts.create_user(
            conn,
            username=username,
            password=PASSWORD,
            role=role,
            grid_id=user_grid,
            department="community" if role is Role.GRID_MEMBER else "command",
        )


def open_incident(
    conn: Conn, *, household: str, cause: str = "panic", signal: str = "alarm", severity: int = 5
) -> int:
    """An incident as the alerting service opens one: the incident, its alert and timeline row."""
    opened = datetime.now(UTC)
    row = conn.execute(
        "insert into incidents (household_id, cause, signal, severity, opened_at, updated_at) "
        "values (%s, %s, %s, %s, %s, %s) returning id",
        (household, cause, signal, severity, opened, opened),
    ).fetchone()
    assert row is not None
    device = f"panic{household[1]}" if cause == "panic" else f"smoke{household[1]}"
    conn.execute(
        "insert into alerts (incident_id, device_id, household_id, kind, signal, severity, score, "
        "reason, ts, received_at) values (%s, %s, %s, %s, %s, %s, 1.0, 'button press', %s, %s)",
        (row[0], device, household, cause, signal, severity, opened - timedelta(seconds=1), opened),
    )
    conn.execute(
        "insert into incident_timeline (incident_id, actor, action, to_state) "
        "values (%s, 'system', 'open', 'new')",
        (row[0],),
    )
    return int(row[0])
