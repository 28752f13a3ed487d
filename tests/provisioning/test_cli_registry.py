"""The installers' CLI against a real console: sign-in, the registry, errors, --json."""

from __future__ import annotations

import json
import stat
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.gateway.conftest import can_connect
from tests.provisioning.conftest import PASSWORD, Console, Vigil
from vigil.settings import Settings

pytestmark = pytest.mark.stack


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_login_keeps_the_token_private_and_logout_forgets_it(
    vigil: Vigil, console: Console, config_home: Path
) -> None:
    result = vigil("login", "--url", console.url, "--username", "inst", "--password-stdin",
                   stdin=PASSWORD + "\n")  # fmt: skip
    assert result.code == 0, result.err
    assert "installer" in result.out
    path = config_home / "vigil" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_text())
    assert saved["url"] == console.url
    assert saved["username"] == "inst"
    assert len(saved["token"]) >= 32
    assert vigil("site", "list").code == 0
    assert vigil("logout").code == 0
    assert not path.exists()
    again = vigil("site", "list")
    assert again.code == 2
    assert "not signed in: run `vigil login` first" in again.err


def test_a_wrong_password_is_refused_and_nothing_is_saved(
    vigil: Vigil, console: Console, config_home: Path
) -> None:
    result = vigil("login", "--url", console.url, "--username", "inst", "--password-stdin",
                   stdin="wrong\n")  # fmt: skip
    assert result.code == 1
    assert "401: wrong username or password" in result.err
    assert not (config_home / "vigil" / "credentials.json").exists()


def test_an_unreachable_console_is_named(vigil: Vigil) -> None:
    result = vigil("login", "--url", "http://127.0.0.1:9", "--username", "inst",
                   "--password-stdin", stdin="x\n")  # fmt: skip
    assert result.code == 1
    assert "cannot reach the console at http://127.0.0.1:9" in result.err


def test_a_token_readable_by_others_is_refused(
    vigil: Vigil, signed_in_as: Callable[[str], None], config_home: Path
) -> None:
    signed_in_as("inst")
    (config_home / "vigil" / "credentials.json").chmod(0o644)
    result = vigil("site", "list")
    assert result.code == 2
    assert "readable by other users" in result.err


def test_an_installation_from_building_to_device(
    vigil: Vigil,
    signed_in_as: Callable[[str], None],
    db: psycopg.Connection,
    settings: Settings,
) -> None:
    signed_in_as("inst")
    b, h, gw, dev = uid("b"), uid("h"), uid("gw"), uid("sd")
    ok = [
        ("building", "add", b, "--grid", "g1", "--name", "7号楼", "--address", "和平路7号",
         "--floors", "6"),
        ("household", "add", h, "--building", b, "--unit", "3-201", "--living-alone"),
        ("resident", "add", "--household", h, "--name", "王秀英", "--birth-year", "1938",
         "--language", "zh", "--contact", "李强:13800000001:en:儿子",
         "--contact", "李梅:13800000002"),
        ("device", "add", dev, "--type", "smoke", "--gateway", "gw-later"),  # refused: no gateway
    ]  # fmt: skip
    for args in ok[:3]:
        result = vigil(*args)
        assert result.code == 0, f"{args}: {result.err}"
    refused = vigil(*ok[3])
    assert refused.code == 1
    assert "422: unknown gateway_id" in refused.err

    added = vigil("gateway", "add", gw, "--site", "s1", "--building", b, "--json")
    assert added.code == 0, added.err
    creds = json.loads(added.out)["credentials"]
    assert creds["username"] == gw
    own = f"vigil/v1/s1/{gw}"
    for topic in ("up/telemetry", "up/event", "status"):  # its own topics, each by name
        assert f"publishClientSend {own}/{topic}" in creds["topics"]
    assert not any(t.startswith("publishClientSend") and t.endswith("#") for t in creds["topics"])
    assert can_connect(settings.stack_mqtt_port, gw, creds["password"])
    shown = vigil("gateway", "add", uid("gw"), "--site", "s1")
    assert "shown once" in shown.out
    assert "VIGIL_GATEWAY_PASSWORD=" in shown.out

    result = vigil("device", "add", dev, "--type", "smoke", "--gateway", gw, "--household", h,
                   "--room", "kitchen")  # fmt: skip
    assert result.code == 0, result.err

    listed = json.loads(vigil("device", "list", "--gateway", gw, "--json").out)
    assert [(d["id"], d["household_id"], d["room"]) for d in listed] == [(dev, h, "kitchen")]
    table = vigil("device", "list", "--gateway", gw).out
    assert dev in table
    assert "kitchen" in table

    resident = json.loads(vigil("resident", "list", "--household", h, "--json").out)[0]
    contacts = json.loads(vigil("resident", "show", str(resident["id"]), "--json").out)["contacts"]
    assert [(c["name"], c["language"], c["priority"], c["relation"]) for c in contacts] == [
        ("李强", "en", 1, "儿子"),
        ("李梅", "zh", 2, None),
    ]
    assert resident["medical_notes"] is None

    assert vigil("household", "update", h, "--unit", "3-202").code == 0
    assert json.loads(vigil("household", "show", h, "--json").out)["unit"] == "3-202"
    busy = vigil("household", "retire", h)
    assert busy.code == 1
    assert "409: retire or move the devices first" in busy.err
    busy = vigil("gateway", "retire", gw)
    assert busy.code == 1
    assert "1 devices still report through it" in busy.err
    audit = db.execute(
        "select action from audit_log where username = 'inst' and target = %s", (f"gateway:{gw}",)
    ).fetchall()
    assert audit == [("gateway.create",)]


def test_replacing_a_device_keeps_its_place_and_history(
    vigil: Vigil, signed_in_as: Callable[[str], None], db: psycopg.Connection
) -> None:
    signed_in_as("inst")
    h, gw, old, new = uid("h"), uid("gw"), uid("sd"), uid("sd")
    assert vigil("household", "add", h, "--building", "b1", "--unit", "1").code == 0
    assert vigil("gateway", "add", gw, "--site", "s1").code == 0
    assert vigil("device", "add", old, "--type", "smoke", "--gateway", gw, "--household", h,
                 "--room", "kitchen").code == 0  # fmt: skip
    db.execute(
        "insert into device_events (time, device_id, kind, value, seq, gateway_ts) "
        "values (now(), %s, 'self_test', 1, 1, now())",
        (old,),
    )
    result = vigil("device", "replace", old, new, "--json")
    assert result.code == 0, result.err
    device = json.loads(result.out)
    assert (device["id"], device["gateway_id"], device["household_id"], device["room"]) == (
        new, gw, h, "kitchen")  # fmt: skip
    history = json.loads(vigil("device", "show", new, "--json").out)["history"]
    assert [(d["id"], d["replaced_by"]) for d in history] == [(old, new), (new, None)]
    assert db.execute(
        "select count(*) from device_events where device_id = %s", (old,)
    ).fetchone() == (1,)
    gone = vigil("device", "show", old)
    assert gone.code == 1
    assert "404: device not found" in gone.err
    again = vigil("device", "replace", old, uid("sd"))
    assert again.code == 1


def test_sites_and_grids_need_an_administrator(
    vigil: Vigil, signed_in_as: Callable[[str], None]
) -> None:
    signed_in_as("inst")
    refused = vigil("site", "add", "s9", "--name", "九")
    assert refused.code == 1
    assert "403: role installer may not grids.write" in refused.err
    signed_in_as("admin")
    site = uid("s").lower()
    assert vigil("site", "add", site, "--name", "九街道", "--name-en", "Nine").code == 0
    assert vigil("grid", "add", uid("g"), "--site", site, "--name", "九网格").code == 0
    sites = json.loads(vigil("site", "list", "--json").out)
    assert {"id": site, "grids": 1} == {k: v for k, v in next(
        s for s in sites if s["id"] == site).items() if k in ("id", "grids")}  # fmt: skip
    busy = vigil("site", "retire", site)
    assert busy.code == 1
    assert "1 grids and 0 gateways remain" in busy.err
    bad = vigil("site", "add", "Bad Id", "--name", "x")
    assert bad.code == 1
    assert "422: id: String should match pattern" in bad.err


def test_update_without_changes_says_so(vigil: Vigil, signed_in_as: Callable[[str], None]) -> None:
    signed_in_as("inst")
    result = vigil("building", "update", "b1")
    assert result.code == 1
    assert "nothing to change" in result.err
