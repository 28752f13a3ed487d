"""The NIST home smoke-alarm fire tests shipped with the package (TN 1455; public domain).

Only what calibration needs: a location's ceiling smoke meter and thermocouple as obscuration
(%/m) and temperature rise (°C) against time since the start of the test, baselines removed.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

from vigil.errors import VigilError

TESTS = ("SDC02", "SDC05", "SDC07", "SDC10")
# The first samples of every test are before visible fire growth: they give the baselines.
BASELINE_WINDOW_S = 10.0
ALARM_OBSCURATION = 5.0  # %/m: the photoelectric alarms of the study were set near 5.1 ± 1 %/m


class NistDataError(VigilError):
    """The bundled NIST data is missing or does not hold what was asked for."""


@dataclass(frozen=True)
class Location:
    """One ceiling location of one test, as the detector mounted there would have seen it."""

    test: str
    location: str
    time: np.ndarray  # s since the start of the test
    obscuration: np.ndarray  # %/m, from the ceiling smoke meter
    optical_density: np.ndarray  # 1/m, baseline removed
    temperature_rise: np.ndarray  # °C above the start, ceiling thermocouple

    def time_to_obscuration(self, level: float = ALARM_OBSCURATION) -> float | None:
        """First time the obscuration exceeds `level`, or None if it never does."""
        above = np.flatnonzero(self.obscuration > level)
        return float(self.time[above[0]]) if above.size else None


def obscuration_from_od(od: np.ndarray) -> np.ndarray:
    """Optical density per metre (1/m) to obscuration per metre (%/m)."""
    return np.asarray(100.0 * (1.0 - np.power(10.0, -np.clip(od, 0.0, None))))


def _data_file(name: str) -> str:
    path = resources.files("firmware_sim").joinpath("data", "nist_smoke_alarms", name)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise NistDataError(f"bundled NIST file {name} is missing") from exc


@cache
def _table(test: str) -> tuple[tuple[str, ...], np.ndarray]:
    if test not in TESTS:
        raise NistDataError(f"unknown NIST test {test!r} (known: {', '.join(TESTS)})")
    rows = list(csv.reader(io.StringIO(_data_file(f"NIST_Smoke_Alarms_{test}.csv"))))
    header = tuple(h.strip() for h in rows[0])
    data = np.array(
        [[float(x) if x.strip() else np.nan for x in row] for row in rows[1:] if row],
        dtype=np.float64,
    )
    return header, data


def locations(test: str) -> tuple[str, ...]:
    """Locations of `test` with both a ceiling smoke meter and a ceiling thermocouple."""
    header, _ = _table(test)
    return tuple(loc for loc in "ABCDEF" if f"SM{loc}_1" in header and f"TC{loc}_1" in header)


@cache
def location(test: str, loc: str) -> Location:
    header, data = _table(test)
    if loc not in locations(test):
        raise NistDataError(f"test {test} has no ceiling smoke meter and thermocouple at {loc!r}")
    time = data[:, 0]
    early = time <= time[0] + BASELINE_WINDOW_S
    od = data[:, header.index(f"SM{loc}_1")]
    od = np.clip(od - np.nanmin(od[early]), 0.0, None)
    tc = data[:, header.index(f"TC{loc}_1")]
    rise = tc - np.nanmean(tc[early])
    ok = ~(np.isnan(od) | np.isnan(rise))
    return Location(test, loc, time[ok], obscuration_from_od(od[ok]), od[ok], rise[ok])


@cache
def activation_times() -> dict[str, float]:
    """Commercial alarm activation times, s from the start of the test (-1: never sounded)."""
    rows = list(csv.reader(io.StringIO(_data_file("Activation_Times.csv"))))
    return {name: float(value) for name, value in zip(rows[0][1:], rows[1][1:], strict=True)}
