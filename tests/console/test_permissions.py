"""Every role against the API: what each may read and change, and the grid member's fence."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

pytestmark = [pytest.mark.stack, pytest.mark.security]

ROLES = ["op", "sup", "gm1", "inst", "admin"]

# (method, path, json body or None) -> the users allowed; everyone else gets 403.
# Writes use bodies that fail validation *after* the permission check (422), or harmless ones.
MATRIX: list[tuple[str, str, dict[str, Any] | None, set[str]]] = [
    ("GET", "/api/incidents", None, {"op", "sup", "gm1", "admin"}),
    ("GET", "/api/households", None, set(ROLES)),
    ("GET", "/api/residents", None, set(ROLES)),
    ("GET", "/api/contacts", None, set(ROLES)),
    ("GET", "/api/devices", None, set(ROLES)),
    ("GET", "/api/devices/health", None, set(ROLES)),
    ("GET", "/api/gateways", None, set(ROLES)),
    ("GET", "/api/grids", None, set(ROLES)),
    ("GET", "/api/grids/map", None, set(ROLES)),
    ("GET", "/api/users", None, {"admin"}),
    ("GET", "/api/audit", None, {"sup", "admin"}),
    ("GET", "/api/reports/weekly", None, {"op", "sup", "admin"}),
    ("GET", "/api/reports/response-times.csv", None, {"op", "sup", "admin"}),
    ("POST", "/api/households", {"id": "x", "building_id": "nowhere", "unit": "1"},
     {"sup", "inst", "admin"}),
    ("POST", "/api/residents", {"household_id": "nowhere", "name": "x"},
     {"sup", "inst", "admin"}),
    ("POST", "/api/contacts", {"resident_id": 999999, "name": "x", "phone": "13900000000"},
     {"op", "sup", "gm1", "inst", "admin"}),
    ("POST", "/api/gateways", {"id": "x", "site_id": "nowhere", "mqtt_username": "x"},
     {"inst", "admin"}),
    ("POST", "/api/devices", {"id": "x", "device_type": "toaster", "gateway_id": "gw1"},
     {"inst", "admin"}),
    ("POST", "/api/grids", {"id": "x", "site_id": "nowhere", "name": "x"}, {"admin"}),
    ("POST", "/api/users", {"username": "x", "display_name": "x", "role": "grid_member",
                            "password": "long-enough"}, {"admin"}),
]  # fmt: skip


def _cases() -> list[Any]:
    return [
        pytest.param(method, path, body, role, role in allowed, id=f"{role}-{method}-{path}")
        for method, path, body, allowed in MATRIX
        for role in ROLES
    ]


@pytest.mark.parametrize(("method", "path", "body", "role", "allowed"), _cases())
def test_role_matrix(
    clients: dict[str, TestClient],
    method: str,
    path: str,
    body: dict[str, Any] | None,
    role: str,
    allowed: bool,
) -> None:
    response = clients[role].request(method, path, json=body)
    if allowed:
        assert response.status_code in {200, 201, 409, 422}, response.text
    else:
        assert response.status_code == 403, response.text


def test_every_api_route_but_sign_in_needs_a_session(
    console_app: FastAPI, anon: TestClient
) -> None:
    # The message catalogue is the page's own vocabulary (like its scripts), read before sign-in.
    public = {"/api/auth/login", "/api/config", "/api/health", "/api/messages"}
    checked = 0
    for template, operations in console_app.openapi()["paths"].items():
        # The SMS provider's webhooks prove themselves with the provider's signature instead,
        # the cloud providers' receipts with the secret last path segment (403 without it:
        # tests/alerting/test_cloud_channels.py).
        if (
            template in public
            or not template.startswith("/api/")
            or "/sms/" in template
            or template.startswith("/api/callbacks/")
        ):
            continue
        path = re.sub(r"\{[^}]+\}", "1", template)
        for method in operations:
            response = anon.request(method.upper(), path, json={})
            assert response.status_code == 401, f"{method} {template}: {response.status_code}"
            checked += 1
    assert checked > 30


def test_health_and_metrics_need_no_session(anon: TestClient) -> None:
    health = anon.get("/healthz")
    assert health.status_code == 200
    assert health.json()["service"] == "console"
    assert "vigil_console_actions_total" in anon.get("/metrics").text


def test_a_grid_member_sees_only_their_grid(clients: dict[str, TestClient]) -> None:
    gm1 = clients["gm1"]
    homes = gm1.get("/api/households").json()["items"]
    assert "h1" in [h["id"] for h in homes]
    assert {h["grid_id"] for h in homes} == {"g1"}
    assert gm1.get("/api/households/h1").status_code == 200
    assert gm1.get("/api/households/h2").status_code == 404
    assert {r["grid_id"] for r in gm1.get("/api/residents").json()["items"]} == {"g1"}
    mine = {h["id"] for h in homes}
    assert {c["household_id"] for c in gm1.get("/api/contacts").json()["items"]} <= mine
    assert {d["grid_id"] for d in gm1.get("/api/devices").json()["items"]} == {"g1"}
    assert gm1.get("/api/devices/smoke2").status_code == 404
    assert [g["id"] for g in gm1.get("/api/grids").json()] == ["g1"]
    assert gm1.get("/api/grids/g2").status_code == 404
    assert [g["id"] for g in gm1.get("/api/grids/map").json()["grids"]] == ["g1"]
    assert [g["id"] for g in gm1.get("/api/gateways").json()] == ["gw1"]
    # Filtering for the other grid does not widen the fence.
    assert gm1.get("/api/households", params={"grid_id": "g2"}).json()["items"] == []


def test_a_grid_member_cannot_add_contacts_in_another_grid(clients: dict[str, TestClient]) -> None:
    other = clients["gm2"].get("/api/residents").json()["items"][0]["id"]
    response = clients["gm1"].post(
        "/api/contacts", json={"resident_id": other, "name": "x", "phone": "13900000000"}
    )
    assert response.status_code == 422


def test_installers_never_see_medical_notes(clients: dict[str, TestClient]) -> None:
    for_installer = clients["inst"].get("/api/residents").json()["items"]
    for_operator = clients["op"].get("/api/residents").json()["items"]
    assert for_operator[0]["medical_notes"] == "心脏起搏器"
    assert {r["medical_notes"] for r in for_installer} == {None}
