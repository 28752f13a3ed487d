"""Fixtures for alerting tests: a migrated database per test (cloned from a template made once
per session), a small registry, and helpers to raise alerts the way the detector stage does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from vigil.harness import scratch_database
from vigil.stack import LocalStack

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)

FAST_POLICY = """
district = "fast"
sms_min_severity = 1
[fire]
causes = ["fire"]
confirmed_severity = 4
[severity.1]
acknowledge_s = 60
dispatch_s = 60
arrive_s = 60
[severity.2]
acknowledge_s = 30
dispatch_s = 30
arrive_s = 30
[severity.3]
acknowledge_s = 10
dispatch_s = 20
arrive_s = 30
[severity.4]
acknowledge_s = 2
dispatch_s = 3
arrive_s = 5
[severity.5]
acknowledge_s = 2
dispatch_s = 3
arrive_s = 5
start_tier = "community"

[[tier]]
name = "grid"
channels = ["grid_member", "sms", "console"]
people = [{ role = "grid_member" }]
[[tier]]
name = "community"
channels = ["sms", "console"]
people = [{ name = "duty", phone = "+8613900000002" }]
[[tier]]
name = "street"
channels = ["sms"]
people = [{ name = "street", phone = "+8613900000003", language = "en" }]
[[tier]]
name = "fire_service"
channels = ["sms"]
only_confirmed_fire = true
people = [{ name = "119", phone = "+8613900000119" }]
"""


@pytest.fixture
def adb(stack: LocalStack, schema_template: str) -> Iterator[str]:
    """A migrated database of the test's own."""
    with scratch_database(stack, template=schema_template) as dsn:
        yield dsn


@pytest.fixture
def conn(adb: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(adb, autocommit=True) as c:
        yield c


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "fast.toml").write_text(FAST_POLICY, encoding="utf-8")
    return folder


def seed(
    conn: psycopg.Connection[Any],
    *,
    household: str = "h1",
    grid: str = "g1",
    district: str = "fast",
    contacts: tuple[tuple[str, str], ...] = (("+8613800000001", "zh"),),
    member_phone: str | None = "+8613700000001",
) -> int:
    """A site, grid, building, household with one resident, contacts and a grid member;
    returns the grid member's user id."""
    conn.execute(
        "insert into sites (id, name, district) values ('s1', '幸福社区', %s) "
        "on conflict do nothing",
        (district,),
    )
    conn.execute(
        "insert into grids (id, site_id, name) values (%s, 's1', '一网格') on conflict do nothing",
        (grid,),
    )
    building = f"b-{grid}"
    conn.execute(
        "insert into buildings (id, grid_id, name, address) values (%s, %s, '3号楼', "
        "'幸福路8号3号楼') on conflict do nothing",
        (building, grid),
    )
    conn.execute(
        "insert into households (id, building_id, unit, living_alone) values (%s, %s, '502', true)",
        (household, building),
    )
    resident = conn.execute(
        "insert into residents (household_id, name, medical_notes) values (%s, '张奶奶', "
        "'糖尿病 insulin') returning id",
        (household,),
    ).fetchone()
    assert resident is not None
    for phone, language in contacts:
        conn.execute(
            "insert into contacts (resident_id, name, phone, language) values (%s, '家属', %s, %s)",
            (resident[0], phone, language),
        )
    found = conn.execute(
        "select id from users where role = 'grid_member' and grid_id = %s", (grid,)
    ).fetchone()
    if found is not None:
        return int(found[0])
    user = conn.execute(
        "insert into users (username, display_name, password_hash, role, grid_id, phone, "
        "department) values (%s, '李网格', 'x', 'grid_member', %s, %s, 'street-a') returning id",
        (f"gm-{grid}", grid, member_phone),
    ).fetchone()
    assert user is not None
    return int(user[0])


def raise_alert(
    conn: psycopg.Connection[Any],
    *,
    household: str | None = "h1",
    device: str = "sd-1",
    kind: str = "fire",
    signal: str = "alarm",
    severity: int = 4,
    ts: datetime | None = None,
    evidence: dict[str, Any] | None = None,
) -> int:
    """Insert an alert and announce it, as the detector stage does."""
    ts = ts or datetime.now(UTC)
    row = conn.execute(
        "insert into alerts (device_id, household_id, kind, signal, severity, score, reason, "
        "evidence, ts, received_at) values (%s, %s, %s, %s, %s, 1.0, 'test', %s, %s, %s) "
        "returning id",
        (
            device,
            household,
            kind,
            signal,
            severity,
            Jsonb(evidence or {}),
            ts,
            ts + timedelta(milliseconds=5),
        ),
    ).fetchone()
    assert row is not None
    conn.execute("select pg_notify('vigil_alert', %s)", (str(row[0]),))
    return int(row[0])
