"""The NIST home smoke-alarm fire tests as replay input (data: firmware_sim/data/nist_smoke_alarms).

Source: NIST Technical Note 1455, "Performance of Home Smoke Alarms", via the FDS validation data
set; public-domain NIST data (LICENSE.md beside the files). Each test becomes one household with a
multi-sensor detector at every location that had commercial alarms (A..E), fed that location's
ceiling thermocouple (TC<loc>_1) and smoke meter (SM<loc>_1, optical density converted to
obscuration %/m); a location without a smoke meter gets a heat detector.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable

import numpy as np
import numpy.typing as npt

from detectors.codes import SMOKE, TEMPERATURE
from detectors.errors import InputFileError
from detectors.registry import Device
from detectors.replay import Readings

TESTS = ("SDC02", "SDC05", "SDC07", "SDC10")
LOCATIONS = ("A", "B", "C", "D", "E")


@dataclass(frozen=True)
class Location:
    name: str
    smoke: npt.NDArray[np.float64] | None  # obscuration %/m
    temperature: npt.NDArray[np.float64] | None  # °C
    photoelectric: dict[str, float]  # commercial photoelectric alarm -> activation time, s


@dataclass(frozen=True)
class NistTest:
    name: str
    time: npt.NDArray[np.float64]  # s from the test's TIME 0
    locations: tuple[Location, ...]


def data_dir() -> Traversable:
    return resources.files("firmware_sim").joinpath("data", "nist_smoke_alarms")


def obscuration(optical_density: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """%/m obscuration from optical density per metre (README: 100 * (1 - 10**-OD))."""
    return np.clip(100.0 * (1.0 - 10.0 ** (-optical_density)), 0.0, 100.0)


def _activation_times(root: Traversable) -> dict[str, float]:
    with root.joinpath("Activation_Times.csv").open("r", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if len(rows) < 2:
        raise InputFileError("Activation_Times.csv: expected a header and one row of times")
    return {name: float(t) for name, t in zip(rows[0][1:], rows[1][1:], strict=True)}


def _columns(root: Traversable, test: str) -> dict[str, npt.NDArray[np.float64]]:
    with root.joinpath(f"NIST_Smoke_Alarms_{test}.csv").open("r", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header = [h.strip() for h in rows[0]]
    data = np.array(
        [[float(x) if x.strip() else math.nan for x in row] for row in rows[1:] if row],
        dtype=np.float64,
    )
    return {name: data[:, i] for i, name in enumerate(header)}


def load_tests() -> list[NistTest]:
    root = data_dir()
    activations = _activation_times(root)
    tests = []
    for test in TESTS:
        cols = _columns(root, test)
        locations = []
        for loc in LOCATIONS:
            pho = {
                name.split("-", 1)[1]: t
                for name, t in activations.items()
                if name.startswith(f"{test}-Pho") and name.endswith(loc)
            }
            od = cols.get(f"SM{loc}_1")
            locations.append(
                Location(loc, None if od is None else obscuration(od), cols.get(f"TC{loc}_1"), pho)
            )
        tests.append(NistTest(test, cols["TIME"], tuple(locations)))
    return tests


def device_id(test: str, loc: str) -> str:
    return f"{test}-{loc}"


def as_replay(test: NistTest, networked: bool) -> tuple[list[Device], Readings]:
    """Devices and time-ordered readings; networked: one household, else one per location."""
    devices: list[Device] = []
    ts: list[npt.NDArray[np.float64]] = []
    slot: list[npt.NDArray[np.int32]] = []
    metric: list[npt.NDArray[np.int8]] = []
    value: list[npt.NDArray[np.float64]] = []
    n = test.time.shape[0]
    for loc in test.locations:
        if loc.smoke is None and loc.temperature is None:
            continue
        household = f"nist-{test.name}" if networked else f"nist-{test.name}-{loc.name}"
        kind = "multi" if loc.smoke is not None else "heat"
        s = len(devices)
        devices.append(Device(device_id(test.name, loc.name), kind, household, loc.name))
        for code, series in ((SMOKE, loc.smoke), (TEMPERATURE, loc.temperature)):
            if series is None:
                continue
            ts.append(test.time)
            slot.append(np.full(n, s, dtype=np.int32))
            metric.append(np.full(n, code, dtype=np.int8))
            value.append(series)
    all_ts = np.concatenate(ts)
    order = np.argsort(all_ts, kind="stable")
    return devices, Readings(
        all_ts[order],
        np.concatenate(slot)[order],
        np.concatenate(metric)[order],
        np.concatenate(value)[order],
    )
