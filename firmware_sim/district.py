"""A deterministic district: sites, grids, buildings, households and their residents, contacts,
gateways and devices, built from a seed and written to the registry tables.

Gateway i serves building i and everything in it depends only on (seed, i), so a bigger district
with the same seed keeps every gateway of a smaller one: seeding grows the registry, never
rewrites it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

GATEWAYS_PER_SITE = 20
BUILDINGS_PER_GRID = 5
FLATS_PER_FLOOR = 4
REFERENCE_YEAR = 2025  # ages are drawn against a fixed year so the district never changes
ELDERLY_ALONE_SHARE = 0.4
MULTI_SHARE = 0.3  # kitchens with a multi-sensor (smoke, heat, CO) instead of a smoke detector
HEAT_SHARE = 0.25  # households with an extra heat detector
ORIGIN = (30.262, 120.105)  # Xihu district, Hangzhou
SITE_SPACING_DEG = 0.02
GRID_CELL_DEG = 0.004

_COMMUNITIES = (
    ("wenxin", "文新社区", "Wenxin"),
    ("cuiyuan", "翠苑社区", "Cuiyuan"),
    ("gudang", "古荡社区", "Gudang"),
    ("xixi", "西溪社区", "Xixi"),
    ("liuxia", "留下社区", "Liuxia"),
    ("zhuantang", "转塘社区", "Zhuantang"),
    ("lingyin", "灵隐社区", "Lingyin"),
    ("beishan", "北山社区", "Beishan"),
)
_STREETS = ("文三路", "学院路", "古翠路", "教工路", "天目山路", "西溪路", "文一西路", "紫荆花路")
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜"
_OLD_GIVEN = (
    "秀英", "桂英", "玉兰", "建国", "国强", "淑珍", "德明", "志刚", "福生", "凤英",
    "金花", "桂兰", "文华", "永康", "丽华", "海生", "春梅", "明华", "建华", "宝珍",
)  # fmt: skip
_YOUNG_GIVEN = (
    "伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军",
    "杰", "娟", "涛", "明", "超", "霞", "平", "刚", "婷", "浩",
)  # fmt: skip
_MEDICAL = (None, None, "高血压", "糖尿病", "行动不便，使用助行器", "听力较弱", "心脏病史")
_CHILD_RELATIONS = ("儿子", "女儿", "女儿", "儿子", "侄子", "外甥女")
ABBREVIATION = {
    "smoke": "sd",
    "multi": "md",
    "heat": "hd",
    "panic": "pb",
    "pir": "pir",
    "door": "dc",
}


@dataclass(frozen=True)
class Site:
    id: str
    name: str
    name_en: str
    district: str


@dataclass(frozen=True)
class Grid:
    id: str
    site_id: str
    name: str
    name_en: str
    geometry: dict[str, Any]


@dataclass(frozen=True)
class Building:
    id: str
    grid_id: str
    name: str
    address: str
    lat: float
    lon: float
    floors: int


@dataclass(frozen=True)
class Household:
    id: str
    building_id: str
    unit: str
    living_alone: bool


@dataclass(frozen=True)
class Resident:
    household_id: str
    name: str
    birth_year: int
    phone: str
    medical_notes: str | None


@dataclass(frozen=True)
class Contact:
    household_id: str
    resident_name: str
    name: str
    relation: str
    phone: str
    priority: int


@dataclass(frozen=True)
class Gateway:
    id: str
    site_id: str
    building_id: str


@dataclass(frozen=True)
class Device:
    id: str
    type: str
    gateway_id: str
    household_id: str | None
    room: str


@dataclass
class District:
    seed: int
    sites: list[Site] = field(default_factory=list)
    grids: list[Grid] = field(default_factory=list)
    buildings: list[Building] = field(default_factory=list)
    households: list[Household] = field(default_factory=list)
    residents: list[Resident] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    gateways: list[Gateway] = field(default_factory=list)
    devices: list[Device] = field(default_factory=list)

    def devices_of(self, gateway_id: str) -> list[Device]:
        return [d for d in self.devices if d.gateway_id == gateway_id]


def _site(index: int) -> Site:
    slug, zh, en = _COMMUNITIES[index % len(_COMMUNITIES)]
    round_ = index // len(_COMMUNITIES)
    suffix = f"-{round_ + 1}" if round_ else ""
    label = f"{round_ + 1}" if round_ else ""
    return Site(f"{slug}{suffix}", f"{zh}{label}", f"{en} Community {label}".strip(), "西湖区")


def _site_origin(index: int) -> tuple[float, float]:
    row, col = divmod(index, 4)
    return ORIGIN[0] + row * SITE_SPACING_DEG, ORIGIN[1] + col * SITE_SPACING_DEG


def _grid(site: Site, site_index: int, grid_no: int) -> Grid:
    lat0, lon0 = _site_origin(site_index)
    row, col = divmod(grid_no - 1, 2)
    south, west = lat0 + row * GRID_CELL_DEG, lon0 + col * GRID_CELL_DEG
    ring = [
        [west, south],
        [west + GRID_CELL_DEG, south],
        [west + GRID_CELL_DEG, south + GRID_CELL_DEG],
        [west, south + GRID_CELL_DEG],
        [west, south],
    ]
    return Grid(
        f"{site.id}-g{grid_no:02d}",
        site.id,
        f"{site.name}第{grid_no}网格",
        f"{site.name_en}, grid {grid_no}",
        {"type": "Polygon", "coordinates": [ring]},
    )


def _person(rng: random.Random, surname: str, given: tuple[str, ...], taken: set[str]) -> str:
    while True:
        name = surname + rng.choice(given)
        if name not in taken:
            taken.add(name)
            return name


def _phone(rng: random.Random) -> str:
    return f"+861{rng.choice('358')}{rng.randrange(10**9):09d}"


class _GatewayBuilder:
    """Fills one gateway (one building) with households until it has its devices."""

    def __init__(self, district: District, seed: int, index: int, devices: int) -> None:
        self.d = district
        # Python's Random: fast per draw, and its string seeding is stable across versions.
        self.rng = random.Random(f"vigil-district-{seed}-{index}")  # noqa: S311 (not secrets)
        self.index = index
        self.capacity = devices
        self.gateway_id = f"gw-{index:04d}"
        self.devices: list[Device] = []

    def _device(self, type_name: str, household: str | None, room: str) -> None:
        k = len(self.devices) + 1
        dev_id = f"{self.gateway_id}-{k:03d}-{ABBREVIATION[type_name]}"
        self.devices.append(Device(dev_id, type_name, self.gateway_id, household, room))

    def _household_devices(self, alone: bool) -> list[tuple[str, str]]:
        kitchen = "multi" if self.rng.random() < MULTI_SHARE else "smoke"
        kit = [(kitchen, "kitchen"), ("panic", "bedroom")]
        if alone:
            kit += [("pir", "living_room"), ("door", "entrance")]
        if self.rng.random() < HEAT_SHARE:
            kit.append(("heat", "living_room"))
        return kit

    def _people(self, household: str, alone: bool) -> None:
        rng = self.rng
        surname = rng.choice(_SURNAMES)
        taken: set[str] = set()
        count = 1 if alone else rng.randint(2, 4)
        elder = ""
        for k in range(count):
            old = alone or k < 2
            name = _person(rng, surname if k != 1 else rng.choice(_SURNAMES),
                           _OLD_GIVEN if old else _YOUNG_GIVEN, taken)  # fmt: skip
            age = rng.randint(70, 95) if old else rng.randint(8, 49)
            notes = rng.choice(_MEDICAL) if old else None
            self.d.residents.append(
                Resident(household, name, REFERENCE_YEAR - age, _phone(rng), notes)
            )
            elder = elder or name
        for priority in range(1, rng.randint(1, 3) + 1):
            child = _person(rng, surname, _YOUNG_GIVEN, taken)
            relation = rng.choice(_CHILD_RELATIONS)
            self.d.contacts.append(
                Contact(household, elder, child, relation, _phone(rng), priority)
            )

    def build(self, site: Site, grid: Grid, street: str) -> None:
        rng = self.rng
        floors = rng.randint(5, 18)
        (west, south), _, (east, north) = grid.geometry["coordinates"][0][:3]
        building_id = f"b-{self.index:04d}"
        self.d.buildings.append(
            Building(
                building_id,
                grid.id,
                f"{site.name}{self.index}幢",
                f"浙江省杭州市西湖区{street}{rng.randint(1, 299)}号{self.index}幢",
                round(rng.uniform(south, north), 6),
                round(rng.uniform(west, east), 6),
                floors,
            )
        )
        self.d.gateways.append(Gateway(self.gateway_id, site.id, building_id))
        flat = 0
        while True:
            alone = rng.random() < ELDERLY_ALONE_SHARE
            kit = self._household_devices(alone)
            if len(self.devices) + len(kit) > self.capacity:
                break
            entrance, rest = divmod(flat, floors * FLATS_PER_FLOOR)
            floor, door = divmod(rest, FLATS_PER_FLOOR)
            household = f"h-{self.index:04d}-{flat + 1:03d}"
            unit = f"{entrance + 1}单元{floor + 1}{door + 1:02d}"
            self.d.households.append(Household(household, building_id, unit, alone))
            self._people(household, alone)
            for type_name, room in kit:
                self._device(type_name, household, room)
            flat += 1
        # Slots no household fills hold heat detectors on the common stairs.
        while len(self.devices) < self.capacity:
            self._device("heat", None, f"stairwell-{len(self.devices) % floors + 1}F")
        self.d.devices.extend(self.devices)


def build_district(seed: int, gateways: int, devices_per_gateway: int) -> District:
    """The district of `gateways` buildings, each with one gateway and its devices."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if gateways < 1 or devices_per_gateway < 1:
        raise ValueError("a district needs at least one gateway with at least one device")
    if gateways > 9999:
        raise ValueError(f"at most 9999 gateways, got {gateways}")
    district = District(seed)
    for site_index in range(math.ceil(gateways / GATEWAYS_PER_SITE)):
        district.sites.append(_site(site_index))
    for i in range(1, gateways + 1):
        site_index, in_site = divmod(i - 1, GATEWAYS_PER_SITE)
        site = district.sites[site_index]
        grid_no = in_site // BUILDINGS_PER_GRID + 1
        grid = _grid(site, site_index, grid_no)
        if in_site % BUILDINGS_PER_GRID == 0:
            district.grids.append(grid)
        street = _STREETS[(site_index + grid_no) % len(_STREETS)]
        _GatewayBuilder(district, seed, i, devices_per_gateway).build(site, grid, street)
    return district


# ---------------------------------------------------------------- the registry tables

_KEYED: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sites", ("id", "name", "name_en", "district")),
    ("grids", ("id", "site_id", "name", "name_en", "geometry")),
    ("buildings", ("id", "grid_id", "name", "address", "lat", "lon", "floors")),
    ("households", ("id", "building_id", "unit", "living_alone")),
    ("gateways", ("id", "site_id", "building_id", "mqtt_username")),
    ("devices", ("id", "device_type", "gateway_id", "household_id", "room")),
)


def _rows(district: District, table: str) -> list[tuple[Any, ...]]:
    if table == "sites":
        return [(s.id, s.name, s.name_en, s.district) for s in district.sites]
    if table == "grids":
        return [(g.id, g.site_id, g.name, g.name_en, g.geometry) for g in district.grids]
    if table == "buildings":
        return [
            (b.id, b.grid_id, b.name, b.address, b.lat, b.lon, b.floors) for b in district.buildings
        ]
    if table == "households":
        return [(h.id, h.building_id, h.unit, h.living_alone) for h in district.households]
    if table == "gateways":
        return [(g.id, g.site_id, g.building_id, g.id) for g in district.gateways]
    return [(d.id, d.type, d.gateway_id, d.household_id, d.room) for d in district.devices]


def _copy_in(cur: psycopg.Cursor[Any], temp: str, like: str, cols: tuple[str, ...],
             rows: list[tuple[Any, ...]]) -> None:  # fmt: skip
    cur.execute(f"create temp table {temp} on commit drop as select {', '.join(cols)} "  # noqa: S608
                f"from {like} limit 0")  # fmt: skip
    with cur.copy(f"copy {temp} ({', '.join(cols)}) from stdin") as copy:
        for row in rows:
            copy.write_row(row)


def seed(conn: psycopg.Connection[Any], district: District) -> dict[str, int]:
    """Write the district into the registry; rows already there are left alone, so seeding
    twice changes nothing. Returns how many rows each table gained."""
    added: dict[str, int] = {}
    with conn.transaction(), conn.cursor() as cur:
        for table, cols in _KEYED:
            rows = _rows(district, table)
            if table == "grids":
                rows = [(*r[:4], Jsonb(r[4])) for r in rows]
            _copy_in(cur, f"_seed_{table}", table, cols, rows)
            cur.execute(
                f"insert into {table} ({', '.join(cols)}) "  # noqa: S608
                f"select {', '.join(cols)} from _seed_{table} on conflict (id) do nothing"
            )
            added[table] = cur.rowcount
        _copy_in(cur, "_seed_residents", "residents",
                 ("household_id", "name", "birth_year", "phone", "medical_notes"),
                 [(r.household_id, r.name, r.birth_year, r.phone, r.medical_notes)
                  for r in district.residents])  # fmt: skip
        cur.execute(
            "insert into residents (household_id, name, birth_year, phone, medical_notes) "
            "select s.household_id, s.name, s.birth_year, s.phone, s.medical_notes "
            "from _seed_residents s where not exists (select 1 from residents r "
            "where r.household_id = s.household_id and r.name = s.name)"
        )
        added["residents"] = cur.rowcount
        cur.execute(
            "create temp table _seed_contacts (household_id text, resident_name text, "
            "name text, relation text, phone text, priority smallint) on commit drop"
        )
        with cur.copy("copy _seed_contacts from stdin") as copy:
            for c in district.contacts:
                copy.write_row(
                    (c.household_id, c.resident_name, c.name, c.relation, c.phone, c.priority)
                )
        cur.execute(
            "insert into contacts (resident_id, name, relation, phone, priority) "
            "select r.id, s.name, s.relation, s.phone, s.priority from _seed_contacts s "
            "join residents r on r.household_id = s.household_id and r.name = s.resident_name "
            "where not exists (select 1 from contacts c where c.resident_id = r.id "
            "and c.name = s.name and c.phone = s.phone)"
        )
        added["contacts"] = cur.rowcount
        # Imported here: district_map imports this module.
        from firmware_sim.district_map import seed_map

        seed_map(cur, district)
    return added
