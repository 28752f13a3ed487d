"""`vigil dc09 account add|list|retire` and `vigil dc09 import` on a real database: what an
installer types, what is stored, and a clear refusal (non-zero exit) for each mistake."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from gateway.dc09 import registry
from vigil.cli import app

pytestmark = pytest.mark.stack


@pytest.fixture
def db(migrated_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        conn.execute("insert into sites (id, name) values ('s1', '一号社区')")
        conn.execute("insert into grids (id, site_id, name) values ('g1', 's1', '一网格')")
        conn.execute(
            "insert into buildings (id, grid_id, name, address) values ('b1', 'g1', '1号楼', 'x')"
        )
        conn.execute("insert into households (id, building_id, unit) values ('h1', 'b1', '101')")
        conn.execute("insert into residents (household_id, name) values ('h1', '王秀英')")
        conn.execute(
            "insert into gateways (id, site_id, mqtt_username) values ('rx1', 's1', 'rx1')"
        )
    monkeypatch.setenv("VIGIL_DATABASE_URL", migrated_db)
    from vigil.settings import get_settings

    get_settings.cache_clear()
    yield migrated_db
    get_settings.cache_clear()


def vigil(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_add_list_and_retire(db: str) -> None:
    code, out = vigil("dc09", "account", "add", "0a7f", "--gateway", "rx1", "--household", "h1",
                      "--key", "00" * 32, "--key-format", "hex", "--poll-s", "90")  # fmt: skip
    assert code == 0, out
    assert "0A7F" in out
    assert "dc09-0A7F" in out
    code, out = vigil("dc09", "account", "add", "1234", "--gateway", "rx1", "--building", "b1",
                      "--key", "AAAAAAAAAAAAAAAA", "--key-format", "raw")  # fmt: skip
    assert code == 0, out
    code, out = vigil("dc09", "account", "list", "--json")
    assert code == 0, out
    listed = {r["account"]: r for r in json.loads(out)}
    assert listed["0A7F"]["key_bits"] == 256
    assert listed["0A7F"]["poll_s"] == 90
    assert listed["1234"]["key_bits"] == 128
    assert listed["1234"]["building"] == "b1"
    with psycopg.connect(db, autocommit=True) as conn:
        # A building's panel hangs off the building's common areas (a household of its own).
        common = conn.execute(
            "select h.id, h.building_id from devices d join households h on h.id = d.household_id "
            "where d.id = 'dc09-1234'"
        ).fetchone()
    assert common == ("b1-common", "b1")
    with psycopg.connect(db, autocommit=True) as conn:
        row = conn.execute(
            "select device_type, source, external_id, supervision_s, household_id from devices "
            "where id = 'dc09-0A7F'"
        ).fetchone()
    assert row == ("alarm_panel", "dc09", "0A7F", 90.0, "h1")
    assert vigil("dc09", "account", "retire", "0a7f")[0] == 0
    assert "0A7F" not in {r["account"] for r in json.loads(vigil("dc09", "account", "list",
                                                                  "--json")[1])}  # fmt: skip


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["12", "--household", "h1"], "3 to 16 digits"),
        (["1234"], "exactly one of --household and --building"),
        (["1234", "--household", "h1", "--building", "b1"], "exactly one"),
        (["1234", "--household", "h9"], "no household"),
        (["1234", "--household", "h1", "--key", "AAAAAAAAAAAAAAAA"], "--key-format"),
        (["1234", "--household", "h1", "--key", "AAAAAAAAAAAAAAAA", "--key-format", "hex"],
         "16, 24 or 32 bytes"),
        (["1234", "--household", "h1", "--key", "xyz", "--key-format", "raw"], "16, 24 or 32"),
        (["1234", "--household", "h1", "--poll-s", "0"], "--poll-s"),
    ],
)  # fmt: skip
def test_mistakes_are_refused(db: str, args: list[str], says: str) -> None:
    code, out = vigil("dc09", "account", "add", *args, "--gateway", "rx1")
    assert code == 1
    assert says in out


def test_unknown_gateway_and_twice(db: str) -> None:
    code, out = vigil("dc09", "account", "add", "1234", "--gateway", "nope", "--household", "h1")
    assert code == 1
    assert "no usable gateway" in out
    assert vigil("dc09", "account", "add", "1234", "--gateway", "rx1", "--household", "h1")[0] == 0
    code, out = vigil("dc09", "account", "add", "1234", "--gateway", "rx1", "--household", "h1")
    assert code == 1
    assert "already registered" in out


def test_zones_and_users_import(db: str, tmp_path: Path) -> None:
    assert vigil("dc09", "account", "add", "1234", "--gateway", "rx1", "--household", "h1")[0] == 0
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "kind,account,zone,user,room,name\n"
        "dc09_zone,1234,001,,厨房,\n"
        "dc09_zone,9999,1,,卧室,\n"
        "dc09_user,1234,,1,,李四\n"
        "dc09_door,1234,1,,x,\n",
        encoding="utf-8",
    )
    code, out = vigil("dc09", "import", str(bad))
    assert code == 1
    assert "row 3: no registered account 9999" in out
    assert "row 4: no resident '李四'" in out
    assert "row 5: kind 'dc09_door'" in out
    with psycopg.connect(db, autocommit=True) as conn:
        assert conn.execute("select count(*) from dc09_zones").fetchone() == (0,)  # none stored
    good = tmp_path / "good.csv"
    good.write_text("kind,account,zone,user,room,name\ndc09_zone,1234,001,,厨房,\n"
                    "dc09_user,1234,,01,,王秀英\n", encoding="utf-8")  # fmt: skip
    code, out = vigil("dc09", "import", str(good))
    assert code == 0, out
    with psycopg.connect(db, autocommit=True) as conn:
        accounts = registry.load_accounts(conn)
    assert accounts["1234"].room("0001") == "厨房"
    assert accounts["1234"].resident("1") == "王秀英"


def test_gateway_defaults_to_the_one_receiving(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = vigil("dc09", "account", "add", "1234", "--household", "h1")
    assert code == 1
    assert "name its gateway" in out
    assert vigil("dc09", "account", "add", "1234", "--gateway", "rx1", "--household", "h1")[0] == 0
    monkeypatch.setenv("VIGIL_DC09_KEY", "11" * 16)  # the key kept out of the shell's history
    code, out = vigil("dc09", "account", "add", "5678", "--household", "h1", "--key-format", "hex")
    assert code == 0, out
    with psycopg.connect(db, autocommit=True) as conn:
        row = conn.execute("select d.gateway_id, a.key from dc09_accounts a join devices d "
                           "on d.id = a.device_id where a.account = '5678'").fetchone()  # fmt: skip
    assert row == ("rx1", b"\x11" * 16)
