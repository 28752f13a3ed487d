"""Households: a flat in a building, where residents live and devices are installed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from console.api.deps import (
    AuditDep,
    RegistryReader,
    RegistryWriter,
    SessionDep,
    grid_scope,
    not_found,
    now,
)
from console.api.models.common import Key
from console.api.models.households import (
    HouseholdCreate,
    HouseholdPublic,
    HouseholdsPublic,
    HouseholdUpdate,
)
from console.api.sqlutil import contains_pattern, fetch_all, fetch_one, update_row

router = APIRouter(prefix="/households", tags=["households"])

_FROM = """
from households h
join buildings b on b.id = h.building_id
where h.retired_at is null
  and (%(scope)s::text is null or b.grid_id = %(scope)s)
  and (%(id)s::text is null or h.id = %(id)s)
  and (%(grid)s::text is null or b.grid_id = %(grid)s)
  and (%(alone)s::boolean is null or h.living_alone = %(alone)s)
  and (%(q)s::text is null or h.id ilike %(q)s or h.unit ilike %(q)s or b.address ilike %(q)s
       or b.name ilike %(q)s or exists (
         select 1 from residents r where r.household_id = h.id and r.retired_at is null
           and (r.name ilike %(q)s or r.phone ilike %(q)s)))
"""
_COLUMNS = """
select h.id, h.building_id, h.unit, h.living_alone, h.away_until, h.notes, h.created_at,
       b.grid_id, b.address, b.name as building_name,
       coalesce((select array_agg(r.name order by r.id) from residents r
                  where r.household_id = h.id and r.retired_at is null), '{}') as residents
"""


def _params(
    scope: str | None,
    *,
    household_id: str | None = None,
    grid: str | None = None,
    alone: bool | None = None,
    q: str | None = None,
) -> dict[str, object]:
    return {
        "scope": scope,
        "id": household_id,
        "grid": grid,
        "alone": alone,
        "q": contains_pattern(q) if q else None,
    }


@router.get("")
def list_households(
    *,
    conn: SessionDep,
    user: RegistryReader,
    q: Annotated[str | None, Query(max_length=100, description="address, unit, resident")] = None,
    grid_id: Annotated[str | None, Query(max_length=64)] = None,
    living_alone: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> HouseholdsPublic:
    params = _params(grid_scope(user), grid=grid_id, alone=living_alone, q=q)
    total_row = conn.execute(f"select count(*) {_FROM}".encode(), params).fetchone()
    items = fetch_all(
        conn,
        HouseholdPublic,
        f"{_COLUMNS} {_FROM} order by h.id limit %(limit)s offset %(offset)s",
        {**params, "limit": limit, "offset": offset},
    )
    return HouseholdsPublic(total=total_row[0] if total_row else 0, items=items)


@router.get("/{household_id}")
def get_household(household_id: Key, conn: SessionDep, user: RegistryReader) -> HouseholdPublic:
    found = fetch_one(
        conn,
        HouseholdPublic,
        f"{_COLUMNS} {_FROM}",
        _params(grid_scope(user), household_id=household_id),
    )
    if found is None:
        raise not_found("household")
    return found


def _check_building(conn: SessionDep, building_id: str) -> None:
    if (
        conn.execute(
            "select 1 from buildings where id = %s and retired_at is null", (building_id,)
        ).fetchone()
        is None
    ):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown building_id")


@router.post("", status_code=status.HTTP_201_CREATED)
def create_household(
    body: HouseholdCreate, conn: SessionDep, user: RegistryWriter, audit: AuditDep
) -> HouseholdPublic:
    _check_building(conn, body.building_id)
    if conn.execute("select 1 from households where id = %s", (body.id,)).fetchone():
        raise HTTPException(status.HTTP_409_CONFLICT, "a household with this id exists")
    conn.execute(
        "insert into households (id, building_id, unit, living_alone, away_until, notes) "
        "values (%s, %s, %s, %s, %s, %s)",
        (body.id, body.building_id, body.unit, body.living_alone, body.away_until, body.notes),
    )
    audit("household.create", f"household:{body.id}")
    return get_household(body.id, conn, user)


@router.patch("/{household_id}")
def update_household(
    household_id: Key,
    body: HouseholdUpdate,
    conn: SessionDep,
    user: RegistryWriter,
    audit: AuditDep,
) -> HouseholdPublic:
    get_household(household_id, conn, user)
    fields = body.model_dump(exclude_unset=True)
    if fields.get("building_id"):
        _check_building(conn, fields["building_id"])
    for required in ("building_id", "unit", "living_alone"):
        if required in fields and fields[required] is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{required} cannot be null")
    update_row(conn, table="households", key="id", key_value=household_id, fields=fields)
    audit("household.update", f"household:{household_id}", {"fields": sorted(fields)})
    return get_household(household_id, conn, user)


@router.delete("/{household_id}", status_code=status.HTTP_204_NO_CONTENT)
def retire_household(
    household_id: Key, conn: SessionDep, user: RegistryWriter, audit: AuditDep
) -> None:
    """Retire (keep the history, stop listing); refused while devices are still installed."""
    get_household(household_id, conn, user)
    if conn.execute(
        "select 1 from devices where household_id = %s and retired_at is null", (household_id,)
    ).fetchone():
        raise HTTPException(status.HTTP_409_CONFLICT, "retire or move the devices first")
    update_row(
        conn, table="households", key="id", key_value=household_id, fields={"retired_at": now()}
    )
    audit("household.retire", f"household:{household_id}")
