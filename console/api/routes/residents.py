"""Residents: who lives in a household, their age, language and medical notes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from console.api.accounts import Principal
from console.api.deps import (
    AuditDep,
    RegistryReader,
    RegistryWriter,
    SessionDep,
    grid_scope,
    not_found,
    now,
)
from console.api.models.common import BigId
from console.api.models.residents import (
    ResidentCreate,
    ResidentPublic,
    ResidentsPublic,
    ResidentUpdate,
)
from console.api.roles import Perm, allows
from console.api.sqlutil import contains_pattern, fetch_all, fetch_one, update_row

router = APIRouter(prefix="/residents", tags=["residents"])

_FROM = """
from residents r
join households h on h.id = r.household_id
join buildings b on b.id = h.building_id
where r.retired_at is null
  and (%(scope)s::text is null or b.grid_id = %(scope)s)
  and (%(id)s::bigint is null or r.id = %(id)s)
  and (%(household)s::text is null or r.household_id = %(household)s)
  and (%(q)s::text is null or r.name ilike %(q)s or r.phone ilike %(q)s
       or b.address ilike %(q)s or h.id ilike %(q)s)
"""
_COLUMNS = """
select r.id, r.household_id, r.name, r.birth_year, r.phone, r.language, r.medical_notes,
       r.mobility,
       r.created_at, h.living_alone, b.grid_id, b.address || ' ' || h.unit as address,
       extract(year from now())::int - r.birth_year as age
"""


def _visible(user: Principal, resident: ResidentPublic) -> ResidentPublic:
    if allows(user.role, Perm.MEDICAL_READ):
        return resident
    return resident.model_copy(update={"medical_notes": None})


@router.get("")
def list_residents(
    *,
    conn: SessionDep,
    user: RegistryReader,
    q: Annotated[str | None, Query(max_length=100, description="name, phone, address")] = None,
    household_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ResidentsPublic:
    params = {
        "scope": grid_scope(user),
        "id": None,
        "household": household_id,
        "q": contains_pattern(q) if q else None,
    }
    total = conn.execute(f"select count(*) {_FROM}".encode(), params).fetchone()
    items = fetch_all(
        conn,
        ResidentPublic,
        f"{_COLUMNS} {_FROM} order by r.id limit %(limit)s offset %(offset)s",
        {**params, "limit": limit, "offset": offset},
    )
    return ResidentsPublic(total=total[0] if total else 0, items=[_visible(user, r) for r in items])


@router.get("/{resident_id}")
def get_resident(resident_id: BigId, conn: SessionDep, user: RegistryReader) -> ResidentPublic:
    found = fetch_one(
        conn,
        ResidentPublic,
        f"{_COLUMNS} {_FROM}",
        {"scope": grid_scope(user), "id": resident_id, "household": None, "q": None},
    )
    if found is None:
        raise not_found("resident")
    return _visible(user, found)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_resident(
    body: ResidentCreate, conn: SessionDep, user: RegistryWriter, audit: AuditDep
) -> ResidentPublic:
    if (
        conn.execute(
            "select 1 from households where id = %s and retired_at is null", (body.household_id,)
        ).fetchone()
        is None
    ):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown household_id")
    row = conn.execute(
        "insert into residents (household_id, name, birth_year, phone, language, medical_notes, "
        "mobility) values (%s, %s, %s, %s, %s, %s, %s) returning id",
        (
            body.household_id,
            body.name,
            body.birth_year,
            body.phone,
            body.language,
            body.medical_notes,
            body.mobility,
        ),
    ).fetchone()
    assert row is not None
    audit("resident.create", f"resident:{row[0]}", {"household": body.household_id})
    return get_resident(row[0], conn, user)


@router.patch("/{resident_id}")
def update_resident(
    resident_id: BigId,
    body: ResidentUpdate,
    conn: SessionDep,
    user: RegistryWriter,
    audit: AuditDep,
) -> ResidentPublic:
    get_resident(resident_id, conn, user)
    fields = body.model_dump(exclude_unset=True)
    for required in ("name", "language"):
        if required in fields and fields[required] is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{required} cannot be null")
    update_row(conn, table="residents", key="id", key_value=resident_id, fields=fields)
    audit("resident.update", f"resident:{resident_id}", {"fields": sorted(fields)})
    return get_resident(resident_id, conn, user)


@router.delete("/{resident_id}", status_code=status.HTTP_204_NO_CONTENT)
def retire_resident(
    resident_id: BigId, conn: SessionDep, user: RegistryWriter, audit: AuditDep
) -> None:
    get_resident(resident_id, conn, user)
    update_row(
        conn, table="residents", key="id", key_value=resident_id, fields={"retired_at": now()}
    )
    audit("resident.retire", f"resident:{resident_id}")
