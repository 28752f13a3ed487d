"""Devices and their health: offline, low battery, dirty detector, tamper, last seen."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from psycopg.rows import dict_row

from console.api.accounts import Principal
from console.api.broker_health import BROKER_HEALTH_SQL
from console.api.deps import (
    AuditDep,
    DeviceWriter,
    RegistryReader,
    SessionDep,
    grid_scope,
    not_found,
    now,
)
from console.api.models.common import Key
from console.api.models.devices import (
    BrokerHealth,
    DeviceCreate,
    DeviceHealth,
    DevicePublic,
    DevicesPublic,
    DeviceUpdate,
    GridHealth,
    HealthSummary,
)
from console.api.models.provisioning import DeviceHistoryEntry, DeviceReplace
from console.api.sqlutil import contains_pattern, fetch_all, update_row
from vigil.device_types import device_types

router = APIRouter(prefix="/devices", tags=["devices"])

Problem = Literal["any", "offline", "low_battery", "dirty", "tamper", "fault", "poor_signal"]

# A lithium 3 V cell under load is near its end below 2.6 V; detectors report low battery
# about once a day while it lasts (GB 20517 asks for a battery check at least every 24 h),
# so a low-battery or fault event counts for a day and then needs repeating.
LOW_BATTERY_V = 2.6
EVENT_HOLD = "24 hours"
# Offline after two missed heartbeats plus a minute of slack for a slow link.
MISSED_HEARTBEATS = 2
OFFLINE_SLACK_S = 60
# How far back the time series are searched for a device's last report and battery voltage
# when the registry has neither (a device ingest has not written yet).
SEEN_LOOKBACK = "7 days"
# NB-IoT coverage: at or under -110 dBm RSRP a device's reports start to fail (deep coverage
# classes, retries that drain the battery); the installer should move it or add coverage.
POOR_RSRP_DBM = -110.0

_HEALTH = f"""
with types(device_type, heartbeat_s) as (
    select * from unnest(%(types)s::text[], %(heartbeats)s::float8[])
),
d as (
    select d.id, d.device_type, d.gateway_id, d.household_id, d.room, d.installed_at,
           d.source, d.model, d.external_id, d.supervision_s,
           coalesce(hb.grid_id, gb.grid_id) as grid_id,
           case when hb.id is not null then hb.address || ' ' || h.unit
                else gb.address end as address,
           -- The registry's columns, which ingest keeps (ingest/liveness.py); the time series
           -- only for a device they lack (coalesce evaluates the searches only then).
           coalesce(d.last_seen, greatest(
               (select max(r.time) from readings r where r.device_id = d.id
                  and r.time > now() - interval '{SEEN_LOOKBACK}'),
               (select max(e.time) from device_events e where e.device_id = d.id
                  and e.time > now() - interval '{SEEN_LOOKBACK}'))) as last_seen,
           coalesce(d.battery_v, (
               select r.value from readings r where r.device_id = d.id and r.metric = 'battery'
                 and r.time > now() - interval '{SEEN_LOOKBACK}'
               order by r.time desc limit 1)) as battery_v,
           coalesce(d.supervision_s, t.heartbeat_s, 900) as heartbeat_s,
           ev.tamper, ev.fault_at, ev.fault_detail, ev.self_test, ev.low_battery_at,
           (select r.value from readings r where r.device_id = d.id and r.metric = 'rsrp'
              and r.time > now() - interval '{SEEN_LOOKBACK}'
            order by r.time desc limit 1) as rsrp
    from devices d
    join gateways g on g.id = d.gateway_id
    left join types t on t.device_type = d.device_type
    left join households h on h.id = d.household_id
    left join buildings hb on hb.id = h.building_id
    left join buildings gb on gb.id = g.building_id
    left join lateral (
        select (select e.value from device_events e where e.device_id = d.id
                  and e.kind = 'tamper' order by e.time desc limit 1) as tamper,
               f.time as fault_at, f.detail::text as fault_detail,
               (select e.value from device_events e where e.device_id = d.id
                  and e.kind = 'self_test' order by e.time desc limit 1) as self_test,
               (select max(e.time) from device_events e where e.device_id = d.id
                  and e.kind = 'low_battery' and e.time > now() - interval '{EVENT_HOLD}')
                  as low_battery_at
        from (select 1) one
        left join lateral (
            select e.time, e.detail from device_events e where e.device_id = d.id
              and e.kind = 'fault' and e.time > now() - interval '{EVENT_HOLD}'
            order by e.time desc limit 1) f on true
    ) ev on true
    where d.retired_at is null
),
health as (
    select d.*,
           -- A device never heard from counts from its installation.
           coalesce(d.last_seen, d.installed_at) < now() - make_interval(
               secs => d.heartbeat_s * {MISSED_HEARTBEATS} + {OFFLINE_SLACK_S}) as offline,
           (coalesce(d.battery_v < {LOW_BATTERY_V}, false) or d.low_battery_at is not null)
             as low_battery,
           coalesce(d.tamper = 1, false) as tampered,
           (d.fault_at is not null or coalesce(d.self_test = 0, false)) as faulty,
           coalesce(d.fault_detail ilike '%%dirty%%', false) as dirty,
           coalesce(d.rsrp <= {POOR_RSRP_DBM}, false) as poor_signal
    from d
)
"""
_WHERE = """
where (%(scope)s::text is null or grid_id = %(scope)s)
  and (%(grid)s::text is null or grid_id = %(grid)s)
  and (%(id)s::text is null or id = %(id)s)
  and (%(household)s::text is null or household_id = %(household)s)
  and (%(gateway)s::text is null or gateway_id = %(gateway)s)
  and (%(q)s::text is null or id ilike %(q)s or address ilike %(q)s or room ilike %(q)s)
  and case %(problem)s::text
        when 'offline' then offline when 'low_battery' then low_battery
        when 'dirty' then dirty when 'tamper' then tampered when 'fault' then faulty
        when 'poor_signal' then poor_signal
        when 'any' then offline or low_battery or dirty or tampered or faulty or poor_signal
        else true end
"""


def _params(user: Principal, **filters: Any) -> dict[str, Any]:
    types = device_types()
    q = filters.get("q")
    return {
        "types": list(types),
        "heartbeats": [t.heartbeat_interval_s for t in types.values()],
        "scope": grid_scope(user),
        "grid": filters.get("grid"),
        "id": filters.get("device_id"),
        "household": filters.get("household"),
        "gateway": filters.get("gateway"),
        "q": contains_pattern(q) if q else None,
        "problem": filters.get("problem"),
    }


def _device(row: dict[str, Any]) -> DevicePublic:
    return DevicePublic(
        id=row["id"],
        device_type=row["device_type"],
        gateway_id=row["gateway_id"],
        household_id=row["household_id"],
        room=row["room"],
        source=row["source"],
        model=row["model"],
        external_id=row["external_id"],
        supervision_s=row["supervision_s"],
        grid_id=row["grid_id"],
        address=row["address"],
        installed_at=row["installed_at"],
        last_seen=row["last_seen"],
        battery_v=row["battery_v"],
        health=DeviceHealth(
            offline=row["offline"],
            low_battery=row["low_battery"],
            dirty=row["dirty"],
            tamper=row["tampered"],
            fault=row["faulty"],
            poor_signal=row["poor_signal"],
            rsrp_dbm=row["rsrp"],
        ),
    )


@router.get("")
def list_devices(
    *,
    conn: SessionDep,
    user: RegistryReader,
    q: Annotated[str | None, Query(max_length=100, description="id, address, room")] = None,
    grid_id: Annotated[str | None, Query(max_length=64)] = None,
    household_id: Annotated[str | None, Query(max_length=64)] = None,
    gateway_id: Annotated[str | None, Query(max_length=64)] = None,
    problem: Problem | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> DevicesPublic:
    """Devices, worst first when filtered by a problem; `problem=any` lists every unhealthy one."""
    params = _params(
        user, grid=grid_id, household=household_id, gateway=gateway_id, q=q, problem=problem
    )
    with conn.cursor(row_factory=dict_row) as cur:
        total = cur.execute(
            f"{_HEALTH} select count(*) as n from health {_WHERE}".encode(), params
        ).fetchone()
        rows = cur.execute(
            f"{_HEALTH} select * from health {_WHERE} "
            "order by grid_id nulls last, last_seen nulls first, id "
            "limit %(limit)s offset %(offset)s".encode(),
            {**params, "limit": limit, "offset": offset},
        ).fetchall()
    return DevicesPublic(total=total["n"] if total else 0, items=[_device(r) for r in rows])


@router.get("/health")
def health_summary(conn: SessionDep, user: RegistryReader) -> HealthSummary:
    """Per grid: how many devices, and how many offline, low on battery, dirty, tampered."""
    params = _params(user)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"""{_HEALTH}
            select grid_id, count(*) as devices, count(*) filter (where offline) as offline,
                   count(*) filter (where low_battery) as low_battery,
                   count(*) filter (where dirty) as dirty,
                   count(*) filter (where tampered) as tamper,
                   count(*) filter (where faulty) as fault,
                   count(*) filter (where poor_signal) as poor_signal
            from health {_WHERE} group by grid_id order by grid_id nulls last""".encode(),
            params,
        ).fetchall()
        brokers = cur.execute(BROKER_HEALTH_SQL).fetchall()
    return HealthSummary(
        grids=[GridHealth.model_validate(r) for r in rows],
        brokers=[BrokerHealth.model_validate(b) for b in brokers],
    )


@router.get("/{device_id}")
def get_device(device_id: Key, conn: SessionDep, user: RegistryReader) -> DevicePublic:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"{_HEALTH} select * from health {_WHERE}".encode(), _params(user, device_id=device_id)
        ).fetchone()
    if row is None:
        raise not_found("device")
    return _device(row)


def _check_refs(conn: SessionDep, gateway_id: str | None, household_id: str | None) -> None:
    if (
        gateway_id is not None
        and conn.execute(
            "select 1 from gateways where id = %s and retired_at is null", (gateway_id,)
        ).fetchone()
        is None
    ):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown gateway_id")
    if (
        household_id is not None
        and conn.execute(
            "select 1 from households where id = %s and retired_at is null", (household_id,)
        ).fetchone()
        is None
    ):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown household_id")


@router.post("", status_code=status.HTTP_201_CREATED)
def create_device(
    body: DeviceCreate, conn: SessionDep, user: DeviceWriter, audit: AuditDep
) -> DevicePublic:
    if body.device_type not in device_types():
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"unknown device_type; known: {', '.join(sorted(device_types()))}",
        )
    _check_refs(conn, body.gateway_id, body.household_id)
    if conn.execute("select 1 from devices where id = %s", (body.id,)).fetchone():
        raise HTTPException(status.HTTP_409_CONFLICT, "a device with this id exists")
    if (
        body.external_id is not None
        and conn.execute(
            "select 1 from devices where source = %s and external_id = %s and retired_at is null",
            (body.source, body.external_id),
        ).fetchone()
    ):
        raise HTTPException(status.HTTP_409_CONFLICT, f"{body.source} {body.external_id} exists")
    conn.execute(
        "insert into devices (id, device_type, gateway_id, household_id, room, source, model, "
        "external_id, supervision_s) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (body.id, body.device_type, body.gateway_id, body.household_id, body.room, body.source,
         body.model, body.external_id, body.supervision_s),
    )  # fmt: skip
    audit("device.create", f"device:{body.id}", {"household": body.household_id})
    return get_device(body.id, conn, user)


@router.patch("/{device_id}")
def update_device(
    device_id: Key, body: DeviceUpdate, conn: SessionDep, user: DeviceWriter, audit: AuditDep
) -> DevicePublic:
    get_device(device_id, conn, user)
    fields = body.model_dump(exclude_unset=True)
    if "gateway_id" in fields and fields["gateway_id"] is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "gateway_id cannot be null")
    _check_refs(conn, fields.get("gateway_id"), fields.get("household_id"))
    update_row(conn, table="devices", key="id", key_value=device_id, fields=fields)
    audit("device.update", f"device:{device_id}", {"fields": sorted(fields)})
    return get_device(device_id, conn, user)


@router.delete("/{device_id}", status_code=status.HTTP_204_NO_CONTENT)
def retire_device(device_id: Key, conn: SessionDep, user: DeviceWriter, audit: AuditDep) -> None:
    get_device(device_id, conn, user)
    update_row(conn, table="devices", key="id", key_value=device_id, fields={"retired_at": now()})
    audit("device.retire", f"device:{device_id}")


@router.post("/{device_id}/replace", status_code=status.HTTP_201_CREATED)
def replace_device(
    device_id: Key, body: DeviceReplace, conn: SessionDep, user: DeviceWriter, audit: AuditDep
) -> DevicePublic:
    """Swap a device for a new one in the same place: the new one takes the gateway, household
    and room; the old one is retired with `replaced_by` pointing at it, its readings, events and
    alerts kept under its own id (GET /devices/{id}/history walks the chain)."""
    old = get_device(device_id, conn, user)
    device_type = body.device_type or old.device_type
    if device_type not in device_types():
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"unknown device_type; known: {', '.join(sorted(device_types()))}",
        )
    if conn.execute("select 1 from devices where id = %s", (body.new_id,)).fetchone():
        raise HTTPException(status.HTTP_409_CONFLICT, f"device {body.new_id} is registered already")
    conn.execute(
        "insert into devices (id, device_type, gateway_id, household_id, room) "
        "values (%s, %s, %s, %s, %s)",
        (body.new_id, device_type, old.gateway_id, old.household_id, old.room),
    )
    update_row(
        conn,
        table="devices",
        key="id",
        key_value=device_id,
        fields={"retired_at": now(), "replaced_by": body.new_id},
    )
    audit(
        "device.replace",
        f"device:{device_id}",
        {"new": body.new_id, "household": old.household_id, "gateway": old.gateway_id},
    )
    return get_device(body.new_id, conn, user)


_CHAIN = """
with recursive back(id) as (
    select %(id)s::text
    union
    select d.id from devices d join back on d.replaced_by = back.id
), fwd(id) as (
    select %(id)s::text
    union
    select d.replaced_by from devices d join fwd on d.id = fwd.id where d.replaced_by is not null
)
select d.id, d.device_type, d.installed_at, d.retired_at, d.replaced_by
from devices d
left join households h on h.id = d.household_id
left join buildings b on b.id = h.building_id
where d.id in (select id from back union select id from fwd)
  and (%(scope)s::text is null or b.grid_id = %(scope)s)
order by d.installed_at, d.id
"""


@router.get("/{device_id}/history")
def device_history(
    device_id: Key, conn: SessionDep, user: RegistryReader
) -> list[DeviceHistoryEntry]:
    """The device and every device it replaced or was replaced by, oldest first."""
    chain = fetch_all(
        conn, DeviceHistoryEntry, _CHAIN, {"id": device_id, "scope": grid_scope(user)}
    )
    if not any(d.id == device_id for d in chain):
        raise not_found("device")
    return chain
