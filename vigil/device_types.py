"""Device types, declared as data in `device_types.toml` and checked when loaded.

The one vocabulary of metrics and device types: their small integer codes follow the file's
order, and ingest (its columns) and the detectors (their kernels) use these same codes, so a
batch crosses from one to the other without being re-encoded. A new metric or type is appended
to the file, so existing codes (in checkpoints, in kernels) keep their meaning.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from vigil.errors import VigilError


class DeviceTypeError(VigilError):
    """A reading or a declaration does not fit the device types."""


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    min: float
    max: float
    description: str
    decimals: int  # stored to 10^-decimals of its unit (the narrow row keeps a 4-byte float)
    foreign: bool = False  # sent only by foreign sources (a device's own declared states)

    @property
    def scale(self) -> float:
        """10^decimals: a stored value is read back as round(value * scale) / scale."""
        return float(10**self.decimals)

    def check(self, value: float) -> str | None:
        """Why `value` is not a plausible reading of this metric, or None if it is."""
        if math.isnan(value) or math.isinf(value):
            return f"{self.name}: {value} is not a number"
        if not self.min <= value <= self.max:
            return f"{self.name}: {value} outside {self.min}..{self.max} {self.unit}".rstrip()
        return None


@dataclass(frozen=True)
class DeviceType:
    name: str
    label_zh: str
    label_en: str
    metrics: tuple[str, ...]
    events: tuple[str, ...]
    report_interval_s: float
    fast_report_interval_s: float
    heartbeat_interval_s: float

    def check_reading(self, metric: str, value: float) -> str | None:
        """Why this reading is refused, or None when it is valid for this type."""
        if metric not in self.metrics:
            return f"unknown metric {metric!r} for device type {self.name!r}"
        return metrics()[metric].check(value)


@cache
def _load() -> tuple[dict[str, Metric], dict[str, DeviceType]]:
    # Beside this module (importlib.resources would cost a detector's start-up 15 ms).
    raw = tomllib.loads(Path(__file__).with_name("device_types.toml").read_text(encoding="utf-8"))
    metric_table = {
        name: Metric(
            name,
            m["unit"],
            float(m["min"]),
            float(m["max"]),
            m["description"],
            int(m["decimals"]),
            bool(m.get("foreign", False)),
        )
        for name, m in raw["metrics"].items()
    }
    types = {}
    for name, t in raw["types"].items():
        unknown = [m for m in t["metrics"] if m not in metric_table]
        if unknown:
            raise DeviceTypeError(f"device type {name!r} declares unknown metrics {unknown}")
        types[name] = DeviceType(
            name=name,
            label_zh=t["name"],
            label_en=t["name_en"],
            metrics=tuple(t["metrics"]),
            events=tuple(t["events"]),
            report_interval_s=float(t["report_interval_s"]),
            fast_report_interval_s=float(t["fast_report_interval_s"]),
            heartbeat_interval_s=float(t["heartbeat_interval_s"]),
        )
    return metric_table, types


def metrics() -> dict[str, Metric]:
    """Every metric a device may report, by name."""
    return _load()[0]


def device_types() -> dict[str, DeviceType]:
    """Every device type, by name."""
    return _load()[1]


def device_type(name: str) -> DeviceType:
    try:
        return device_types()[name]
    except KeyError:
        known = ", ".join(sorted(device_types()))
        raise DeviceTypeError(f"unknown device type {name!r} (known: {known})") from None


METRICS: tuple[str, ...] = tuple(metrics())
"""Metric names by code (int8 in ingest's columns and the detectors' batches)."""
METRIC_CODE: dict[str, int] = {name: code for code, name in enumerate(METRICS)}
DEVICE_TYPES: tuple[str, ...] = tuple(device_types())
"""Device type names by code (the registry's `type`, as ingest and the detectors see it)."""
TYPE_CODE: dict[str, int] = {name: code for code, name in enumerate(DEVICE_TYPES)}
