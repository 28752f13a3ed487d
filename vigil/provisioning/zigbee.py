"""Installing zigbee2mqtt devices: the Vigil id of a Zigbee device, and a hub's device list.

A Zigbee device's Vigil id is `zb-` and its IEEE address in hex (stable for the device's life,
whatever the hub calls it). The adapter (`vigil gateway run --source zigbee2mqtt`) writes the
hub's devices, mapped and unmapped, beside its queue (`var/gateways/<gateway>.zigbee2mqtt.json`);
an installer on that machine may name a device by its zigbee2mqtt friendly name instead of its
IEEE address, and gets its model and proposed device type from there.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.errors import VigilError

SOURCE = "zigbee2mqtt"
IEEE_PATTERN = re.compile(r"^(0x)?[0-9A-Fa-f]{16}$")
# Zigbee devices report every hour or so (battery, link quality); zigbee2mqtt itself marks a
# battery device unavailable after 25 h. Vigil supervises them at 4 h a heartbeat by default.
DEFAULT_SUPERVISION_S = 4 * 3600.0


class ZigbeeError(VigilError, ValueError):
    """An IEEE address or friendly name that does not name a device of the hub."""


def device_id(ieee: str) -> str:
    """`zb-<16 hex digits>` for an IEEE address given as `0x00158d...` or bare hex."""
    if not IEEE_PATTERN.match(ieee.strip()):
        raise ZigbeeError(
            f"not an IEEE address: {ieee!r} (want 16 hex digits, e.g. 0x00158d0001a2b3c4)"
        )
    return "zb-" + ieee.strip().lower().removeprefix("0x")


def ieee_of(ieee: str) -> str:
    """The canonical form zigbee2mqtt uses: `0x` and 16 lower-case hex digits."""
    return "0x" + device_id(ieee).removeprefix("zb-")


@dataclass(frozen=True)
class HubDevice:
    ieee: str
    friendly_name: str
    model: str | None
    device_type: str | None

    @property
    def device_id(self) -> str:
        return device_id(self.ieee)


def report_path(var_dir: Path, gateway_id: str) -> Path:
    return var_dir / "gateways" / f"{gateway_id}.zigbee2mqtt.json"


def load_report(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def find(
    report: dict[str, Any] | None, *, ieee: str | None = None, name: str | None = None
) -> HubDevice | None:
    """The hub's device by IEEE address or friendly name (None if the report lacks it)."""
    if report is None:
        return None
    wanted = ieee_of(ieee) if ieee else None
    for d in report.get("devices", []) + report.get("unmapped", []):
        address = str(d.get("ieee_address", ""))
        if (wanted and address.lower() == wanted) or (name and d.get("friendly_name") == name):
            return HubDevice(
                address, str(d.get("friendly_name")), d.get("model"), d.get("device_type")
            )
    return None
