"""Real zigbee2mqtt output for the tests: zigbee-herdsman-converters (npm, MIT) run by Node.

`produce(devices)` hands device specs (IEEE address, friendly name, the Zigbee model id and
manufacturer the device reports, raw Zigbee messages) to tests/zigbee/produce.js, which finds the
definition as zigbee2mqtt does and runs its fromZigbee converters. The package is installed by
`make setup` (vigil/setup.sh: npm ci in tests/zigbee).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
PACKAGE = HERE / "node_modules" / "zigbee-herdsman-converters"


class ConvertersMissingError(RuntimeError):
    """Node or the npm package is not installed (run `make setup`)."""


def produce(devices: list[dict[str, Any]]) -> dict[str, Any]:
    """{"devices": [bridge/devices entries], "payloads": {friendly_name: [state or None]}}."""
    node = shutil.which("node")
    if node is None or not PACKAGE.is_dir():
        raise ConvertersMissingError(
            "zigbee-herdsman-converters is not installed: run `make setup` (needs Node.js 20+)"
        )
    done = subprocess.run(
        [node, str(HERE / "produce.js")],
        input=json.dumps({"devices": devices}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=HERE,
    )
    if done.returncode != 0:
        raise RuntimeError(f"produce.js failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# Raw Zigbee messages, as zigbee-herdsman hands them to zigbee2mqtt.
def ias(zonestatus: int) -> dict[str, Any]:
    """An IAS zone status change (bit 0 alarm 1, 1 alarm 2, 2 tamper, 3 battery low, 8 test)."""
    return {
        "cluster": "ssIasZone",
        "type": "commandStatusChangeNotification",
        "data": {"zonestatus": zonestatus, "extendedstatus": 0},
    }


def battery(percent: float) -> dict[str, Any]:
    return {
        "cluster": "genPowerCfg",
        "type": "attributeReport",
        "data": {"batteryPercentageRemaining": int(percent * 2)},
    }


def tuya(*datapoints: tuple[int, int, int | str]) -> dict[str, Any]:
    """A Tuya datapoint report: (dp, datatype, value); datatype 1 bool, 2 value, 4 enum."""
    return {"tuya": [list(dp) for dp in datapoints]}


def ace_emergency() -> dict[str, Any]:
    return {"cluster": "ssIasAce", "type": "commandEmergency", "data": {}}


def on_off(value: int) -> dict[str, Any]:
    return {"cluster": "genOnOff", "type": "attributeReport", "data": {"onOff": value}}


def occupancy(value: int) -> dict[str, Any]:
    return {
        "cluster": "msOccupancySensing",
        "type": "attributeReport",
        "data": {"occupancy": value},
    }
