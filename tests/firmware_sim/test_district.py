"""The district model, and writing it to the registry of a real database."""

from __future__ import annotations

import re
from collections import Counter

import psycopg
import pytest

from firmware_sim.district import build_district, seed

ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
SITE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
HAN = re.compile(r"^[\u4e00-\u9fff]{2,4}$")


def test_same_seed_same_district() -> None:
    assert build_district(3, 4, 30) == build_district(3, 4, 30)
    assert build_district(3, 4, 30).residents != build_district(4, 4, 30).residents


def test_every_gateway_has_exactly_its_devices() -> None:
    d = build_district(1, 7, 23)
    assert len(d.gateways) == 7
    assert len(d.devices) == 7 * 23
    assert all(len(d.devices_of(g.id)) == 23 for g in d.gateways)
    assert len({x.id for x in d.devices}) == len(d.devices)
    assert all(ID.match(x.id) for x in d.devices)
    assert all(ID.match(g.id) for g in d.gateways)
    assert all(SITE.match(s.id) for s in d.sites)


def test_a_bigger_district_keeps_the_smaller_one() -> None:
    small, big = build_district(9, 3, 40), build_district(9, 45, 40)
    assert big.devices[: len(small.devices)] == small.devices
    assert big.households[: len(small.households)] == small.households
    assert len(big.sites) == 3


def test_households_are_equipped_as_the_programme_says() -> None:
    d = build_district(2, 20, 100)
    kit: dict[str, Counter[str]] = {}
    for dev in d.devices:
        if dev.household_id is not None:
            kit.setdefault(dev.household_id, Counter())[dev.type] += 1
    for h in d.households:
        k = kit[h.id]
        assert k["smoke"] + k["multi"] == 1, "one kitchen detector"
        assert k["panic"] == 1, "one bedside button"
        if h.living_alone:
            assert k["pir"] == 1
            assert k["door"] == 1
        else:
            assert k["pir"] == k["door"] == 0
    alone = sum(h.living_alone for h in d.households) / len(d.households)
    assert 0.3 < alone < 0.5
    assert any(c["heat"] for c in kit.values())


def test_residents_and_contacts_have_chinese_names_and_valid_phones() -> None:
    d = build_district(5, 3, 60)
    homes = {h.id: h for h in d.households}
    for r in d.residents:
        assert HAN.match(r.name), r.name
        assert 1920 <= r.birth_year <= 2020
    for h in d.households:
        people = [r for r in d.residents if r.household_id == h.id]
        assert len({p.name for p in people}) == len(people)
        if h.living_alone:
            assert len(people) == 1
            assert 2025 - people[0].birth_year >= 70
    for c in d.contacts:
        assert re.match(r"^\+?[0-9]{5,20}$", c.phone)
        assert c.household_id in homes
        assert HAN.match(c.name)


def test_impossible_districts_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        build_district(1, 0, 10)
    with pytest.raises(ValueError, match="seed"):
        build_district(-1, 1, 10)


@pytest.fixture
def registry_dsn(migrated_db: str) -> str:
    """An empty database of its own, migrated: the registry starts empty."""
    return migrated_db


def _counts(conn: psycopg.Connection) -> dict[str, int]:
    tables = ("sites", "grids", "buildings", "households", "residents", "contacts",
              "gateways", "devices")  # fmt: skip
    return {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in tables}  # type: ignore[index]


@pytest.mark.stack
def test_seeding_writes_the_registry_and_is_idempotent(registry_dsn: str) -> None:
    district = build_district(11, 3, 40)
    with psycopg.connect(registry_dsn) as conn:
        first = seed(conn, district)
        after_first = _counts(conn)
        second = seed(conn, district)
        assert _counts(conn) == after_first
    assert set(second.values()) == {0}
    assert after_first == first
    assert after_first["devices"] == 120
    assert after_first["residents"] == len(district.residents)
    assert after_first["contacts"] == len(district.contacts)
    with psycopg.connect(registry_dsn) as conn:
        rows = conn.execute(
            "select d.id, d.device_type, d.gateway_id, d.household_id, d.room from devices d"
        ).fetchall()
        assert sorted(rows) == sorted(
            (x.id, x.type, x.gateway_id, x.household_id, x.room) for x in district.devices
        )
        geometry = conn.execute("select geometry from grids limit 1").fetchone()
        assert geometry is not None
        assert geometry[0]["type"] == "Polygon"
        alone = conn.execute(
            "select count(*) from households h join residents r on r.household_id = h.id "
            "where h.living_alone"
        ).fetchone()
        assert alone is not None
        assert alone[0] == sum(h.living_alone for h in district.households)


@pytest.mark.stack
def test_seeding_a_bigger_district_adds_only_the_new_part(registry_dsn: str) -> None:
    with psycopg.connect(registry_dsn) as conn:
        seed(conn, build_district(11, 2, 40))
        before = _counts(conn)
        added = seed(conn, build_district(11, 3, 40))
        after = _counts(conn)
    assert added["gateways"] == 1
    assert added["devices"] == 40
    assert after["devices"] == before["devices"] + 40
