"""Alert policy as data: policy.toml read into a checked object and numeric rows for the kernels.

The file is the single place where thresholds, persistence and alert classes are decided; this
module only validates it (unknown keys, non-numbers and nonsense figures are refused with the key
named) and lays it out as `params[row, P_*]` with one row per distinct (device type, household
overrides, room class) combination.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from detectors.codes import DEVICE_TYPES, KINDS
from detectors.errors import PolicyError
from detectors.params import DERIVED, PARAMS
from detectors.rooms import ROOM_CLASSES, room_class
from vigil.device_types import device_type

if TYPE_CHECKING:  # annotations only: numpy.typing is slow to import at start-up
    import numpy.typing as npt

SIGNALS = ("alarm", "supervisory", "trouble")
SETTABLE = tuple(name for name in PARAMS if name not in DERIVED)

# Figures where 0 switches a rule off.
_ZERO_IS_OFF = frozenset({"smoke_verify_fall_pct_per_min"})
# Figures that must be positive, and pairs (fast, slow) whose order the rate estimates rely on.
_POSITIVE = tuple(
    name
    for name in SETTABLE
    if (name.endswith(("_tau_s", "_count", "_per_min")) and name not in _ZERO_IS_OFF)
    or name
    in {
        "offline_grace_s",
        "clock_jump_s",
        "confirm_age_s",
        "inactivity_active_period_s",
        "inactivity_max_silence_s",
        "away_max_s",
        "cancel_grace_s",
    }
)
_ORDERED = (
    ("smoke_tau_s", "smoke_trend_tau_s"),
    ("temp_tau_s", "temp_trend_tau_s"),
    ("smoke_fused_pct", "smoke_high_pct"),
    ("dirty_clear_pct", "dirty_pct"),
    ("inactivity_min_silence_s", "inactivity_max_silence_s"),
    ("smoke_fused_pct", "stove_smoke_pct"),
)


@dataclass(frozen=True)
class KindPolicy:
    name: str
    signal: str
    severity: int
    confirmed_severity: int
    description: str


@dataclass(frozen=True)
class Policy:
    """Kinds, per-type parameters, per-room and per-household overrides, all checked.

    Precedence, weakest first: [defaults], [types.<type>], [rooms.<class>],
    [households."<id>"], [households."<id>".<type>].
    """

    kinds: Mapping[str, KindPolicy]
    types: Mapping[str, Mapping[str, float]]
    households: Mapping[str, Mapping[str, Mapping[str, float]]]
    source: str
    rooms: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> Policy:
        """The bundled policy.toml, or the file at `path` (same layout)."""
        if path is None:
            text = Path(__file__).with_name("policy.toml").read_text("utf-8")
            source = "detectors/policy.toml"
        else:
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise PolicyError(f"cannot read policy {path}: {exc.strerror}") from exc
            source = str(path)
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"{source}: not valid TOML: {exc}") from exc
        return cls.from_dict(raw, source)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], source: str = "<dict>") -> Policy:
        unknown = set(raw) - {"kinds", "defaults", "types", "rooms", "households"}
        if unknown:
            raise PolicyError(f"{source}: unknown sections {sorted(unknown)}")
        kinds = _kinds(raw.get("kinds", {}), source)
        defaults = _figures(raw.get("defaults", {}), f"{source} [defaults]")
        missing = [name for name in SETTABLE if name not in defaults]
        if missing:
            raise PolicyError(f"{source} [defaults]: missing {missing}")
        types: dict[str, Mapping[str, float]] = {}
        raw_types = raw.get("types", {})
        for name in raw_types:
            if name not in DEVICE_TYPES:
                raise PolicyError(f"{source}: unknown device type [types.{name}]")
        for name in DEVICE_TYPES:
            merged = {**defaults, **_figures(raw_types.get(name, {}), f"{source} [types.{name}]")}
            _check_figures(merged, f"{source} [types.{name}]")
            types[name] = MappingProxyType(merged)
        households = {
            str(hh): _household(table, f"{source} [households.{hh}]")
            for hh, table in raw.get("households", {}).items()
        }
        raw_rooms = raw.get("rooms", {})
        for name in raw_rooms:
            if name not in ROOM_CLASSES:
                known = ", ".join(ROOM_CLASSES)
                raise PolicyError(f"{source}: unknown room class [rooms.{name}] (known: {known})")
        rooms = {
            name: MappingProxyType(_figures(table, f"{source} [rooms.{name}]"))
            for name, table in raw_rooms.items()
        }
        policy = cls(
            MappingProxyType(kinds),
            MappingProxyType(types),
            MappingProxyType(households),
            source,
            MappingProxyType(rooms),
        )
        for room in ROOM_CLASSES:
            for hh in (None, *households):
                for name in DEVICE_TYPES:
                    _check_figures(
                        policy.figures(name, hh, room), f"{source} [rooms.{room}] / households"
                    )
        return policy

    def with_household(self, household_id: str, figures: Mapping[str, float]) -> Policy:
        """This policy with `figures` set for every device of one household (over its own)."""
        over = dict(self.households.get(household_id, {}))
        over["*"] = MappingProxyType({**over.get("*", {}), **figures})
        households = {**self.households, household_id: MappingProxyType(over)}
        policy = replace(self, households=MappingProxyType(households))
        for name in DEVICE_TYPES:
            _check_figures(policy.figures(name, household_id), f"{self.source} / {household_id}")
        return policy

    def figures(
        self,
        type_name: str,
        household_id: str | None = None,
        room: str = "",
        supervision_s: float | None = None,
    ) -> dict[str, float]:
        """Every parameter for one device type in one room of one household, overrides
        applied (`room` is a registry room name or a class; see detectors.rooms); a device's
        own supervision interval (devices.supervision_s) stands in for its type's heartbeat."""
        merged = dict(self.types[type_name])
        merged.update(self.rooms.get(room_class(room) if room not in self.rooms else room, {}))
        over = self.households.get(household_id or "", {})
        merged.update(over.get("*", {}))
        merged.update(over.get(type_name, {}))
        merged["offline_after_s"] = (
            supervision_s or device_type(type_name).heartbeat_interval_s
        ) * merged["offline_missed_heartbeats"] + merged["offline_grace_s"]
        # Rates of rise per minute from two averages: (fast - slow) * scale (see kernels).
        merged["smoke_rate_scale"] = 60.0 / (merged["smoke_trend_tau_s"] - merged["smoke_tau_s"])
        merged["temp_rate_scale"] = 60.0 / (merged["temp_trend_tau_s"] - merged["temp_tau_s"])
        return merged

    def table(
        self,
        types: Sequence[str],
        households: Sequence[str | None],
        rooms: Sequence[str] | None = None,
        supervision: Sequence[float | None] | None = None,
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int32]]:
        """Parameter rows for the kernels and each device's row index."""
        rows: dict[tuple[str, str | None, str, float | None], int] = {}
        prow = np.empty(len(types), dtype=np.int32)
        room_names = rooms if rooms is not None else [""] * len(types)
        own = supervision if supervision is not None else [None] * len(types)
        columns = zip(types, households, room_names, own, strict=True)
        for i, (type_name, hh, room, sup) in enumerate(columns):
            key = (type_name, hh if hh in self.households else None, room_class(room), sup)
            prow[i] = rows.setdefault(key, len(rows))
        params = np.empty((max(len(rows), 1), len(PARAMS)))
        for (type_name, hh, room, sup), r in rows.items():
            figures = self.figures(type_name, hh, room, sup)
            params[r] = [figures[name] for name in PARAMS]
        if not rows:
            params[0] = [self.figures("smoke")[name] for name in PARAMS]
        return params, prow


def _kinds(raw: Mapping[str, Any], source: str) -> dict[str, KindPolicy]:
    missing = [k for k in KINDS if k not in raw]
    unknown = [k for k in raw if k not in KINDS]
    if missing or unknown:
        raise PolicyError(f"{source} [kinds]: missing {missing}, unknown {unknown}")
    kinds = {}
    for name, table in raw.items():
        where = f"{source} [kinds.{name}]"
        signal = table.get("signal")
        if signal not in SIGNALS:
            raise PolicyError(f"{where}: signal must be one of {SIGNALS}, not {signal!r}")
        severity = _severity(table.get("severity"), f"{where} severity")
        confirmed = _severity(table.get("confirmed_severity", severity), f"{where} confirmed")
        kinds[name] = KindPolicy(name, signal, severity, confirmed, str(table.get("description")))
    return kinds


def _severity(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 5:
        raise PolicyError(f"{where}: severity must be an integer 1..5, not {value!r}")
    return value


def _figures(raw: Mapping[str, Any], where: str) -> dict[str, float]:
    figures = {}
    for key, value in raw.items():
        if key not in SETTABLE:
            raise PolicyError(f"{where}: unknown parameter {key!r}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PolicyError(f"{where}: {key} must be a number, not {value!r}")
        if not math.isfinite(value):
            raise PolicyError(f"{where}: {key} must be finite")
        figures[key] = float(value)
    return figures


def _household(raw: Mapping[str, Any], where: str) -> Mapping[str, Mapping[str, float]]:
    flat = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    per_type = {k: v for k, v in raw.items() if isinstance(v, dict)}
    for name in per_type:
        if name not in DEVICE_TYPES:
            raise PolicyError(f"{where}: unknown device type {name!r}")
    out: dict[str, Mapping[str, float]] = {"*": MappingProxyType(_figures(flat, where))}
    for name, table in per_type.items():
        out[name] = MappingProxyType(_figures(table, f"{where}.{name}"))
    return MappingProxyType(out)


def _check_figures(figures: Mapping[str, float], where: str) -> None:
    for name in _POSITIVE:
        if figures[name] <= 0.0:
            raise PolicyError(f"{where}: {name} must be positive, not {figures[name]}")
    negative = [name for name in SETTABLE if figures[name] < 0.0 and name != "utc_offset_h"]
    if negative:
        raise PolicyError(f"{where}: {negative} must not be negative")
    for low, high in _ORDERED:
        if not figures[low] < figures[high]:
            raise PolicyError(
                f"{where}: {low} ({figures[low]}) must be below {high} ({figures[high]})"
            )
    if not -12.0 <= figures["utc_offset_h"] <= 14.0:
        raise PolicyError(f"{where}: utc_offset_h must be within -12..14")
