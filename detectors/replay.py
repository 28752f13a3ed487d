"""`vigil detect replay`: devices.csv + readings.csv through the engine, alerts as JSON lines.

Rows are replayed in time order (stable: rows of one time keep their file order) and each
reading counts as received at its time. A recording has no arrival order of its own: a row
written hours out of place (a source file's slip; one recorded home has four) would pass for a
clock reset of its household, or, as arrival, push every household's clock ahead. Every problem
in a file is reported with its file name and line number.

A recorded home's sensors report when used and its file has no heartbeats, so supervising them
would raise an `offline` alert at every silence past the heartbeat allowance (4,700 in 60 days
of one generated home). By default a device is supervised only where its recording shows it
reporting within its allowance (see `unsupervised`).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt

from detectors.alert import Alert
from detectors.clock import corrected_offset_h, household_correction_h
from detectors.codes import DEVICE_TYPES, METRIC_CODE, METRICS
from detectors.engine import Batch, DetectorEngine
from detectors.errors import InputFileError, RegistryError
from detectors.params import P_OFFLINE_AFTER_S, P_UTC_OFFSET_H
from detectors.policy import Policy
from detectors.registry import Device

DEVICE_COLUMNS = ("device_id", "type", "household_id", "room")
OPTIONAL_DEVICE_COLUMNS = ("building_id", "gateway_id")
READING_COLUMNS = ("ts", "device_id", "metric", "value")
CHUNK_ROWS = 200_000
# A device silent past its heartbeat allowance for this share of its recording or more reports
# only when used: a device with heartbeats that was cut off that long is too broken to supervise
# from its file, and a sensor used by day is silent over every night (a third of the day).
UNSUPERVISED_SHARE = 0.25
SUPERVISION = ("auto", "on", "off")
MAX_RUN_ON_S = 7 * 86400.0  # the clock may run on past a recording's end at most a week


@dataclass(frozen=True)
class Readings:
    """Replay rows as columns; device ids already mapped to slots."""

    ts: npt.NDArray[np.float64]
    slot: npt.NDArray[np.int32]
    metric: npt.NDArray[np.int8]
    value: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.ts.shape[0])


def _rows(
    path: Path, expected: Sequence[str], optional: Sequence[str] = ()
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) pairs of a CSV with the expected header."""
    try:
        fh: IO[str] = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise InputFileError(f"{path}: cannot open: {exc.strerror}") from exc
    with fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise InputFileError(
                f"{path}: empty file (expected header {','.join(expected)})"
            ) from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputFileError(f"{path} line 1: {exc}") from exc
        allowed = [*expected, *optional]
        if header[: len(expected)] != list(expected) or not set(header) <= set(allowed):
            raise InputFileError(
                f"{path} line 1: header must be {','.join(expected)}"
                + (f" (optionally then {','.join(optional)})" if optional else "")
                + f", not {','.join(header)}"
            )
        line = 1
        try:
            for line, fields in enumerate(reader, start=2):
                if not fields or fields == [""]:
                    continue
                if len(fields) != len(header):
                    raise InputFileError(
                        f"{path} line {line}: {len(fields)} fields, expected {len(header)}"
                    )
                yield line, dict(zip(header, (f.strip() for f in fields), strict=True))
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputFileError(f"{path} line {line + 1}: {exc}") from exc


def load_devices(path: Path) -> list[Device]:
    devices: dict[str, Device] = {}
    for line, row in _rows(path, DEVICE_COLUMNS, OPTIONAL_DEVICE_COLUMNS):
        row["type"] = row["type"].strip().lower()  # "PIR" is a pir
        if row["type"] not in DEVICE_TYPES:
            raise InputFileError(
                f"{path} line {line}: unknown device type {row['type']!r} "
                f"(known: {', '.join(DEVICE_TYPES)})"
            )
        if row["device_id"] in devices:
            raise InputFileError(f"{path} line {line}: duplicate device_id {row['device_id']!r}")
        try:
            devices[row["device_id"]] = Device(
                row["device_id"],
                row["type"],
                row["household_id"],
                row["room"],
                row.get("building_id") or None,
                row.get("gateway_id") or None,
            )
        except RegistryError as exc:
            raise InputFileError(f"{path} line {line}: {exc}") from exc
    if not devices:
        raise InputFileError(f"{path}: no devices")
    return list(devices.values())


# How recordings write a switch's state (CASAS: ON/OFF, OPEN/CLOSE).
STATE_WORDS = {
    "on": 1.0,
    "open": 1.0,
    "true": 1.0,
    "off": 0.0,
    "close": 0.0,
    "closed": 0.0,
    "false": 0.0,
}


# Metrics as zigbee2mqtt names them, which recordings of Zigbee homes keep: occupancy is motion;
# contact is the door, true when closed (so its value is turned round: door 1 is open).
METRIC_ALIASES = {"occupancy": ("motion", False), "contact": ("door", True)}


def _value(path: Path, line: int, text: str) -> float:
    """A number (NaN allowed: an implausible reading), or a switch's state as a word."""
    word = STATE_WORDS.get(text.strip().lower())
    if word is not None:
        return word
    try:
        return float(text)
    except ValueError:
        raise InputFileError(
            f"{path} line {line}: value {text!r} is not a number (nor {'/'.join(STATE_WORDS)})"
        ) from None


EPOCH_S_MAX = 1e11  # epoch seconds of the year 5138: a larger ts counts in finer units


def _time(path: Path, line: int, text: str, utc_offset_h: float) -> float:
    """Epoch seconds (or milli-, micro-, nanoseconds), or an ISO 8601 time; one with no zone is
    the home's local clock (read at its utc_offset_h), as recordings are written."""
    try:
        value = float(text)
    except ValueError:
        try:
            when = datetime.fromisoformat(text.strip())
        except ValueError:
            raise InputFileError(
                f"{path} line {line}: ts {text!r} is neither epoch seconds nor an ISO 8601 time"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone(timedelta(hours=utc_offset_h)))
        return when.timestamp()
    if not math.isfinite(value):
        raise InputFileError(f"{path} line {line}: ts must be finite, not {text!r}")
    # Epoch milli-, micro- or nanoseconds (pandas writes its times as int64 ns): as seconds
    # they would fall past the year 5000, which no recording does.
    for _ in range(3):
        if abs(value) < EPOCH_S_MAX:
            break
        value /= 1000.0
    return value


def load_readings(
    path: Path, slot_of: dict[str, int], utc_offset_h: npt.NDArray[np.float64]
) -> Readings:
    """Readings in file order. A value may be NaN (an implausible reading); ts may not.
    utc_offset_h: per slot, for times written with no zone."""
    ts: list[float] = []
    slot: list[int] = []
    metric: list[int] = []
    value: list[float] = []
    for line, row in _rows(path, READING_COLUMNS):
        s = slot_of.get(row["device_id"])
        if s is None:
            raise InputFileError(
                f"{path} line {line}: device {row['device_id']!r} is not in the devices file"
            )
        name, inverted = METRIC_ALIASES.get(row["metric"].strip().lower(), (row["metric"], False))
        code = METRIC_CODE.get(name.strip().lower())
        if code is None:
            raise InputFileError(
                f"{path} line {line}: unknown metric {row['metric']!r} "
                f"(known: {', '.join(METRICS)}; also {', '.join(METRIC_ALIASES)})"
            )
        ts.append(_time(path, line, row["ts"], float(utc_offset_h[s])))
        number = _value(path, line, row["value"])
        value.append(1.0 - number if inverted else number)
        slot.append(s)
        metric.append(code)
    return Readings(
        np.array(ts, dtype=np.float64),
        np.array(slot, dtype=np.int32),
        np.array(metric, dtype=np.int8),
        np.array(value, dtype=np.float64),
    )


RUN_ON_TICK_S = 60.0  # the clock past the last reading moves as the ingest stage ticks


def run(
    engine: DetectorEngine,
    readings: Readings,
    chunk_rows: int = CHUNK_ROWS,
    run_on_s: float = 0.0,
) -> list[Alert]:
    """Play readings through the engine in chunks, ticking after each and at the end, then on
    for run_on_s past the last reading (checks due after a recording ends: a collapse cut
    into one leaves nothing after it to move the clock).

    Arrival is the running maximum of the timestamps, so a late row arrives "now". Alerts come
    back ordered by their time (stable), whatever the chunking.
    """
    received = np.maximum.accumulate(readings.ts) if len(readings) else readings.ts
    alerts: list[Alert] = []
    for lo in range(0, len(readings), chunk_rows):
        hi = min(lo + chunk_rows, len(readings))
        batch = Batch.of(
            readings.ts[lo:hi],
            readings.slot[lo:hi],
            readings.metric[lo:hi],
            readings.value[lo:hi],
            received[lo:hi],
        )
        alerts += engine.process(batch)
        alerts += engine.tick(float(received[hi - 1]))
    if len(readings) and run_on_s > 0.0:
        end = float(received[-1])
        for now in np.append(
            np.arange(end + RUN_ON_TICK_S, end + run_on_s, RUN_ON_TICK_S), end + run_on_s
        ):
            alerts += engine.tick(float(now))
    return sorted(alerts, key=lambda a: a.ts)


@dataclass(frozen=True)
class ClockFix:
    """A household whose recorded clock put its sleep by day, and the offset it was read at."""

    household_id: str
    sleep_centre_h: float  # local hour its longest silences centred at, before
    correction_h: int
    utc_offset_h: float  # after


@dataclass(frozen=True)
class Replayed:
    """What a replay gives: its alerts, and the households read at another clock."""

    alerts: list[Alert]
    clock_fixes: list[ClockFix]
    out_of_order: tuple[int, int] | None = None  # (rows earlier than one before, the first's n)
    unsupervised: tuple[str, ...] = ()  # devices not supervised (no heartbeats in the file)


def replay(
    devices_path: Path,
    readings_path: Path,
    policy: Policy | None = None,
    *,
    fix_clock: bool = True,
    supervision: str = "auto",
    run_on_s: float = 0.0,
) -> Replayed:
    """Alerts of a recording; with fix_clock, a household that seems to sleep by day is read
    at the offset that puts its sleep at night (detectors.clock). supervision: auto supervises
    the devices whose file shows heartbeats (`unsupervised`), on every device, off none.
    run_on_s: the clock runs on this long past the last reading (`run`)."""
    if supervision not in SUPERVISION:
        raise ValueError(f"supervision must be one of {SUPERVISION}, not {supervision!r}")
    if not 0.0 <= run_on_s <= MAX_RUN_ON_S:
        raise ValueError(f"run_on_s must be 0 to {MAX_RUN_ON_S:g} s, not {run_on_s!r}")
    devices = load_devices(devices_path)
    pol = policy if policy is not None else Policy.load()
    engine = DetectorEngine(devices, pol)
    offsets = engine.params[engine.prow, P_UTC_OFFSET_H]  # per slot
    loaded = load_readings(readings_path, engine.registry.slot_of, offsets)
    readings, out_of_order = in_time_order(doors_as_doors(loaded, engine))
    fixes = clock_fixes(engine, readings) if fix_clock else []
    for fix in fixes:
        pol = pol.with_household(fix.household_id, {"utc_offset_h": fix.utc_offset_h})
    if supervision == "on":
        off: list[int] = []
    elif supervision == "off":
        off = list(range(len(devices)))
    else:
        off = unsupervised(readings, engine.params[engine.prow, P_OFFLINE_AFTER_S])
    if off:
        gone = set(off)
        devices = [
            replace(d, supervision_s=math.inf) if i in gone else d for i, d in enumerate(devices)
        ]
    if fixes or off:
        engine = DetectorEngine(devices, pol)
    names = tuple(devices[i].device_id for i in off)
    return Replayed(run(engine, readings, run_on_s=run_on_s), fixes, out_of_order, names)


def unsupervised(readings: Readings, allowance: npt.NDArray[np.float64]) -> list[int]:
    """Slots whose recording shows no heartbeats: silent past their allowance (per slot, the
    offline threshold) for UNSUPERVISED_SHARE or more of the time from their first reading to
    the file's last, or with no reading at all. Readings in time order."""
    n = allowance.shape[0]
    if not len(readings):
        return list(range(n))
    end = float(readings.ts[-1])
    order = np.argsort(readings.slot, kind="stable")  # by slot, each in time order
    slot, ts = readings.slot[order], readings.ts[order]
    changes = np.flatnonzero(slot[1:] != slot[:-1]) + 1
    nxt = np.append(ts[1:], end)
    nxt[changes - 1] = end  # a slot's last reading is silent until the file ends
    gap = nxt - ts
    silent = np.bincount(slot, weights=np.where(gap > allowance[slot], gap, 0.0), minlength=n)
    starts = np.append(0, changes)
    first = np.full(n, np.nan)
    first[slot[starts]] = ts[starts]  # each slot's earliest reading
    span = end - first
    quiet = np.isnan(first) | (silent >= UNSUPERVISED_SHARE * span) & (span > 0.0)
    return np.flatnonzero(quiet).tolist()


def in_time_order(readings: Readings) -> tuple[Readings, tuple[int, int] | None]:
    """The readings in time order (stable), and, if the file had them otherwise, how many were
    earlier than a reading before them and which reading the first was (1 = the file's first)."""
    if len(readings) < 2:
        return readings, None
    late = readings.ts[1:] < np.maximum.accumulate(readings.ts)[:-1]
    if not late.any():
        return readings, None
    order = np.argsort(readings.ts, kind="stable")
    moved = Readings(
        readings.ts[order], readings.slot[order], readings.metric[order], readings.value[order]
    )
    return moved, (int(late.sum()), int(np.argmax(late)) + 2)


def doors_as_doors(readings: Readings, engine: DetectorEngine) -> Readings:
    """A door contact's `motion` is its `door`: a recording that calls every use of a sensor
    motion still says when the front door opened, and presence (out or in) hangs on it."""
    is_door = np.array([d.type == "door" for d in engine.registry.devices], dtype=np.bool_)
    motion = readings.metric == METRIC_CODE["motion"]
    moved = motion & is_door[readings.slot]
    if not moved.any():
        return readings
    metric = np.where(moved, np.int8(METRIC_CODE["door"]), readings.metric).astype(np.int8)
    return Readings(readings.ts, readings.slot, metric, readings.value)


def clock_fixes(engine: DetectorEngine, readings: Readings) -> list[ClockFix]:
    """Per household: the clock correction its sleep asks for, from its activity (motion and
    door readings, as the kernels count it; a PIR's battery reports are no sign of life)."""
    reg = engine.registry
    household = reg.household_of()[readings.slot]
    door = readings.metric == METRIC_CODE["door"]
    rows = np.flatnonzero(door | (readings.metric == METRIC_CODE["motion"]))
    rows = rows[np.argsort(household[rows], kind="stable")]
    fixes = []
    for mine in np.split(rows, np.flatnonzero(np.diff(household[rows])) + 1):
        if not mine.size:
            continue
        slot = int(readings.slot[mine[0]])
        offset = float(engine.params[engine.prow[slot], P_UTC_OFFSET_H])
        centre, hours = household_correction_h(readings.ts[mine], door[mine], offset)
        if hours and centre is not None:
            fixed = corrected_offset_h(offset, hours)
            fixes.append(ClockFix(reg.devices[slot].household_id, centre, hours, fixed))
    return fixes


def write_jsonl(alerts: Sequence[Alert], out: IO[str]) -> None:
    for alert in alerts:
        out.write(json.dumps(alert.to_json(), ensure_ascii=False, sort_keys=False) + "\n")
