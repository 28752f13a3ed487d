"""`vigil site|grid|building|household|resident ...`: the registry through the console API.

Each kind has `add`, `list`, `show`, `update` and `retire`. Retiring keeps the history and
stops the listing; the API refuses to retire a parent that still has active children.
"""

from __future__ import annotations

from typing import Annotated

import typer

from vigil.provisioning.output import (
    JsonOpt,
    done,
    fail,
    fields,
    show_list,
    show_one,
    signed_in,
)

site_app = typer.Typer(help="Sites (街道): the top of the registry.", no_args_is_help=True)
grid_app = typer.Typer(help="Grids (网格) of a site.", no_args_is_help=True)
building_app = typer.Typer(help="Buildings of a grid.", no_args_is_help=True)
household_app = typer.Typer(help="Households (flats) of a building.", no_args_is_help=True)
resident_app = typer.Typer(help="Residents and their emergency contacts.", no_args_is_help=True)

Name = Annotated[str | None, typer.Option(help="name (Chinese first)")]
NameEn = Annotated[str | None, typer.Option(help="English name")]
Language = Annotated[str | None, typer.Option(help="zh or en: the language of SMS to them")]
Phone = Annotated[str | None, typer.Option(help="phone number, digits with an optional +")]
CONTACT_HELP = "emergency contact NAME:PHONE[:LANGUAGE[:RELATION]]; repeat it, first called first"


# ---------------------------------------------------------------- sites
@site_app.command("add")
def site_add(
    site_id: Annotated[str, typer.Argument(help="lower-case id, also a topic level")],
    name: Annotated[str, typer.Option(help="name")],
    name_en: NameEn = None,
    district: Annotated[str | None, typer.Option(help="district")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a site."""
    with signed_in() as api:
        site = api.post("/api/sites", {"id": site_id, "name": name} | fields(
            name_en=name_en, district=district))  # fmt: skip
    done(f"site {site_id} registered", site, as_json)


@site_app.command("list")
def site_list(as_json: JsonOpt = False) -> None:
    with signed_in() as api:
        sites = api.get("/api/sites")
    show_list(sites, ("id", "name", "name_en", "district", "grids", "gateways"), as_json)


@site_app.command("show")
def site_show(site_id: str, as_json: JsonOpt = False) -> None:
    with signed_in() as api:
        show_one(api.get(f"/api/sites/{site_id}"), as_json)


@site_app.command("update")
def site_update(
    site_id: str,
    name: Name = None,
    name_en: NameEn = None,
    district: Annotated[str | None, typer.Option(help="district")] = None,
    as_json: JsonOpt = False,
) -> None:
    changes = fields(name=name, name_en=name_en, district=district)
    if not changes:
        raise fail("nothing to change: give at least one option")
    with signed_in() as api:
        site = api.patch(f"/api/sites/{site_id}", changes)
    done(f"site {site_id} updated", site, as_json)


@site_app.command("retire")
def site_retire(site_id: str, as_json: JsonOpt = False) -> None:
    with signed_in() as api:
        api.delete(f"/api/sites/{site_id}")
    done(f"site {site_id} retired", {"id": site_id, "retired": True}, as_json)


# ---------------------------------------------------------------- grids
@grid_app.command("add")
def grid_add(
    grid_id: str,
    site: Annotated[str, typer.Option(help="the site it belongs to")],
    name: Annotated[str, typer.Option(help="name")],
    name_en: NameEn = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a grid (its map outline is drawn in the console)."""
    with signed_in() as api:
        grid = api.post(
            "/api/grids", {"id": grid_id, "site_id": site, "name": name} | fields(name_en=name_en)
        )
    done(f"grid {grid_id} registered in site {site}", grid, as_json)


@grid_app.command("list")
def grid_list(as_json: JsonOpt = False) -> None:
    with signed_in() as api:
        grids = api.get("/api/grids")
    show_list(grids, ("id", "site_id", "name", "name_en", "households"), as_json)


@grid_app.command("show")
def grid_show(grid_id: str, as_json: JsonOpt = False) -> None:
    with signed_in() as api:
        show_one(api.get(f"/api/grids/{grid_id}"), as_json)


@grid_app.command("update")
def grid_update(
    grid_id: str, name: Name = None, name_en: NameEn = None, as_json: JsonOpt = False
) -> None:
    changes = fields(name=name, name_en=name_en)
    if not changes:
        raise fail("nothing to change: give at least one option")
    with signed_in() as api:
        grid = api.patch(f"/api/grids/{grid_id}", changes)
    done(f"grid {grid_id} updated", grid, as_json)


@grid_app.command("retire")
def grid_retire(grid_id: str, as_json: JsonOpt = False) -> None:
    with signed_in() as api:
        api.delete(f"/api/grids/{grid_id}")
    done(f"grid {grid_id} retired", {"id": grid_id, "retired": True}, as_json)


# ---------------------------------------------------------------- buildings
Lat = Annotated[float | None, typer.Option(min=-90, max=90, help="latitude")]
Lon = Annotated[float | None, typer.Option(min=-180, max=180, help="longitude")]
Floors = Annotated[int | None, typer.Option(min=1, max=200, help="number of floors")]


@building_app.command("add")
def building_add(  # noqa: PLR0917 - typer reads the options from the signature
    building_id: str,
    grid: Annotated[str, typer.Option(help="the grid it stands in")],
    name: Annotated[str, typer.Option(help="name, e.g. 3号楼")],
    address: Annotated[str, typer.Option(help="street address")],
    lat: Lat = None,
    lon: Lon = None,
    floors: Floors = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a building."""
    body = {"id": building_id, "name": name, "address": address} | fields(
        lat=lat, lon=lon, floors=floors
    )
    with signed_in() as api:
        building = api.post(f"/api/grids/{grid}/buildings", body)
    done(f"building {building_id} registered in grid {grid}", building, as_json)


@building_app.command("list")
def building_list(
    grid: Annotated[str | None, typer.Option(help="only this grid's")] = None,
    as_json: JsonOpt = False,
) -> None:
    with signed_in() as api:
        buildings = api.get("/api/buildings", grid_id=grid)
    show_list(buildings, ("id", "grid_id", "name", "address", "households", "gateways"), as_json)


@building_app.command("show")
def building_show(building_id: str, as_json: JsonOpt = False) -> None:
    with signed_in() as api:
        show_one(api.get(f"/api/buildings/{building_id}"), as_json)


@building_app.command("update")
def building_update(  # noqa: PLR0917 - typer reads the options from the signature
    building_id: str,
    name: Name = None,
    address: Annotated[str | None, typer.Option(help="street address")] = None,
    lat: Lat = None,
    lon: Lon = None,
    floors: Floors = None,
    as_json: JsonOpt = False,
) -> None:
    changes = fields(name=name, address=address, lat=lat, lon=lon, floors=floors)
    if not changes:
        raise fail("nothing to change: give at least one option")
    with signed_in() as api:
        building = api.patch(f"/api/buildings/{building_id}", changes)
    done(f"building {building_id} updated", building, as_json)


@building_app.command("retire")
def building_retire(building_id: str, as_json: JsonOpt = False) -> None:
    with signed_in() as api:
        api.delete(f"/api/buildings/{building_id}")
    done(f"building {building_id} retired", {"id": building_id, "retired": True}, as_json)


# ---------------------------------------------------------------- households
@household_app.command("add")
def household_add(
    household_id: str,
    building: Annotated[str, typer.Option(help="the building it is in")],
    unit: Annotated[str, typer.Option(help="flat number, e.g. 3-201")],
    living_alone: Annotated[bool, typer.Option(help="an elderly person living alone")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Register a household."""
    body = {"id": household_id, "building_id": building, "unit": unit,
            "living_alone": living_alone}  # fmt: skip
    with signed_in() as api:
        household = api.post("/api/households", body)
    done(f"household {household_id} registered in building {building}", household, as_json)


@household_app.command("list")
def household_list(
    grid: Annotated[str | None, typer.Option(help="only this grid's")] = None,
    search: Annotated[str | None, typer.Option(help="resident, address or unit")] = None,
    as_json: JsonOpt = False,
) -> None:
    with signed_in() as api:
        page = api.get("/api/households", grid_id=grid, q=search)
    show_list(
        page["items"],
        ("id", "building_id", "unit", "address", "living_alone", "residents"),
        as_json,
    )


@household_app.command("show")
def household_show(household_id: str, as_json: JsonOpt = False) -> None:
    with signed_in() as api:
        show_one(api.get(f"/api/households/{household_id}"), as_json)


@household_app.command("update")
def household_update(
    household_id: str,
    building: Annotated[str | None, typer.Option(help="moved to this building")] = None,
    unit: Annotated[str | None, typer.Option(help="flat number")] = None,
    living_alone: Annotated[bool | None, typer.Option(help="living alone")] = None,
    as_json: JsonOpt = False,
) -> None:
    changes = fields(building_id=building, unit=unit, living_alone=living_alone)
    if not changes:
        raise fail("nothing to change: give at least one option")
    with signed_in() as api:
        household = api.patch(f"/api/households/{household_id}", changes)
    done(f"household {household_id} updated", household, as_json)


@household_app.command("retire")
def household_retire(household_id: str, as_json: JsonOpt = False) -> None:
    with signed_in() as api:
        api.delete(f"/api/households/{household_id}")
    done(f"household {household_id} retired", {"id": household_id, "retired": True}, as_json)


# ---------------------------------------------------------------- residents
def parse_contact(spec: str) -> dict[str, str]:
    """`NAME:PHONE[:LANGUAGE[:RELATION]]`, e.g. `李强:13800000000:zh:儿子`."""
    parts = [p.strip() for p in spec.split(":")]
    if len(parts) < 2 or not parts[0] or not parts[1] or len(parts) > 4:
        raise fail(f"--contact {spec!r}: want NAME:PHONE[:LANGUAGE[:RELATION]]")
    contact = {"name": parts[0], "phone": parts[1]}
    if len(parts) > 2 and parts[2]:
        contact["language"] = parts[2]
    if len(parts) > 3 and parts[3]:
        contact["relation"] = parts[3]
    return contact


@resident_app.command("add")
def resident_add(  # noqa: PLR0917 - typer reads the options from the signature
    household: Annotated[str, typer.Option(help="the household they live in")],
    name: Annotated[str, typer.Option(help="full name")],
    birth_year: Annotated[int | None, typer.Option(min=1900, max=2100)] = None,
    phone: Phone = None,
    language: Language = None,
    contact: Annotated[
        list[str] | None,
        typer.Option(help=CONTACT_HELP),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a resident with their emergency contacts, all or nothing."""
    contacts = [parse_contact(c) for c in contact or []]
    year = str(birth_year) if birth_year else None
    resident = {"kind": "resident", "household": household, "name": name}
    rows = [resident | fields(birth_year=year, phone=phone, language=language)]
    rows += [
        {"kind": "contact", "household": household, "resident": name, "priority": str(i)} | c
        for i, c in enumerate(contacts, start=1)
    ]
    with signed_in() as api:
        api.post("/api/import", {"rows": [{"row": i, "cells": r} for i, r in enumerate(rows, 1)]})
        page = api.get("/api/residents", household_id=household)
    created = next((r for r in page["items"] if r["name"] == name), {"name": name})
    done(
        f"resident {name} registered in {household} (id {created.get('id')}), "
        f"{len(contacts)} emergency contacts",
        created,
        as_json,
    )


@resident_app.command("list")
def resident_list(
    household: Annotated[str | None, typer.Option(help="only this household's")] = None,
    search: Annotated[str | None, typer.Option(help="name, phone or address")] = None,
    as_json: JsonOpt = False,
) -> None:
    with signed_in() as api:
        page = api.get("/api/residents", household_id=household, q=search)
    show_list(page["items"], ("id", "household_id", "name", "age", "phone", "language"), as_json)


@resident_app.command("show")
def resident_show(resident_id: int, as_json: JsonOpt = False) -> None:
    """The resident and their emergency contacts (medical notes only for roles that may)."""
    with signed_in() as api:
        resident = api.get(f"/api/residents/{resident_id}")
        contacts = api.get("/api/contacts", resident_id=resident_id)["items"]
    if as_json:
        show_one(resident | {"contacts": contacts}, True)
        return
    show_one(resident, False)
    show_list(contacts, ("id", "priority", "name", "relation", "phone", "language"), False)


@resident_app.command("update")
def resident_update(  # noqa: PLR0917 - typer reads the options from the signature
    resident_id: int,
    name: Name = None,
    birth_year: Annotated[int | None, typer.Option(min=1900, max=2100)] = None,
    phone: Phone = None,
    language: Language = None,
    as_json: JsonOpt = False,
) -> None:
    changes = fields(name=name, birth_year=birth_year, phone=phone, language=language)
    if not changes:
        raise fail("nothing to change: give at least one option")
    with signed_in() as api:
        resident = api.patch(f"/api/residents/{resident_id}", changes)
    done(f"resident {resident_id} updated", resident, as_json)


@resident_app.command("retire")
def resident_retire(resident_id: int, as_json: JsonOpt = False) -> None:
    with signed_in() as api:
        api.delete(f"/api/residents/{resident_id}")
    done(f"resident {resident_id} retired", {"id": resident_id, "retired": True}, as_json)


@resident_app.command("add-contact")
def resident_add_contact(
    resident_id: int,
    contact: Annotated[str, typer.Argument(help="NAME:PHONE[:LANGUAGE[:RELATION]]")],
    priority: Annotated[int, typer.Option(min=1, max=9, help="1 is called first")] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Add one emergency contact to a resident."""
    body = {"resident_id": resident_id, "priority": priority} | parse_contact(contact)
    with signed_in() as api:
        created = api.post("/api/contacts", body)
    done(f"contact {created['id']} added to resident {resident_id}", created, as_json)


@resident_app.command("retire-contact")
def resident_retire_contact(contact_id: int, as_json: JsonOpt = False) -> None:
    with signed_in() as api:
        api.delete(f"/api/contacts/{contact_id}")
    done(f"contact {contact_id} retired", {"id": contact_id, "retired": True}, as_json)
