"""Real device models for the zigbee2mqtt tests: how each identifies itself on the Zigbee network
(the model id and manufacturer zigbee2mqtt matches its definition by), raw Zigbee messages a
scenario sends, and the Vigil events each message must give (kind, value), once and only once.

The payloads themselves are never written here: zigbee-herdsman-converters makes them
(tests/zigbee/converters.py).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

from tests.zigbee.converters import ace_emergency, battery, ias, occupancy, on_off, tuya

Expect = list[tuple[str, float]]


@dataclass(frozen=True)
class Model:
    key: str
    model: str  # zigbee2mqtt's model name, checked against what the converters found
    model_id: str
    manufacturer: str
    vigil_type: str | None  # the device type the adapter proposes (None: unmapped)
    steps: list[tuple[dict[str, Any], Expect]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def ieee(self) -> str:
        return f"0x00124b00{zlib.crc32(self.key.encode()):08x}"

    @property
    def friendly_name(self) -> str:
        return f"home/{self.key}"

    def spec(self) -> dict[str, Any]:
        return {
            "ieee": self.ieee,
            "friendly_name": self.friendly_name,
            "model_id": self.model_id,
            "manufacturer": self.manufacturer,
            "options": self.options,
            "steps": [step for step, _ in self.steps],
        }


SMOKE, CO, GAS, LEAK = "smoke_alarm", "co_alarm", "gas_alarm", "water_leak"
PRESS = ("button", 1.0)

MODELS = [
    Model(
        "heiman_smoke",
        "HS3SA/HS1SA",
        "SmokeSensor-EM",
        "HEIMAN",
        "smoke_alarm",
        [
            (ias(0), []),
            (ias(1), [(SMOKE, 1.0)]),
            (ias(1), []),
            (ias(0), [(SMOKE, 0.0)]),
            (ias(1 | 256), [("self_test", 1.0)]),  # the test button sets the alarm bit too
            (ias(0), []),
            (ias(8), [("low_battery", 1.0)]),
            (battery(90), []),
            (ias(0), [("low_battery", 0.0)]),
        ],
    ),
    Model(
        "tuya_smoke",
        "TS0601_smoke_1",
        "TS0601",
        "_TZE204_ntcy3xu1",
        "smoke_alarm",
        [
            (tuya((1, 4, 1)), []),
            (tuya((1, 4, 0)), [(SMOKE, 1.0)]),
            (tuya((4, 1, 1)), [("tamper", 1.0)]),
            (tuya((4, 1, 0)), [("tamper", 0.0)]),
            (tuya((1, 4, 1)), [(SMOKE, 0.0)]),
            (tuya((14, 4, 0)), [("low_battery", 1.0)]),  # this converter: 0 = low
        ],
    ),
    Model(
        "develco_smoke",
        "SMSZB-120",
        "SMSZB-120",
        "frient A/S",
        "smoke_alarm",
        [
            (ias(1), [(SMOKE, 1.0)]),
            (ias(0), [(SMOKE, 0.0)]),
            (ias(256), [("self_test", 1.0)]),
            (ias(0), []),
            (
                {
                    "cluster": "genBinaryInput",
                    "type": "attributeReport",
                    "data": {"statusFlags": 1},
                },
                [("fault", 1.0)],
            ),
            (
                {
                    "cluster": "genBinaryInput",
                    "type": "attributeReport",
                    "data": {"statusFlags": 0},
                },
                [("fault", 0.0)],
            ),
        ],
    ),
    Model(
        "heiman_co",
        "HS1CA-E",
        "COSensor-EM",
        "HEIMAN",
        "co_alarm",
        [
            (ias(1), [(CO, 1.0)]),
            (ias(1), []),
            (ias(0), [(CO, 0.0)]),
            (ias(8), [("low_battery", 1.0)]),
        ],
    ),
    Model(
        "heiman_gas",
        "HS1CG-E",
        "GASSensor-EM",
        "HEIMAN",
        "gas_alarm",
        [
            (ias(1), [(GAS, 1.0)]),
            (ias(0), [(GAS, 0.0)]),
            (ias(4), [("tamper", 1.0)]),
        ],
    ),
    Model(
        "tuya_sos",
        "TS0215A_sos",
        "TS0215A",
        "_TZ3000_4fsgukof",
        "sos",
        [
            (ace_emergency(), [PRESS]),
            (battery(80), []),
            (ace_emergency(), [PRESS]),
        ],
    ),
    Model(
        "heiman_sos",
        "HS1EB/HS1EB-E",
        "SOS-EM",
        "HEIMAN",
        "sos",
        [
            (ias(1), [PRESS]),
            (ias(1), [PRESS]),
        ],
    ),
    Model(
        "feibit_sos",
        "SEB01ZB",
        "FNB56-SOS03FB1.5",
        "Feibit",
        "sos",
        [
            (ias(2), [PRESS]),
            (ias(0), []),
            (ias(2), [PRESS]),
            (ias(4), [("tamper", 1.0)]),
        ],
    ),
    Model(
        "heiman_pir",
        "HS3MS",
        "PIRSensor-EM",
        "HEIMAN",
        "pir",
        [
            (ias(1), [("motion", 1.0)]),
            (ias(0), [("motion", 0.0)]),
            (ias(4), [("tamper", 1.0)]),
        ],
    ),
    Model(
        "aqara_pir",
        "RTCGQ11LM",
        "lumi.sensor_motion.aq2",
        "LUMI",
        "pir",
        [
            (occupancy(1), [("motion", 1.0)]),
            ({"wait": 0.3}, [("motion", 0.0)]),  # zigbee2mqtt's own occupancy timeout
            (occupancy(1), [("motion", 1.0)]),
        ],
        options={"occupancy_timeout": 0.1},
    ),
    Model(
        "aqara_door",
        "MCCGQ11LM",
        "lumi.sensor_magnet.aq2",
        "LUMI",
        "door",
        [
            (on_off(0), []),  # closed, first seen
            (on_off(1), [("door", 1.0)]),
            (on_off(0), [("door", 0.0)]),
        ],
    ),
    Model(
        "sonoff_door",
        "SNZB-04",
        "DS01",
        "eWeLink",
        "door",
        [
            (ias(1), [("door", 1.0)]),
            (ias(0), [("door", 0.0)]),
            (ias(8), [("low_battery", 1.0)]),
        ],
    ),
    Model(
        "aqara_leak",
        "SJCGQ11LM",
        "lumi.sensor_wleak.aq1",
        "LUMI",
        "water_alarm",
        [
            (ias(1), [(LEAK, 1.0)]),
            (ias(0), [(LEAK, 0.0)]),
        ],
    ),
    Model(
        "ikea_bulb",
        "LED1545G12",
        "TRADFRI bulb E27 WS opal 980lm",
        "IKEA of Sweden",
        None,
        [
            (on_off(1), []),
        ],
    ),
]

BY_KEY = {m.key: m for m in MODELS}
