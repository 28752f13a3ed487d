"""Bulk installation: every row of a file checked, then all of it registered in one
transaction, or none of it (vigil/provisioning/importer.py holds the checks)."""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

from fastapi import APIRouter, HTTPException, status

from console.api.accounts import Principal
from console.api.deps import AuditDep, BrokerDep, DeviceWriter, SessionDep
from console.api.models.provisioning import (
    BrokerCredentials,
    ImportProblem,
    ImportRejection,
    ImportRequest,
    ImportResult,
)
from console.api.roles import Perm, allows
from console.api.routes.gateways import PASSWORD_BYTES
from vigil.broker_auth import BrokerAuthError, GatewayAccounts, gateway_acls
from vigil.db.connect import Conn
from vigil.device_types import device_types
from vigil.provisioning.importer import ImportRejected, Plan, Registry, RowError, validate

router = APIRouter(tags=["import"])

# Which permission each kind of row needs besides devices.write (which the endpoint asks for).
_NEEDS = {
    "site": Perm.GRIDS_WRITE,
    "grid": Perm.GRIDS_WRITE,
    "building": Perm.REGISTRY_WRITE,
    "household": Perm.REGISTRY_WRITE,
    "resident": Perm.REGISTRY_WRITE,
    "contact": Perm.CONTACTS_WRITE,
}


def _ids(conn: Conn, query: str) -> frozenset[str]:
    return frozenset(r[0] for r in conn.execute(query.encode()).fetchall())


def _pairs(conn: Conn, query: str) -> dict[str, str]:
    return {r[0]: r[1] for r in conn.execute(query.encode()).fetchall()}


def load_registry(conn: Conn) -> Registry:
    active = "where retired_at is null"
    return Registry(
        sites=_ids(conn, f"select id from sites {active}"),
        sites_all=_ids(conn, "select id from sites"),
        grids=_pairs(conn, f"select id, site_id from grids {active}"),
        grids_all=_ids(conn, "select id from grids"),
        buildings=_pairs(conn, f"select id, grid_id from buildings {active}"),
        buildings_all=_ids(conn, "select id from buildings"),
        households=_pairs(conn, f"select id, building_id from households {active}"),
        households_all=_ids(conn, "select id from households"),
        residents=frozenset(
            (r[0], r[1])
            for r in conn.execute(f"select household_id, name from residents {active}".encode())
        ),
        gateways=_pairs(conn, f"select id, site_id from gateways {active} and revoked_at is null"),
        gateways_all=_ids(conn, "select id from gateways union select mqtt_username from gateways"),
        devices_all=_ids(conn, "select id from devices"),
        device_types=frozenset(device_types()),
    )


def _permission_errors(plan: Plan, user: Principal) -> list[RowError]:
    return [
        RowError(line, "kind", f"role {user.role.value} may not {perm.value}")
        for kind, perm in _NEEDS.items()
        if not allows(user.role, perm)
        for line, _ in plan.rows[kind]
    ]


def _insert(conn: Conn, plan: Plan) -> None:
    """Everything in dependency order; residents first get their ids for the contacts."""
    with conn.cursor() as cur:
        cur.executemany(
            "insert into sites (id, name, name_en, district) values (%s, %s, %s, %s)",
            [(r.id, r.name, r.name_en, r.district) for r in plan.of("site")],
        )
        cur.executemany(
            "insert into grids (id, site_id, name, name_en) values (%s, %s, %s, %s)",
            [(r.id, r.site, r.name, r.name_en) for r in plan.of("grid")],
        )
        cur.executemany(
            "insert into buildings (id, grid_id, name, address, lat, lon, floors) "
            "values (%s, %s, %s, %s, %s, %s, %s)",
            [
                (r.id, r.grid, r.name, r.address, r.lat, r.lon, r.floors)
                for r in plan.of("building")
            ],
        )
        cur.executemany(
            "insert into households (id, building_id, unit, living_alone) values (%s, %s, %s, %s)",
            [(r.id, r.building, r.unit, r.living_alone) for r in plan.of("household")],
        )
        cur.executemany(
            "insert into residents (household_id, name, birth_year, phone, language) "
            "values (%s, %s, %s, %s, %s)",
            [(r.household, r.name, r.birth_year, r.phone, r.language) for r in plan.of("resident")],
        )
        resident_ids = {
            (h, n): i
            for i, h, n in conn.execute(
                "select id, household_id, name from residents where retired_at is null "
                "and household_id = any(%s)",
                ([r.household for r in plan.of("contact")],),
            ).fetchall()
        }
        cur.executemany(
            "insert into contacts (resident_id, name, relation, phone, language, priority) "
            "values (%s, %s, %s, %s, %s, %s)",
            [
                (resident_ids[(r.household, r.resident)], r.name, r.relation, r.phone,
                 r.language, r.priority)
                for r in plan.of("contact")
            ],
        )  # fmt: skip
        cur.executemany(
            "insert into gateways (id, site_id, building_id, mqtt_username) "
            "values (%s, %s, %s, %s)",
            [(r.id, r.site, r.building, r.id) for r in plan.of("gateway")],
        )
        cur.executemany(
            "insert into devices (id, device_type, gateway_id, household_id, room, source, "
            "model, external_id, supervision_s) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(r.id, r.type, r.gateway, r.household, r.room, r.source, r.model, r.external_id,
              r.supervision_s) for r in plan.of("device")],
        )  # fmt: skip


def _reject(errors: list[RowError]) -> HTTPException:
    body = ImportRejection(
        message=f"{len(errors)} errors; nothing was imported",
        errors=[ImportProblem(row=e.row, column=e.column, message=e.message) for e in errors],
    )
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, body.model_dump())


@router.post(
    "/import",
    responses={422: {"model": ImportRejection, "description": "every error, by row"}},
)
def import_rows(
    body: ImportRequest, conn: SessionDep, user: DeviceWriter, audit: AuditDep, broker: BrokerDep
) -> ImportResult:
    """Check every row, then register them all in this request's transaction; new gateways get
    their broker credentials in the answer (once). Any error: nothing is written."""
    rows = [(r.row, dict(r.cells)) for r in body.rows]
    try:
        plan = validate(rows, load_registry(conn))
    except ImportRejected as exc:
        raise _reject(exc.errors) from exc
    if denied := _permission_errors(plan, user):
        raise _reject(denied)
    counts = plan.counts()
    if body.dry_run:
        return ImportResult(imported=False, counts=counts)
    _insert(conn, plan)
    accounts = [(g.id, secrets.token_urlsafe(PASSWORD_BYTES), g.site) for g in plan.of("gateway")]
    try:
        broker.add_gateways(accounts)
    except BrokerAuthError as exc:
        _forget(broker, [gw for gw, _, _ in accounts])
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"broker: {exc}") from exc
    detail: dict[str, Any] = {"rows": len(rows), "counts": counts,
                              "gateways": [a[0] for a in accounts]}  # fmt: skip
    audit("registry.import", f"import:{len(rows)} rows", detail)
    return ImportResult(
        imported=True,
        counts=counts,
        credentials=[
            BrokerCredentials(
                username=gw,
                password=pw,
                topics=[f"{a['acltype']} {a['topic']}" for a in gateway_acls(gw, site)],
            )
            for gw, pw, site in accounts
        ],
    )


def _forget(broker: GatewayAccounts, gateway_ids: list[str]) -> None:
    """Undo accounts a failed import may have created before the broker gave up."""
    for gw in gateway_ids:
        with contextlib.suppress(BrokerAuthError):
            broker.remove_gateway(gw)
