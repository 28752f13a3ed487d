"""The registry through the API: create, search, change and retire, each audited."""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.stack


def _audit(db: psycopg.Connection, action: str, target: str) -> list[tuple[str, str | None]]:
    rows = db.execute(
        "select username, host(remote_addr) from audit_log where action = %s and target = %s",
        (action, target),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def test_an_installer_registers_a_home_from_building_to_device(
    clients: dict[str, TestClient], db: psycopg.Connection
) -> None:
    inst, admin = clients["inst"], clients["admin"]
    grid = admin.post("/api/grids", json={"id": "g9", "site_id": "s1", "name": "第九网格"})
    assert grid.status_code == 201, grid.text
    building = inst.post(
        "/api/grids/g9/buildings",
        json={"id": "b9", "name": "9号楼", "address": "和平路9号", "lat": 39.9, "lon": 116.4},
    )
    assert building.status_code == 201, building.text
    home = inst.post(
        "/api/households",
        json={"id": "h9", "building_id": "b9", "unit": "502", "living_alone": True},
    )
    assert home.status_code == 201, home.text
    assert home.json()["grid_id"] == "g9"
    resident = inst.post(
        "/api/residents",
        json={"household_id": "h9", "name": "赵大爷", "birth_year": 1938, "phone": "13811112222"},
    )
    assert resident.status_code == 201, resident.text
    assert resident.json()["living_alone"] is True
    assert resident.json()["age"] >= 80
    contact = inst.post(
        "/api/contacts",
        json={"resident_id": resident.json()["id"], "name": "赵小", "relation": "儿子",
              "phone": "+8613922223333", "priority": 1},
    )  # fmt: skip
    assert contact.status_code == 201, contact.text
    gateway = inst.post(
        "/api/gateways",
        json={"id": "gw9", "site_id": "s1", "building_id": "b9", "mqtt_username": "gw9"},
    )
    assert gateway.status_code == 201, gateway.text
    device = inst.post(
        "/api/devices",
        json={"id": "smoke9", "device_type": "smoke", "gateway_id": "gw9", "household_id": "h9",
              "room": "kitchen"},
    )  # fmt: skip
    assert device.status_code == 201, device.text
    assert device.json()["health"]["offline"] is True  # never seen yet
    assert _audit(db, "device.create", "device:smoke9") == [("inst", None)]
    assert _audit(db, "grid.create", "grid:g9") == [("admin", None)]
    # Duplicates are conflicts, unknown references are refused.
    assert inst.post("/api/devices", json=device.json() | {"health": None}).status_code == 422
    again = {"id": "smoke9", "device_type": "smoke", "gateway_id": "gw9"}
    assert inst.post("/api/devices", json=again).status_code == 409
    assert (
        inst.post("/api/devices", json=again | {"id": "x1", "gateway_id": "gw0"}).status_code == 422
    )


def test_search_finds_households_by_resident_address_or_unit(
    clients: dict[str, TestClient],
) -> None:
    op = clients["op"]
    by_name = op.get("/api/households", params={"q": "王1"}).json()
    assert [h["id"] for h in by_name["items"]] == ["h1"]
    assert by_name["total"] == 1
    by_address = op.get("/api/households", params={"q": "和平路2号"}).json()["items"]
    assert [h["id"] for h in by_address] == ["h2"]
    # % and _ are literal, not wildcards.
    assert op.get("/api/households", params={"q": "%"}).json()["items"] == []
    alone = op.get("/api/households", params={"living_alone": True}).json()["items"]
    assert "h1" in [h["id"] for h in alone]
    assert "h2" not in [h["id"] for h in alone]
    residents = op.get("/api/residents", params={"q": "13800000001"}).json()["items"]
    assert {r["household_id"] for r in residents} >= {"h1", "h2"}
    contacts = op.get("/api/contacts", params={"q": "李2"}).json()["items"]
    assert [c["resident_name"] for c in contacts] == ["王2奶奶"]


def test_updates_change_only_what_is_sent_and_are_audited(
    clients: dict[str, TestClient], db: psycopg.Connection
) -> None:
    op = clients["op"]
    contact = op.get("/api/contacts", params={"q": "李1"}).json()["items"][0]
    changed = op.patch(f"/api/contacts/{contact['id']}", json={"phone": "13912345678"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["phone"] == "13912345678"
    assert changed.json()["name"] == contact["name"]
    assert op.patch(f"/api/contacts/{contact['id']}", json={"phone": None}).status_code == 422
    assert op.patch(f"/api/contacts/{contact['id']}", json={"colour": "red"}).status_code == 422
    assert _audit(db, "contact.update", f"contact:{contact['id']}") == [("op", None)]


def test_retired_things_leave_the_lists(clients: dict[str, TestClient]) -> None:
    sup = clients["sup"]
    made = sup.post("/api/residents", json={"household_id": "h2", "name": "临时住户"}).json()
    assert sup.delete(f"/api/residents/{made['id']}").status_code == 204
    assert sup.get(f"/api/residents/{made['id']}").status_code == 404
    # A household with devices still installed cannot be retired.
    assert sup.delete("/api/households/h2").status_code == 409


def test_bad_input_is_a_clear_client_error(clients: dict[str, TestClient]) -> None:
    admin = clients["admin"]
    assert (
        admin.post(
            "/api/contacts", json={"resident_id": 1, "name": "x", "phone": "abc"}
        ).status_code
        == 422
    )
    assert admin.get("/api/residents/0").status_code == 422
    assert admin.get("/api/residents/99999999999999999999").status_code == 422
    nul = admin.post("/api/residents", json={"household_id": "h1", "name": "a\x00b"})
    assert nul.status_code == 422
    assert "control characters" in nul.text
