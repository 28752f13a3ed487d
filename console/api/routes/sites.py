"""Sites (街道): the top of the registry and the first level of every topic."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from console.api.deps import AuditDep, GridWriter, RegistryReader, SessionDep, not_found, now
from console.api.models.common import Key
from console.api.models.provisioning import SiteCreate, SitePublic, SiteUpdate
from console.api.sqlutil import fetch_all, fetch_one, update_row

router = APIRouter(prefix="/sites", tags=["sites"])

_SELECT = """
select s.id, s.name, s.name_en, s.district, s.created_at,
       (select count(*) from grids g where g.site_id = s.id and g.retired_at is null) as grids,
       (select count(*) from gateways w where w.site_id = s.id and w.retired_at is null)
         as gateways
from sites s
where s.retired_at is null and (%(id)s::text is null or s.id = %(id)s)
"""


@router.get("")
def list_sites(conn: SessionDep, user: RegistryReader) -> list[SitePublic]:
    return fetch_all(conn, SitePublic, f"{_SELECT} order by s.id", {"id": None})


@router.get("/{site_id}")
def get_site(site_id: Key, conn: SessionDep, user: RegistryReader) -> SitePublic:
    found = fetch_one(conn, SitePublic, _SELECT, {"id": site_id})
    if found is None:
        raise not_found("site")
    return found


@router.post("", status_code=status.HTTP_201_CREATED)
def create_site(
    body: SiteCreate, conn: SessionDep, user: GridWriter, audit: AuditDep
) -> SitePublic:
    """A site id is also a topic level, so it is short, lower-case and never reused."""
    if conn.execute("select 1 from sites where id = %s", (body.id,)).fetchone():
        raise HTTPException(status.HTTP_409_CONFLICT, "a site with this id exists (or existed)")
    conn.execute(
        "insert into sites (id, name, name_en, district) values (%s, %s, %s, %s)",
        (body.id, body.name, body.name_en, body.district),
    )
    audit("site.create", f"site:{body.id}")
    return get_site(body.id, conn, user)


@router.patch("/{site_id}")
def update_site(
    site_id: Key, body: SiteUpdate, conn: SessionDep, user: GridWriter, audit: AuditDep
) -> SitePublic:
    get_site(site_id, conn, user)
    fields = body.model_dump(exclude_unset=True)
    if "name" in fields and fields["name"] is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "name cannot be null")
    update_row(conn, table="sites", key="id", key_value=site_id, fields=fields)
    audit("site.update", f"site:{site_id}", {"fields": sorted(fields)})
    return get_site(site_id, conn, user)


@router.delete("/{site_id}", status_code=status.HTTP_204_NO_CONTENT)
def retire_site(site_id: Key, conn: SessionDep, user: GridWriter, audit: AuditDep) -> None:
    """Retire (keep the history, stop listing); refused while grids or gateways remain."""
    site = get_site(site_id, conn, user)
    if site.grids or site.gateways:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{site.grids} grids and {site.gateways} gateways remain: retire them first",
        )
    update_row(conn, table="sites", key="id", key_value=site_id, fields={"retired_at": now()})
    audit("site.retire", f"site:{site_id}")
