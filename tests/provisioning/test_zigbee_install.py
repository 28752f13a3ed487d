"""Installing zigbee2mqtt devices: by IEEE address or friendly name, from the CLI and from the
CSV import; the console shows each device's source and model."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest

from tests.provisioning.conftest import Vigil
from vigil.provisioning import devices_cli
from vigil.provisioning.importer import ImportRejected, Registry, read_csv, validate
from vigil.provisioning.zigbee import DEFAULT_SUPERVISION_S, device_id

REG = Registry(
    sites=frozenset({"s1"}),
    sites_all=frozenset({"s1"}),
    grids={"g1": "s1"},
    grids_all=frozenset({"g1"}),
    buildings={"b1": "g1"},
    buildings_all=frozenset({"b1"}),
    households={"h1": "b1"},
    households_all=frozenset({"h1"}),
    residents=frozenset(),
    gateways={"gw-1": "s1"},
    gateways_all=frozenset({"gw-1"}),
    devices_all=frozenset(),
    device_types=frozenset({"smoke_alarm", "sos"}),
)


def test_a_csv_row_by_ieee_address_gets_its_id_source_and_supervision() -> None:
    text = (
        "kind,id,type,gateway,household,room,ieee,model\n"
        "device,,smoke_alarm,gw-1,h1,kitchen,0x00158D0001A2B3C4,HS3SA/HS1SA\n"
        "device,sos-bed,sos,gw-1,h1,bedroom,00158d0001a2b3c5,\n"
    )
    plan = validate(read_csv(text), REG)
    first, second = plan.of("device")
    assert first.id == "zb-00158d0001a2b3c4"
    assert (first.source, first.external_id, first.model) == (
        "zigbee2mqtt", "0x00158d0001a2b3c4", "HS3SA/HS1SA"
    )  # fmt: skip
    assert first.supervision_s == DEFAULT_SUPERVISION_S
    assert second.id == "sos-bed"
    assert second.external_id == "0x00158d0001a2b3c5"


def test_a_bad_ieee_address_is_a_row_error() -> None:
    text = "kind,type,gateway,ieee\ndevice,sos,gw-1,0x12\n"
    with pytest.raises(ImportRejected) as caught:
        validate(read_csv(text), REG)
    assert {e.column for e in caught.value.errors} == {"id", "ieee"}


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.mark.stack
def test_zigbee_devices_by_ieee_and_friendly_name_with_source_and_model(
    vigil: Vigil,
    signed_in_as: Callable[[str], None],
    db: psycopg.Connection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signed_in_as("inst")
    h, gw = uid("h"), uid("gw")
    assert vigil("household", "add", h, "--building", "b1", "--unit", "1-101").code == 0
    assert vigil("gateway", "add", gw, "--site", "s1", "--building", "b1").code == 0
    # The adapter's list of the hub's devices, as `vigil gateway run --source zigbee2mqtt`
    # writes it on its machine.
    reports = tmp_path / "gateways"
    reports.mkdir()
    hub = {
        "hub": "127.0.0.1:1883/zigbee2mqtt",
        "hub_online": True,
        "devices": [{"ieee_address": "0x00124b0000aa0001", "friendly_name": "kitchen/smoke",
                     "model": "TS0601_smoke_1", "vendor": "Tuya",
                     "device_id": "zb-00124b0000aa0001",
                     "device_type": "smoke_alarm", "kinds": ["smoke_alarm", "tamper"]}],
        "unmapped": [{"ieee_address": "0x00124b0000aa0009", "friendly_name": "lamp",
                      "model": "LED1545G12", "vendor": "IKEA", "exposes": ["binary:state"]}],
    }  # fmt: skip
    (reports / f"{gw}.zigbee2mqtt.json").write_text(json.dumps(hub))
    monkeypatch.setattr(devices_cli, "get_settings", lambda: SimpleNamespace(var_dir=tmp_path))

    by_name = vigil("device", "add", "--source", "zigbee2mqtt", "--friendly-name",
                    "kitchen/smoke", "--gateway", gw, "--household", h, "--room", "kitchen",
                    "--json")  # fmt: skip
    assert by_name.code == 0, by_name.err
    made = json.loads(by_name.out)
    assert made["id"] == "zb-00124b0000aa0001"
    assert (made["device_type"], made["source"], made["model"]) == (
        "smoke_alarm", "zigbee2mqtt", "TS0601_smoke_1"
    )  # fmt: skip
    assert made["external_id"] == "0x00124b0000aa0001"
    assert made["supervision_s"] == DEFAULT_SUPERVISION_S

    by_ieee = vigil("device", "add", "--ieee", "00124B0000AA0002", "--type", "sos", "--gateway",
                    gw, "--household", h, "--model", "TS0215A_sos", "--json")  # fmt: skip
    assert by_ieee.code == 0, by_ieee.err
    assert json.loads(by_ieee.out)["id"] == device_id("0x00124b0000aa0002")
    again = vigil("device", "add", "--ieee", "0x00124b0000aa0002", "--type", "sos",
                  "--gateway", gw, "sos-again")  # fmt: skip
    assert again.code == 1
    assert "409" in again.err

    unknown = vigil("device", "add", "--friendly-name", "nope", "--gateway", gw)
    assert unknown.code == 1
    said = " ".join(unknown.err.split())  # rich may wrap the line
    assert "is not among the devices of the hub" in said

    shown = vigil("gateway", "show", gw)
    assert shown.code == 0, shown.err
    assert "kitchen/smoke" in shown.out
    assert "LED1545G12" in shown.err + shown.out

    listed = vigil("device", "list", "--gateway", gw, "--json")
    rows = {d["id"]: d for d in json.loads(listed.out)}
    assert rows["zb-00124b0000aa0001"]["model"] == "TS0601_smoke_1"
    assert rows[device_id("0x00124b0000aa0002")]["source"] == "zigbee2mqtt"
