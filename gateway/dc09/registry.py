"""DC-09 accounts in the registry (migration 0016): adding one (its device too), reading them
all for the receiver, and the zone and user rows of a CSV import."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import psycopg

from gateway.dc09.accounts import Account, device_id_for, normal_account, zone_key
from gateway.dc09.frame import parse_key

DEVICE_TYPE = "alarm_panel"
SOURCE = "dc09"
# A panel without polling still sends its periodic test, daily on most: the core's per-device
# supervision then expects a sign of life once a day (plus an hour of slack), not every 4 h.
UNPOLLED_SUPERVISION_S = 25 * 3600.0


class RegistryError(ValueError):
    """What an installer must fix; the text says what."""


@dataclass(frozen=True)
class NewAccount:
    account: str
    gateway_id: str | None  # None: the one gateway that already receives DC-09, if one does
    household_id: str | None = None
    building_id: str | None = None
    key: str | None = None
    key_format: str | None = None
    poll_s: float | None = None
    receiver: str | None = None
    line: str | None = None
    room: str | None = None
    model: str | None = None

    def checked(self) -> tuple[str, bytes | None]:
        """The normalised account and the key's bytes; RegistryError on a bad value."""
        try:
            account = normal_account(self.account)
        except ValueError as exc:
            raise RegistryError(str(exc)) from None
        if (self.household_id is None) == (self.building_id is None):
            raise RegistryError("give exactly one of --household and --building")
        if self.poll_s is not None and not 1 <= self.poll_s <= 7 * 86400:
            raise RegistryError("--poll-s must be 1 s .. 7 days")
        if (self.key is None) != (self.key_format is None):
            raise RegistryError("a key needs --key-format hex|raw (and a format needs a key)")
        key = None
        if self.key is not None and self.key_format is not None:
            try:
                key = parse_key(self.key, self.key_format)
            except ValueError as exc:
                raise RegistryError(f"--key: {exc}") from None
        for name, value in (("receiver", self.receiver), ("line", self.line)):
            if value is not None and not (1 <= len(value) <= 6 and _is_hex(value)):
                raise RegistryError(f"--{name} must be 1-6 hex digits")
        return account, key


def _is_hex(text: str) -> bool:
    return all(c in "0123456789ABCDEFabcdef" for c in text)


def add_account(conn: psycopg.Connection[tuple[object, ...]], new: NewAccount) -> str:
    """Register the account and its device in one transaction; returns the device id."""
    account, key = new.checked()
    device_id = device_id_for(account)
    with conn.transaction(), conn.cursor() as cur:
        gateway_id = new.gateway_id or _only_receiver(cur)
        cur.execute("select 1 from dc09_accounts where account = %s", (account,))
        if cur.fetchone() is not None:
            raise RegistryError(f"account {account} is already registered")
        cur.execute(
            "select site_id from gateways where id = %s and retired_at is null and "
            "revoked_at is null",
            (gateway_id,),
        )
        if cur.fetchone() is None:
            raise RegistryError(
                f"no usable gateway {gateway_id!r}: register the receiver's gateway first "
                "(vigil gateway add)"
            )
        if new.household_id is not None:
            cur.execute("select 1 from households where id = %s and retired_at is null",
                        (new.household_id,))  # fmt: skip
            if cur.fetchone() is None:
                raise RegistryError(f"no household {new.household_id!r}")
        if new.building_id is not None:
            cur.execute("select 1 from buildings where id = %s and retired_at is null",
                        (new.building_id,))  # fmt: skip
            if cur.fetchone() is None:
                raise RegistryError(f"no building {new.building_id!r}")
        household = new.household_id
        if new.building_id is not None:
            household = _common_areas(cur, new.building_id)
        cur.execute("select 1 from devices where id = %s", (device_id,))
        if cur.fetchone() is not None:
            raise RegistryError(f"device {device_id} exists already")
        cur.execute(
            "insert into devices (id, device_type, gateway_id, household_id, room, source, "
            "model, external_id, supervision_s) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (device_id, DEVICE_TYPE, gateway_id, household, new.room, SOURCE,
             new.model, account, new.poll_s or UNPOLLED_SUPERVISION_S),
        )  # fmt: skip
        cur.execute(
            "insert into dc09_accounts (account, device_id, household_id, building_id, "
            "receiver, line, key, key_format, poll_s) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (account, device_id, new.household_id, new.building_id,
             new.receiver.upper() if new.receiver else None,
             new.line.upper() if new.line else None, key, new.key_format, new.poll_s),
        )  # fmt: skip
    return device_id


def _common_areas(cur: psycopg.Cursor[tuple[object, ...]], building: str) -> str:
    """The building's common areas as a household of its own: the detectors and alerting work
    per household, so a building panel's alarms open incidents there (with the building's
    address and no family to text), made once and shared by the building's panels."""
    household = f"{building}-common"[:64]
    cur.execute(
        "insert into households (id, building_id, unit, notes) values (%s, %s, %s, %s) "
        "on conflict (id) do nothing",
        (household, building, "公共区域 common areas", "building alarm panels (DC-09)"),
    )
    return household


def _only_receiver(cur: psycopg.Cursor[tuple[object, ...]]) -> str:
    cur.execute(
        "select distinct d.gateway_id from dc09_accounts a join devices d on d.id = a.device_id "
        "where a.retired_at is null"
    )
    gateways = sorted(str(r[0]) for r in cur.fetchall())
    if len(gateways) == 1:
        return gateways[0]
    if not gateways:
        raise RegistryError("no DC-09 receiver has accounts yet: name its gateway (--gateway)")
    raise RegistryError(f"several receivers ({', '.join(gateways)}): name one (--gateway)")


def retire_account(conn: psycopg.Connection[tuple[object, ...]], account: str) -> None:
    account = normal_account(account)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "update dc09_accounts set retired_at = now() where account = %s and retired_at is null "
            "returning device_id",
            (account,),
        )
        row = cur.fetchone()
        if row is None:
            raise RegistryError(f"no registered account {account}")
        cur.execute("update devices set retired_at = now() where id = %s", (row[0],))


def load_accounts(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, Account]:
    """Every live account with its zones and users, for the receiver."""
    with conn.cursor() as cur:
        cur.execute(
            "select a.account, a.device_id, a.key, a.poll_s, a.receiver, a.line, "
            "a.household_id, a.building_id from dc09_accounts a "
            "join devices d on d.id = a.device_id "
            "where a.retired_at is null and d.retired_at is null"
        )
        rows = cur.fetchall()
        cur.execute("select account, zone, room from dc09_zones")
        zones: dict[str, dict[str, str]] = {}
        for account, zone, room in cur.fetchall():
            zones.setdefault(str(account), {})[str(zone)] = str(room)
        cur.execute("select account, user_no, name from dc09_users")
        users: dict[str, dict[str, str]] = {}
        for account, user_no, name in cur.fetchall():
            users.setdefault(str(account), {})[str(user_no)] = str(name)
    out = {}
    for account, device, key, poll_s, receiver, line, household, building in rows:
        a = str(account)
        out[a] = Account(
            account=a,
            device_id=str(device),
            key=bytes(key) if isinstance(key, (bytes, memoryview)) else None,
            poll_s=float(poll_s) if isinstance(poll_s, (int, float)) else None,
            receiver=receiver if isinstance(receiver, str) else None,
            line=line if isinstance(line, str) else None,
            household_id=household if isinstance(household, str) else None,
            building_id=building if isinstance(building, str) else None,
            zones=zones.get(a, {}),
            users=users.get(a, {}),
        )
    return out


def registry_version(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    with conn.cursor() as cur:
        cur.execute("select version from registry_version")
        row = cur.fetchone()
    return int(str(row[0])) if row is not None else 0


# ---- the CSV import of zones and users -------------------------------------------------------
@dataclass(frozen=True)
class RowError:
    row: int
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.message}"


def import_csv(conn: psycopg.Connection[tuple[object, ...]], text: str) -> dict[str, int]:
    """`kind,account,zone,user,room,name,household` rows of kind `dc09_zone` (zone -> room) and
    `dc09_user` (user number -> resident, by name in the account's household): every row is
    checked first; all are stored, or none (RegistryError lists every error with its row)."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    known = {"kind", "account", "zone", "user", "room", "name"}
    unknown = set(reader.fieldnames or []) - known
    if "kind" not in (reader.fieldnames or []) or unknown:
        raise RegistryError(f"the header needs `kind` and only {', '.join(sorted(known))}")
    accounts = load_accounts(conn)
    residents = _residents(conn)
    errors: list[RowError] = []
    zones: list[tuple[str, str, str]] = []
    users: list[tuple[str, str, int | None, str]] = []
    for record in reader:
        cells = {k: (v or "").strip() for k, v in record.items() if k is not None}
        problem = _import_row(cells, accounts, residents, zones, users)
        if problem is not None:
            errors.append(RowError(reader.line_num, problem))
    if errors:
        raise RegistryError("\n".join(str(e) for e in errors))
    with conn.transaction(), conn.cursor() as cur:
        for row in zones:
            cur.execute(
                "insert into dc09_zones values (%s, %s, %s) on conflict (account, zone) "
                "do update set room = excluded.room",
                row,
            )
        for urow in users:
            cur.execute(
                "insert into dc09_users values (%s, %s, %s, %s) on conflict (account, user_no) "
                "do update set resident_id = excluded.resident_id, name = excluded.name",
                urow,
            )
    return {"zones": len(zones), "users": len(users)}


def _import_row(  # noqa: PLR0911 - one return per reason a row is refused
    cells: dict[str, str],
    accounts: dict[str, Account],
    residents: dict[tuple[str, str], int],
    zones: list[tuple[str, str, str]],
    users: list[tuple[str, str, int | None, str]],
) -> str | None:
    """Check one row and add it to `zones` or `users`; what is wrong with it otherwise."""
    kind = cells.get("kind", "")
    try:
        account = normal_account(cells.get("account", ""))
    except ValueError as exc:
        return str(exc)
    found = accounts.get(account)
    if found is None:
        return f"no registered account {account}"
    if kind == "dc09_zone":
        zone, room = cells.get("zone", ""), cells.get("room", "")
        if not (zone and _is_hex(zone) and len(zone) <= 4):
            return f"zone {zone!r}: want 1-4 digits"
        if not 1 <= len(room) <= 200:
            return "a zone row needs its room"
        zones.append((account, zone_key(zone), room))
        return None
    if kind == "dc09_user":
        user, name = cells.get("user", ""), cells.get("name", "")
        if not (user and _is_hex(user) and len(user) <= 4):
            return f"user {user!r}: want 1-4 digits"
        if not 1 <= len(name) <= 200:
            return "a user row needs the resident's name"
        resident = residents.get((found.household_id or "", name))
        if found.household_id is not None and resident is None:
            return f"no resident {name!r} in household {found.household_id}"
        users.append((account, zone_key(user), resident, name))
        return None
    return f"kind {kind!r}: want dc09_zone or dc09_user"


def _residents(conn: psycopg.Connection[tuple[object, ...]]) -> dict[tuple[str, str], int]:
    with conn.cursor() as cur:
        cur.execute("select household_id, name, id from residents where retired_at is null")
        return {(str(h), str(n)): int(str(i)) for h, n, i in cur.fetchall()}
