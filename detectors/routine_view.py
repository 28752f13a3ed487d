"""A household's learned routine, read for people: the console's routine page (pure, no I/O).

The household's own motion and door readings (the caller fetches them, up to 28 days) are
played through an engine holding only its devices, the same code as detection, and the routine
row is read back: activity by day of week and hour (7 x 24), the sleep window per day type,
the usual absences, the hours by day where a PIR home's sensors were blind to the resident (the
switches' daytime cap holds there), the last 48 h of activity in 15-minute steps and the checks
raised then.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from detectors import routine as rt
from detectors import routine_columns as cols
from detectors.codes import METRIC_CODE
from detectors.engine import DetectorEngine
from detectors.params import (
    P_ROUTINE_CAP_DENSE_S,
    P_ROUTINE_CAP_SPARSE_S,
    P_ROUTINE_LEARN_DAYS,
)
from detectors.policy import Policy
from detectors.registry import Device
from detectors.replay import Readings, run
from detectors.state import HI_PROW

STEP_S = 900.0  # the last 48 h in 15-minute steps
RECENT_S = 48 * 3600.0


def _clock(seconds_after_18: float) -> str | None:
    if math.isnan(seconds_after_18):
        return None
    minutes = round(seconds_after_18 / 60.0 + 18 * 60) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def routine_view(
    devices: Sequence[Device],
    rows: Sequence[tuple[float, str, str, float]],
    now: float,
    policy: Policy | None = None,
) -> dict[str, Any]:
    """The routine of the one household the devices belong to; rows are (ts, device, metric,
    value) of motion and door readings in time order."""
    engine = DetectorEngine(devices, policy)
    keep = [r for r in rows if r[2] in ("motion", "door") and r[1] in engine.registry.slot_of]
    readings = Readings(
        np.array([r[0] for r in keep], dtype=np.float64),
        engine.slots([r[1] for r in keep]),
        np.array([METRIC_CODE[r[2]] for r in keep], dtype=np.int8),
        np.array([r[3] for r in keep], dtype=np.float64),
    )
    alerts = run(engine, readings) if keep else []
    alerts += engine.tick(now)
    if not engine.registry.households:
        return {
            "learning": True,
            "activity": [],
            "sleep": [],
            "absences": [],
            "blind": [],
            "blind_cap_s": None,
            "recent": {},
        }
    row = engine.state.hh_f[0]
    prow = int(engine.state.hh_i[0, HI_PROW])
    learn_days = float(engine.params[prow, P_ROUTINE_LEARN_DAYS]) if prow >= 0 else 7.0
    first = row[cols.R_FIRST]
    learning = bool(math.isnan(first) or now - first < learn_days * 86400.0)
    act = row[cols.R_ACT : cols.R_ACT + 168].reshape(7, 24)
    peak = float(act.max()) if act.size else 0.0
    sleep = []
    for d, name in ((0, "weekday"), (1, "weekend")):
        ends = [
            h * 3600.0 + max(row[cols.R_E + d * 24 + h], row[cols.R_E + cols.SLOTS + d * 24 + h])
            for h in range(24)
            if row[cols.R_NL + d * 24 + h] + row[cols.R_NL + cols.SLOTS + d * 24 + h] >= 1.0
        ]
        sleep.append(
            {
                "day_type": name,
                "usual_bed": _clock(row[cols.R_BED + d]),
                "usual_wake": _clock(row[cols.R_WAKE + d]),
                "latest_wake": _clock(max(ends)) if ends else None,
            }
        )
    absences = []
    for d, name in ((0, "weekday"), (1, "weekend")):
        for h in range(24):
            j = d * 24 + h
            n = row[cols.R_NA + j] + row[cols.R_NA + cols.SLOTS + j]
            if n >= rt.HABIT_N:
                back = max(row[cols.R_A + j], row[cols.R_A + cols.SLOTS + j])
                absences.append(
                    {
                        "day_type": name,
                        "leaves": _clock(h * 3600.0),
                        "latest_return": _clock(h * 3600.0 + back),
                        "times": int(n),
                    }
                )
    blind = _blind_hours(engine, prow, now) if prow >= 0 and not learning else []
    start = now - RECENT_S
    recent_ts = readings.ts[readings.ts >= start]
    counts = np.histogram(recent_ts, bins=int(RECENT_S / STEP_S), range=(start, now))[0]
    checks = [
        {"from": a.evidence.get("window_start"), "at": a.ts, "rule": a.rule, "reason": a.reason}
        for a in alerts
        if a.kind == "inactivity" and a.ts >= start
    ]
    return {
        "learning": learning,
        "activity": (act / peak).round(3).tolist() if peak > 0 else act.tolist(),
        "sleep": sleep,
        "absences": absences,
        "blind": blind,
        "blind_cap_s": float(engine.params[prow, P_ROUTINE_CAP_SPARSE_S]) if blind else None,
        "recent": {"start": start, "step_s": STEP_S, "counts": counts.tolist(), "checks": checks},
    }


def _blind_hours(engine: DetectorEngine, prow: int, now: float) -> list[dict[str, Any]]:
    """Spans of hours by day (per day type) where this PIR home's silences outdid its daytime
    cap again and again (detectors.routine.blind_about): its sensors miss the resident then, so
    the switches' cap holds. None in a home of switches, whose cap is that already."""
    hh_f, params = engine.state.hh_f, engine.params
    if not rt.dense_home(hh_f, params, 0, prow, now):
        return []
    cap = float(params[prow, P_ROUTINE_CAP_DENSE_S])
    spans: list[list[Any]] = []  # [day type, first hour, hour after]
    for d, name in ((0, "weekday"), (1, "weekend")):
        for hour in range(int(rt.DAY_FROM_H), int(rt.DAY_TO_H)):
            if not rt.blind_about(hh_f[0], d * 24 + (hour - 18) % 24, cap):
                continue
            if spans and spans[-1][0] == name and spans[-1][2] == hour:
                spans[-1][2] = hour + 1
            else:
                spans.append([name, hour, hour + 1])
    return [{"day_type": n, "from": f"{a:02d}:00", "to": f"{b:02d}:00"} for n, a, b in spans]
