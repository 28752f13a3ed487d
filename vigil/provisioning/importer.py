"""Bulk installation from a CSV file: every row checked first, every error reported with its row
number, and a plan to insert all rows in dependency order — or nothing.

One file holds rows of several kinds (`kind` column); a row may refer to things registered
before or to rows of the same file, in any order. Pure: the registry as it is comes in as a
`Registry` snapshot; the console API loads it and runs the plan in one transaction.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from vigil.provisioning.zigbee import DEFAULT_SUPERVISION_S, IEEE_PATTERN, ieee_of
from vigil.provisioning.zigbee import SOURCE as ZIGBEE
from vigil.provisioning.zigbee import device_id as zigbee_id
from vigil.topics import GATEWAY_ID_PATTERN, SITE_PATTERN

KINDS = ("site", "grid", "building", "household", "resident", "contact", "gateway", "device")
MAX_ROWS = 100_000

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Id = Annotated[str, StringConstraints(pattern=_ID)]
SiteId = Annotated[str, StringConstraints(pattern=f"^{SITE_PATTERN.pattern}$")]
WireId = Annotated[str, StringConstraints(pattern=f"^{GATEWAY_ID_PATTERN.pattern}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9]{5,20}$")]
Language = Literal["zh", "en"]


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SiteRow(_Row):
    id: SiteId
    name: Text
    name_en: Text | None = None
    district: Text | None = None


class GridRow(_Row):
    id: Id
    site: SiteId
    name: Text
    name_en: Text | None = None


class BuildingRow(_Row):
    id: Id
    grid: Id
    name: Text
    address: Text
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    floors: int | None = Field(default=None, ge=1, le=200)


class HouseholdRow(_Row):
    id: Id
    building: Id
    unit: Text
    living_alone: bool = False


class ResidentRow(_Row):
    household: Id
    name: Text
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    phone: Phone | None = None
    language: Language = "zh"


class ContactRow(_Row):
    household: Id
    resident: Text
    name: Text
    phone: Phone
    relation: Text | None = None
    language: Language = "zh"
    priority: int = Field(default=1, ge=1, le=9)


class GatewayRow(_Row):
    id: WireId
    site: SiteId
    building: Id | None = None


class DeviceRow(_Row):
    """A device; one from a foreign source may give its source id (`ieee` for zigbee2mqtt)
    instead of `id`, which is then derived from it (vigil/provisioning/zigbee.py)."""

    id: WireId
    type: Id
    gateway: WireId
    household: Id | None = None
    room: Text | None = None
    source: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")] = "vigil"
    ieee: Annotated[str, StringConstraints(pattern=IEEE_PATTERN.pattern)] | None = None
    model: Text | None = None
    supervision_s: float | None = Field(default=None, gt=0, le=30 * 86400)

    @model_validator(mode="before")
    @classmethod
    def _zigbee_id(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        ieee = values.get("ieee")
        if isinstance(ieee, str) and IEEE_PATTERN.match(ieee.strip()) and not values.get("id"):
            values = {**values, "id": zigbee_id(ieee)}
            values.setdefault("source", ZIGBEE)
        if values.get("source") == ZIGBEE and not values.get("supervision_s"):
            values = {**values, "supervision_s": DEFAULT_SUPERVISION_S}
        return values

    @property
    def external_id(self) -> str | None:
        return ieee_of(self.ieee) if self.ieee else None


MODELS: dict[str, type[_Row]] = {
    "site": SiteRow,
    "grid": GridRow,
    "building": BuildingRow,
    "household": HouseholdRow,
    "resident": ResidentRow,
    "contact": ContactRow,
    "gateway": GatewayRow,
    "device": DeviceRow,
}
COLUMNS: tuple[str, ...] = (
    "kind",
    *dict.fromkeys(name for model in MODELS.values() for name in model.model_fields),
)


@dataclass(frozen=True)
class RowError:
    row: int  # the file's line number (the header is line 1)
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Registry:
    """What is registered already. `*_all` include retired rows (their ids stay taken);
    the maps hold active rows only, with the parent each one hangs from."""

    sites: frozenset[str] = frozenset()
    sites_all: frozenset[str] = frozenset()
    grids: dict[str, str] = field(default_factory=dict)  # grid -> site
    grids_all: frozenset[str] = frozenset()
    buildings: dict[str, str] = field(default_factory=dict)  # building -> grid
    buildings_all: frozenset[str] = frozenset()
    households: dict[str, str] = field(default_factory=dict)  # household -> building
    households_all: frozenset[str] = frozenset()
    residents: frozenset[tuple[str, str]] = frozenset()  # (household, name)
    gateways: dict[str, str] = field(default_factory=dict)  # usable gateway -> site
    gateways_all: frozenset[str] = frozenset()  # ids and broker user names
    devices_all: frozenset[str] = frozenset()
    device_types: frozenset[str] = frozenset()


@dataclass
class Plan:
    """Validated rows by kind, in the order they must be inserted."""

    rows: dict[str, list[tuple[int, Any]]] = field(default_factory=lambda: {k: [] for k in KINDS})
    # Ids (residents: household/name) of rows that failed their own checks: a reference to one
    # is not reported again as missing.
    broken: set[tuple[str, str]] = field(default_factory=set)

    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.rows.items() if v}

    def of(self, kind: str) -> list[Any]:
        return [model for _, model in self.rows[kind]]


class ImportRejected(Exception):  # noqa: N818 - it is the outcome, not a fault of the code
    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} errors")
        self.errors = errors


def read_csv(text: str) -> list[tuple[int, dict[str, str]]]:
    """Rows as (line number, non-empty cells); the header is checked here."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    errors = []
    if "kind" not in header:
        errors.append(RowError(1, None, "the header has no `kind` column"))
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        known = ", ".join(COLUMNS)
        errors.append(RowError(1, None, f"unknown columns {', '.join(unknown)}; known: {known}"))
    duplicated = [c for c, n in Counter(header).items() if n > 1]
    if duplicated:
        errors.append(RowError(1, None, f"columns named twice: {', '.join(duplicated)}"))
    if errors:
        raise ImportRejected(errors)
    rows = []
    for record in reader:
        # The reader skips blank lines; a quoted cell may span lines: count back from the end.
        inner = sum(v.count("\n") for v in record.values() if isinstance(v, str))
        start = reader.line_num - inner
        if None in record:
            errors.append(RowError(start, None, "more cells than the header has columns"))
            continue
        cells = {k: v for k, v in record.items() if v is not None and v.strip() != ""}
        if cells:
            rows.append((start, cells))
        if len(rows) > MAX_ROWS:
            raise ImportRejected([RowError(start, None, f"more than {MAX_ROWS} rows")])
    if errors:
        raise ImportRejected(errors)
    return rows


def parse_rows(rows: list[tuple[int, dict[str, str]]]) -> tuple[Plan, list[RowError]]:
    """Each row on its own: its kind, its columns, each value's type and range."""
    plan, errors = Plan(), []
    for line, cells in rows:
        kind = cells.get("kind", "").strip().lower()
        model = MODELS.get(kind)
        if model is None:
            errors.append(RowError(line, "kind", f"want one of {', '.join(KINDS)}, not {kind!r}"))
            continue
        values = {k: v for k, v in cells.items() if k != "kind"}
        try:
            plan.rows[kind].append((line, model.model_validate(values)))
        except ValidationError as exc:
            key = values.get("id") or f"{values.get('household')}/{values.get('name')}"
            plan.broken.add((kind, key.strip()))
            for e in exc.errors():
                column = str(e["loc"][0]) if e["loc"] else None
                message = (
                    f"does not apply to a {kind} row"
                    if e["type"] == "extra_forbidden"
                    else e["msg"]
                )
                errors.append(RowError(line, column, message))
    return plan, errors


class _Checker:
    """The cross-row checks, one method per kind; `errors` collects what they find."""

    def __init__(self, plan: Plan, reg: Registry) -> None:
        self.plan, self.reg = plan, reg
        self.errors: list[RowError] = []
        self.sites = set(reg.sites) | {r.id for r in plan.of("site")}
        self.grid_site = {**reg.grids, **{r.id: r.site for r in plan.of("grid")}}
        self.building_grid = {**reg.buildings, **{r.id: r.grid for r in plan.of("building")}}
        self.household_building = {
            **reg.households,
            **{r.id: r.building for r in plan.of("household")},
        }
        self.gateway_site = {**reg.gateways, **{r.id: r.site for r in plan.of("gateway")}}
        self.residents = set(reg.residents)

    def err(self, line: int, column: str | None, message: str) -> None:
        self.errors.append(RowError(line, column, message))

    def missing(self, line: int, column: str, kind: str, key: str) -> None:
        if (kind, key) not in self.plan.broken:
            self.err(line, column, f"no {kind} {key}")

    def site_of_building(self, building: str) -> str | None:
        grid = self.building_grid.get(building)
        return self.grid_site.get(grid) if grid is not None else None

    def unique(self, kind: str, taken: frozenset[str]) -> None:
        first: dict[str, int] = {}
        for line, row in self.plan.rows[kind]:
            if row.id in first:
                self.err(line, "id", f"{kind} {row.id} is also on row {first[row.id]}")
            elif row.id in taken:
                self.err(line, "id", f"{kind} {row.id} is already registered")
            else:
                first[row.id] = line

    def hierarchy(self) -> None:
        for line, grid in self.plan.rows["grid"]:
            if grid.site not in self.sites:
                self.missing(line, "site", "site", grid.site)
        for line, building in self.plan.rows["building"]:
            if building.grid not in self.grid_site:
                self.missing(line, "grid", "grid", building.grid)
        for line, household in self.plan.rows["household"]:
            if household.building not in self.building_grid:
                self.missing(line, "building", "building", household.building)

    def people(self) -> None:
        first: dict[tuple[str, str], int] = {}
        for line, resident in self.plan.rows["resident"]:
            key = (resident.household, resident.name)
            if resident.household not in self.household_building:
                self.missing(line, "household", "household", resident.household)
            elif key in first:
                self.err(line, "name", f"{resident.name} of {resident.household} is also on "
                                       f"row {first[key]}")  # fmt: skip
            elif key in self.residents:
                self.err(line, "name", f"{resident.name} already lives in {resident.household}")
            else:
                first[key] = line
        self.residents |= set(first)
        for line, contact in self.plan.rows["contact"]:
            if (contact.household, contact.resident) not in self.residents:
                who = f"{contact.household}/{contact.resident}"
                self.missing(line, "resident", "resident", who)

    def gateways(self) -> None:
        for line, gateway in self.plan.rows["gateway"]:
            if gateway.site not in self.sites:
                self.missing(line, "site", "site", gateway.site)
            if gateway.building is None:
                continue
            if gateway.building not in self.building_grid:
                self.missing(line, "building", "building", gateway.building)
            elif (site := self.site_of_building(gateway.building)) not in (None, gateway.site):
                self.err(line, "building", f"building {gateway.building} is in site {site}, "
                                           f"not {gateway.site}")  # fmt: skip

    def devices(self) -> None:
        for line, device in self.plan.rows["device"]:
            if device.type not in self.reg.device_types:
                known = ", ".join(sorted(self.reg.device_types))
                self.err(line, "type", f"unknown device type {device.type!r}; known: {known}")
            if device.gateway not in self.gateway_site:
                self.missing(line, "gateway", "gateway", device.gateway)
            if device.household is not None:
                self.device_site(line, device)

    def device_site(self, line: int, device: DeviceRow) -> None:
        building = self.household_building.get(device.household or "")
        if building is None:
            self.missing(line, "household", "household", device.household or "")
            return
        site = self.site_of_building(building)
        gw_site = self.gateway_site.get(device.gateway)
        if site is not None and gw_site is not None and site != gw_site:
            message = (
                f"gateway {device.gateway} serves site {gw_site}, "
                f"but household {device.household} is in site {site}"
            )
            self.err(line, "gateway", message)


def check_plan(plan: Plan, reg: Registry) -> list[RowError]:
    """Across rows and against the registry: duplicates, taken ids, references, sites."""
    check = _Checker(plan, reg)
    for kind, taken in (
        ("site", reg.sites_all),
        ("grid", reg.grids_all),
        ("building", reg.buildings_all),
        ("household", reg.households_all),
        ("gateway", reg.gateways_all),
        ("device", reg.devices_all),
    ):
        check.unique(kind, taken)
    check.hierarchy()
    check.people()
    check.gateways()
    check.devices()
    return sorted(check.errors, key=lambda e: (e.row, e.column or ""))


def validate(rows: list[tuple[int, dict[str, str]]], reg: Registry) -> Plan:
    """The plan, or ImportRejected with every error found."""
    plan, errors = parse_rows(rows)
    errors += check_plan(plan, reg)
    if errors:
        raise ImportRejected(sorted(errors, key=lambda e: (e.row, e.column or "")))
    return plan
