"""Contacts: the family and neighbours told by SMS when a resident's alarm fires."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from console.api.accounts import Principal
from console.api.deps import (
    AuditDep,
    ContactWriter,
    RegistryReader,
    SessionDep,
    grid_scope,
    not_found,
    now,
)
from console.api.models.common import BigId
from console.api.models.contacts import (
    ContactCreate,
    ContactPublic,
    ContactsPublic,
    ContactUpdate,
)
from console.api.sqlutil import contains_pattern, fetch_all, fetch_one, update_row

router = APIRouter(prefix="/contacts", tags=["contacts"])

_FROM = """
from contacts c
join residents r on r.id = c.resident_id
join households h on h.id = r.household_id
join buildings b on b.id = h.building_id
where c.retired_at is null
  and (%(scope)s::text is null or b.grid_id = %(scope)s)
  and (%(id)s::bigint is null or c.id = %(id)s)
  and (%(resident)s::bigint is null or c.resident_id = %(resident)s)
  and (%(household)s::text is null or r.household_id = %(household)s)
  and (%(q)s::text is null or c.name ilike %(q)s or c.phone ilike %(q)s
       or r.name ilike %(q)s)
"""
_COLUMNS = """
select c.id, c.resident_id, c.name, c.relation, c.phone, c.language, c.priority, c.has_key,
       c.created_at,
       r.name as resident_name, r.household_id
"""


def _params(
    user: Principal,
    *,
    contact_id: int | None = None,
    resident_id: int | None = None,
    household_id: str | None = None,
    q: str | None = None,
) -> dict[str, object]:
    return {
        "scope": grid_scope(user),
        "id": contact_id,
        "resident": resident_id,
        "household": household_id,
        "q": contains_pattern(q) if q else None,
    }


@router.get("")
def list_contacts(
    *,
    conn: SessionDep,
    user: RegistryReader,
    q: Annotated[str | None, Query(max_length=100, description="name or phone")] = None,
    resident_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    household_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ContactsPublic:
    params = _params(user, resident_id=resident_id, household_id=household_id, q=q)
    total = conn.execute(f"select count(*) {_FROM}".encode(), params).fetchone()
    items = fetch_all(
        conn,
        ContactPublic,
        f"{_COLUMNS} {_FROM} order by r.id, c.priority, c.id limit %(limit)s offset %(offset)s",
        {**params, "limit": limit, "offset": offset},
    )
    return ContactsPublic(total=total[0] if total else 0, items=items)


@router.get("/{contact_id}")
def get_contact(contact_id: BigId, conn: SessionDep, user: RegistryReader) -> ContactPublic:
    found = fetch_one(
        conn, ContactPublic, f"{_COLUMNS} {_FROM}", _params(user, contact_id=contact_id)
    )
    if found is None:
        raise not_found("contact")
    return found


def _check_resident(conn: SessionDep, user: Principal, resident_id: int) -> None:
    """The resident must exist and, for a grid member, live in their grid."""
    row = conn.execute(
        "select b.grid_id from residents r join households h on h.id = r.household_id "
        "join buildings b on b.id = h.building_id where r.id = %s and r.retired_at is null",
        (resident_id,),
    ).fetchone()
    scope = grid_scope(user)
    if row is None or (scope is not None and row[0] != scope):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown resident_id")


@router.post("", status_code=status.HTTP_201_CREATED)
def create_contact(
    body: ContactCreate, conn: SessionDep, user: ContactWriter, audit: AuditDep
) -> ContactPublic:
    _check_resident(conn, user, body.resident_id)
    row = conn.execute(
        "insert into contacts (resident_id, name, relation, phone, language, priority, has_key) "
        "values (%s, %s, %s, %s, %s, %s, %s) returning id",
        (
            body.resident_id,
            body.name,
            body.relation,
            body.phone,
            body.language,
            body.priority,
            body.has_key,
        ),
    ).fetchone()
    assert row is not None
    audit("contact.create", f"contact:{row[0]}", {"resident": body.resident_id})
    return get_contact(row[0], conn, user)


@router.patch("/{contact_id}")
def update_contact(
    contact_id: BigId, body: ContactUpdate, conn: SessionDep, user: ContactWriter, audit: AuditDep
) -> ContactPublic:
    get_contact(contact_id, conn, user)
    fields = body.model_dump(exclude_unset=True)
    for required in ("name", "phone", "language", "priority", "has_key"):
        if required in fields and fields[required] is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{required} cannot be null")
    update_row(conn, table="contacts", key="id", key_value=contact_id, fields=fields)
    audit("contact.update", f"contact:{contact_id}", {"fields": sorted(fields)})
    return get_contact(contact_id, conn, user)


@router.delete("/{contact_id}", status_code=status.HTTP_204_NO_CONTENT)
def retire_contact(
    contact_id: BigId, conn: SessionDep, user: ContactWriter, audit: AuditDep
) -> None:
    get_contact(contact_id, conn, user)
    update_row(conn, table="contacts", key="id", key_value=contact_id, fields={"retired_at": now()})
    audit("contact.retire", f"contact:{contact_id}")
