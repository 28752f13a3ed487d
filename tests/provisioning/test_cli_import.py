"""`vigil import FILE.csv`: every error by row number, all or nothing, credentials once."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.gateway.conftest import can_connect
from tests.provisioning.conftest import Vigil
from vigil.settings import Settings

pytestmark = pytest.mark.stack

HEADER = "kind,id,site,grid,building,household,resident,name,address,unit,phone,language,type,gateway,room"  # noqa: E501


def counts(db: psycopg.Connection) -> tuple[int, ...]:
    row = db.execute(
        "select (select count(*) from buildings), (select count(*) from households), "
        "(select count(*) from residents), (select count(*) from contacts), "
        "(select count(*) from gateways), (select count(*) from devices)"
    ).fetchone()
    assert row is not None
    return tuple(row)


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / f"{uuid.uuid4().hex[:6]}.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def test_a_good_file_registers_everything_and_prints_gateway_passwords_once(
    vigil: Vigil,
    signed_in_as: Callable[[str], None],
    db: psycopg.Connection,
    settings: Settings,
    tmp_path: Path,
) -> None:
    signed_in_as("inst")
    t = uuid.uuid4().hex[:6]
    path = write(
        tmp_path,
        f"building,b-{t},,g1,,,,5号楼,和平路5号,,,,,,",
        f"household,h-{t},,,b-{t},,,,,2-101,,,,,",
        f"resident,,,,,h-{t},,张桂兰,,,,en,,,",
        f"contact,,,,,h-{t},张桂兰,张伟,,,13911112222,en,,,",
        f"gateway,gw-{t},s1,,b-{t},,,,,,,,,,",
        f"device,sd-{t},,,,h-{t},,,,,,,smoke,gw-{t},kitchen",
        f"device,pb-{t},,,,h-{t},,,,,,,panic,gw-{t},bedroom",
    )
    before = counts(db)
    dry = vigil("import", str(path), "--dry-run")
    assert dry.code == 0, dry.err
    assert "would be imported" in dry.out
    assert counts(db) == before
    result = vigil("import", str(path), "--json")
    assert result.code == 0, result.err
    answer = json.loads(result.out)
    assert answer["counts"] == {"building": 1, "household": 1, "resident": 1, "contact": 1,
                                "gateway": 1, "device": 2}  # fmt: skip
    after = counts(db)
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1, 1, 1, 2]
    (creds,) = answer["credentials"]
    assert creds["username"] == f"gw-{t}"
    assert can_connect(settings.stack_mqtt_port, f"gw-{t}", creds["password"])
    assert db.execute(
        "select c.language, c.priority from contacts c join residents r on r.id = c.resident_id "
        "where r.household_id = %s",
        (f"h-{t}",),
    ).fetchall() == [("en", 1)]
    again = vigil("import", str(path), "--json")
    assert again.code == 1
    taken = [e for e in json.loads(again.out)["errors"] if "already" in e["message"]]
    assert [e["row"] for e in taken] == [2, 3, 4, 6, 7, 8]  # the contact's resident lives there


def test_a_bad_file_reports_every_error_by_row_and_writes_nothing(
    vigil: Vigil, signed_in_as: Callable[[str], None], db: psycopg.Connection, tmp_path: Path
) -> None:
    signed_in_as("inst")
    t = uuid.uuid4().hex[:6]
    path = write(
        tmp_path,
        f"building,b-{t},,g1,,,,6号楼,和平路6号,,,,,,",  # fine on its own
        f"household,h-{t},,,b-{t},,,,,,,,,,",  # row 3: no unit
        f"resident,,,,,h-{t},,赵,,,12ab,,,,",  # row 4: bad phone
        f"gateway,gw-{t},s404,,,,,,,,,,,,",  # row 5: unknown site
        f"device,sd-{t},,,,,,,,,,,toaster,gw-{t},",  # row 6: unknown type
    )
    before = counts(db)
    result = vigil("import", str(path), "--json")
    assert result.code == 1
    errors = json.loads(result.out)["errors"]
    assert [(e["row"], e["column"]) for e in errors] == [
        (3, "unit"),
        (4, "phone"),
        (5, "site"),
        (6, "type"),
    ]
    assert counts(db) == before
    table = vigil("import", str(path))
    assert table.code == 1
    assert "4 errors; nothing was imported" in table.err
    assert "unknown device type 'toaster'" in table.out


def test_an_installer_cannot_import_sites(
    vigil: Vigil, signed_in_as: Callable[[str], None], tmp_path: Path
) -> None:
    signed_in_as("inst")
    result = vigil("import", str(write(tmp_path, "site,s8,,,,,,八街道,,,,,,,")), "--json")
    assert result.code == 1
    assert json.loads(result.out)["errors"] == [
        {"row": 2, "column": "kind", "message": "role installer may not grids.write"}
    ]


def test_a_bad_header_is_reported_before_anything_is_sent(
    vigil: Vigil, signed_in_as: Callable[[str], None], tmp_path: Path
) -> None:
    signed_in_as("inst")
    path = tmp_path / "bad.csv"
    path.write_text("kind,id,colour\nsite,s1,red\n")
    result = vigil("import", str(path))
    assert result.code == 1
    assert "unknown columns colour" in result.out


def test_a_large_file_goes_in_one_transaction(
    vigil: Vigil, signed_in_as: Callable[[str], None], db: psycopg.Connection, tmp_path: Path
) -> None:
    signed_in_as("inst")
    t = uuid.uuid4().hex[:6]
    lines = [f"building,b-{t},,g1,,,,大楼,和平路9号,,,,,,", f"gateway,gw-{t},s1,,b-{t},,,,,,,,,,"]
    for i in range(600):
        lines.append(f"household,h-{t}-{i},,,b-{t},,,,,{i},,,,,")
        lines.append(f"device,sd-{t}-{i},,,,h-{t}-{i},,,,,,,smoke,gw-{t},kitchen")
    bad = [*lines, f"device,sd-{t}-x,,,,,,,,,,,smoke,gw-nowhere,"]
    before = counts(db)
    refused = vigil("import", str(write(tmp_path, *bad)), "--json")
    assert refused.code == 1
    assert [e["row"] for e in json.loads(refused.out)["errors"]] == [len(bad) + 1]
    assert counts(db) == before
    result = vigil("import", str(write(tmp_path, *lines)))
    assert result.code == 0, result.err
    assert "1202 rows imported" in result.out
    assert counts(db)[1] - before[1] == 600
