"""The simulated district's own map and the details a panic press needs: streets along its grid
blocks (named as the buildings' addresses name them), a footprint per building, who of the
family holds a key, and how each elder moves. Written with the registry (`district.seed`) into
the columns of migration 0019, only where they are still empty."""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from firmware_sim.district import (
    _STREETS,
    BUILDINGS_PER_GRID,
    GATEWAYS_PER_SITE,
    GRID_CELL_DEG,
    District,
    _site_origin,
)

# A residential slab: about 40 m by 14 m at Hangzhou's latitude.
FOOTPRINT_DEG = (0.00013, 0.0004)
MOBILITY = ("independent", "independent", "walking_aid", "wheelchair", "bedridden")


def streets(district: District) -> dict[str, dict[str, Any]]:
    """Per site, a GeoJSON FeatureCollection of named street lines along its grid blocks."""
    out: dict[str, dict[str, Any]] = {}
    grids_per_site = -(-GATEWAYS_PER_SITE // BUILDINGS_PER_GRID)
    for index, site in enumerate(district.sites):
        lat0, lon0 = _site_origin(index)
        rows = -(-grids_per_site // 2)
        features = []
        for row in range(rows + 1):
            for col in range(2):
                grid_no = row * 2 + col + 1
                name = _STREETS[(index + grid_no) % len(_STREETS)]
                lat = lat0 + row * GRID_CELL_DEG
                west = lon0 + col * GRID_CELL_DEG
                features.append(_line(name, [[west, lat], [west + GRID_CELL_DEG, lat]]))
        for col in range(3):
            name = _STREETS[(index + 5 + col) % len(_STREETS)]
            lon = lon0 + col * GRID_CELL_DEG
            features.append(_line(name, [[lon, lat0], [lon, lat0 + rows * GRID_CELL_DEG]]))
        out[site.id] = {"type": "FeatureCollection", "features": features}
    return out


def _line(name: str, coords: list[list[float]]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"name": name},
        "geometry": {"type": "LineString", "coordinates": coords},
    }


def footprint(lat: float, lon: float) -> dict[str, Any]:
    dlat, dlon = FOOTPRINT_DEG[0] / 2, FOOTPRINT_DEG[1] / 2
    ring = [
        [lon - dlon, lat - dlat],
        [lon + dlon, lat - dlat],
        [lon + dlon, lat + dlat],
        [lon - dlon, lat + dlat],
        [lon - dlon, lat - dlat],
    ]
    return {"type": "Polygon", "coordinates": [[[round(x, 7), round(y, 7)] for x, y in ring]]}


def _pick(key: str, choices: tuple[str, ...]) -> str:
    digest = hashlib.sha256(key.encode()).digest()
    return choices[digest[0] % len(choices)]


def seed_map(cur: psycopg.Cursor[Any], district: District) -> None:
    """Streets, footprints, key holders and mobility, where the registry has none yet."""
    for site_id, collection in streets(district).items():
        cur.execute(
            "update sites set streets = %s where id = %s and streets is null",
            (Jsonb(collection), site_id),
        )
    cur.executemany(
        "update buildings set footprint = %s where id = %s and footprint is null",
        [(Jsonb(footprint(b.lat, b.lon)), b.id) for b in district.buildings],
    )
    # The first contact of each household's elder holds a key.
    cur.execute(
        "update contacts c set has_key = true where c.priority = 1 and not exists "
        "(select 1 from contacts o join residents ro on ro.id = o.resident_id "
        " join residents rc on rc.id = c.resident_id "
        " where ro.household_id = rc.household_id and o.has_key)"
    )
    cur.executemany(
        "update residents set mobility = %s where household_id = %s and name = %s "
        "and mobility is null and birth_year is not null",
        [
            (_pick(f"{r.household_id}/{r.name}", MOBILITY), r.household_id, r.name)
            for r in district.residents
            if r.medical_notes is not None
        ],
    )
