"""Gateways: the boxes bridging a building's devices onto the broker."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from alerting.api.deps import (
    AuditDep,
    DeviceWriter,
    RegistryReader,
    SessionDep,
    grid_scope,
    not_found,
    now,
)
from alerting.api.models.common import Key
from alerting.api.models.gateways import GatewayCreate, GatewayPublic, GatewayUpdate
from alerting.api.sqlutil import fetch_all, fetch_one, update_row

router = APIRouter(prefix="/gateways", tags=["gateways"])

_SELECT = """
select g.id, g.site_id, g.building_id, g.mqtt_username, g.status, g.last_seen, g.revoked_at,
       g.created_at,
       (select count(*) from devices d where d.gateway_id = g.id and d.retired_at is null)
         as devices
from gateways g
left join buildings b on b.id = g.building_id
where g.retired_at is null
  and (%(scope)s::text is null or b.grid_id = %(scope)s)
  and (%(id)s::text is null or g.id = %(id)s)
"""


@router.get("")
def list_gateways(conn: SessionDep, user: RegistryReader) -> list[GatewayPublic]:
    return fetch_all(
        conn, GatewayPublic, f"{_SELECT} order by g.id", {"scope": grid_scope(user), "id": None}
    )


@router.get("/{gateway_id}")
def get_gateway(gateway_id: Key, conn: SessionDep, user: RegistryReader) -> GatewayPublic:
    found = fetch_one(conn, GatewayPublic, _SELECT, {"scope": grid_scope(user), "id": gateway_id})
    if found is None:
        raise not_found("gateway")
    return found


@router.post("", status_code=status.HTTP_201_CREATED)
def create_gateway(
    body: GatewayCreate, conn: SessionDep, user: DeviceWriter, audit: AuditDep
) -> GatewayPublic:
    """Register a gateway; its broker credentials are issued by the provisioning CLI."""
    if conn.execute("select 1 from sites where id = %s", (body.site_id,)).fetchone() is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown site_id")
    if (
        body.building_id is not None
        and conn.execute("select 1 from buildings where id = %s", (body.building_id,)).fetchone()
        is None
    ):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown building_id")
    if conn.execute(
        "select 1 from gateways where id = %s or mqtt_username = %s", (body.id, body.mqtt_username)
    ).fetchone():
        raise HTTPException(status.HTTP_409_CONFLICT, "a gateway with this id or username exists")
    conn.execute(
        "insert into gateways (id, site_id, building_id, mqtt_username) values (%s, %s, %s, %s)",
        (body.id, body.site_id, body.building_id, body.mqtt_username),
    )
    audit("gateway.create", f"gateway:{body.id}")
    return get_gateway(body.id, conn, user)


@router.patch("/{gateway_id}")
def update_gateway(
    gateway_id: Key, body: GatewayUpdate, conn: SessionDep, user: DeviceWriter, audit: AuditDep
) -> GatewayPublic:
    get_gateway(gateway_id, conn, user)
    fields: dict[str, object] = {}
    if "building_id" in body.model_fields_set:
        if (
            body.building_id is not None
            and conn.execute(
                "select 1 from buildings where id = %s", (body.building_id,)
            ).fetchone()
            is None
        ):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown building_id")
        fields["building_id"] = body.building_id
    if body.revoked is not None:
        fields["revoked_at"] = now() if body.revoked else None
    update_row(conn, table="gateways", key="id", key_value=gateway_id, fields=fields)
    audit(
        "gateway.update",
        f"gateway:{gateway_id}",
        {"building": body.building_id, "revoked": body.revoked},
    )
    return get_gateway(gateway_id, conn, user)
