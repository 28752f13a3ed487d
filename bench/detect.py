"""`make bench-detect`: detector throughput on a realistic mix for 100,000 devices.

The stream: devices behind gateways of 50 (neighbouring slots, as an installer registers a
building), every gateway sending one message per minute with its devices' reports, gateways in
random order within the minute. Per device type: smoke (50 %: obscuration, temperature),
heat (10 %), multi (10 %: smoke, temperature, CO), panic (10 %: battery heartbeat), PIR (15 %:
motion when someone moves), door (5 %); batteries every tenth report; a few fires, cooking
plumes, low batteries and silent devices so the alert path runs too.

Figures, all from this run: the numba core on one thread, the same with one thread per core,
the plain-Python reference (bench/naive_detectors.py) on a prefix of the same stream, their
ratio, and the wall time of three new processes that each import the detectors and score their
first batch from the compile cache (detectors.aot's build, else numba's cache), the slowest
reported. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detectors.codes import BATTERY, CO, DOOR, METRICS, MOTION, SMOKE, TEMPERATURE
from detectors.engine import Batch, DetectorEngine, set_threads
from detectors.registry import Device

MIX = {"smoke": 0.5, "heat": 0.1, "multi": 0.1, "panic": 0.1, "pir": 0.15, "door": 0.05}
GATEWAY_SIZE = 50
BATCH_ROWS = 50_000

WARM_START_SCRIPT = """
import time
import numpy as np
from detectors.aot import kernels
from detectors.engine import Batch, DetectorEngine
from detectors.registry import Device
engine = DetectorEngine([Device("sd-1", "smoke", "hh-1"), Device("pir-1", "pir", "hh-1")])
engine.process(Batch.of(np.array([1.0, 2.0]), np.array([0, 1], np.int32),
                        np.array([0, 6], np.int8), np.array([0.1, 1.0])))
engine.tick(3.0)
print(time.time(), kernels().source)
"""


@dataclass(frozen=True)
class Stream:
    devices: list[Device]
    batch: Batch


def _frames(
    types: npt.NDArray[np.str_], rng: np.random.Generator, round_no: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int8]]:
    """(slot, metric) rows of one round's reports, grouped by device."""
    slots: list[npt.NDArray[np.int64]] = []
    metrics: list[npt.NDArray[np.int8]] = []
    battery = [BATTERY] if round_no % 10 == 0 else []
    reports = {
        "smoke": ([SMOKE, TEMPERATURE, *battery], 1.0),
        "heat": ([TEMPERATURE, *battery], 1.0),
        "multi": ([SMOKE, TEMPERATURE, CO, *battery], 1.0),
        "panic": (battery, 1.0),
        "pir": ([MOTION], 0.3),  # someone moved in front of it this minute
        "door": ([DOOR], 0.05),
    }
    for name, (codes, share) in reports.items():
        idx = np.flatnonzero(types == name)
        if share < 1.0:
            idx = idx[rng.random(idx.size) < share]
        for code in codes:
            slots.append(idx)
            metrics.append(np.full(idx.size, code, dtype=np.int8))
    slot = np.concatenate(slots)
    metric = np.concatenate(metrics)
    order = np.argsort(slot, kind="stable")  # a device's readings of one report together
    return slot[order], metric[order]


def make_stream(n_devices: int, rounds: int, seed: int = 7) -> Stream:
    rng = np.random.default_rng(seed)
    names = list(MIX)
    types = rng.choice(names, size=n_devices, p=list(MIX.values()))
    devices = [
        Device(f"dev-{i:06d}", str(t), f"hh-{i // 3:06d}", gateway_id=f"gw-{i // GATEWAY_SIZE}")
        for i, t in enumerate(types)
    ]
    n_gw = (n_devices + GATEWAY_SIZE - 1) // GATEWAY_SIZE
    fires = rng.choice(np.flatnonzero(types == "smoke"), size=5, replace=False)
    parts = []
    for r in range(rounds):
        slot, metric = _frames(types, rng, r)
        gw = slot // GATEWAY_SIZE
        send_at = rng.permutation(n_gw)[gw]  # gateways in random order within the minute
        order = np.argsort(send_at, kind="stable")
        slot, metric = slot[order], metric[order]
        ts = r * 60.0 + send_at[order] * (60.0 / n_gw) + rng.uniform(0, 0.5, slot.size)
        value = _values(metric, slot, r, rng, fires)
        parts.append((ts, slot, metric, value))
    ts, slot, metric, value = (np.concatenate(c) for c in zip(*parts, strict=True))
    epoch = 1_763_780_000.0
    return Stream(devices, Batch.of(ts + epoch, slot.astype(np.int32), metric, value))


def _values(
    metric: npt.NDArray[np.int8],
    slot: npt.NDArray[np.int64],
    round_no: int,
    rng: np.random.Generator,
    fires: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    n = metric.size
    value = np.ones(n)
    value[metric == SMOKE] = np.abs(rng.normal(0.3, 0.1, int((metric == SMOKE).sum())))
    value[metric == TEMPERATURE] = rng.normal(22.0, 0.2, int((metric == TEMPERATURE).sum()))
    value[metric == CO] = np.abs(rng.normal(1.0, 0.5, int((metric == CO).sum())))
    batt = metric == BATTERY
    value[batt] = np.where(slot[batt] % 997 == 0, 2.4, 3.0)  # about 0.1 % low batteries
    value[metric == DOOR] = rng.integers(0, 2, int((metric == DOOR).sum()))
    burning = np.isin(slot, fires) & (round_no >= 5)
    value[burning & (metric == SMOKE)] += 2.0 * (round_no - 4)
    value[burning & (metric == TEMPERATURE)] += 3.0 * (round_no - 4)
    return value


def _chunks(batch: Batch, rows: int) -> list[Batch]:
    return [
        Batch.of(*(col[lo : lo + rows] for col in batch.columns()))
        for lo in range(0, len(batch), rows)
    ]


def time_engine(stream: Stream, threads: int, repeats: int) -> tuple[float, int]:
    """Best readings/s over `repeats` fresh engines, and the alerts of the last run."""
    chunks = _chunks(stream.batch, BATCH_ROWS)
    warm = DetectorEngine(stream.devices[:10], threads=threads)
    b = stream.batch
    warm.process(Batch.of(b.ts[:5], np.arange(5, dtype=np.int32), b.metric[:5], b.value[:5]))
    best = 0.0
    alerts = 0
    for _ in range(repeats):
        engine = DetectorEngine(stream.devices, threads=threads)
        start = time.perf_counter()
        alerts = sum(len(engine.process(chunk)) for chunk in chunks)
        best = max(best, len(stream.batch) / (time.perf_counter() - start))
    return best, alerts


def time_reference(stream: Stream, rows: int) -> float:
    from bench.naive_detectors import NaiveDetectors
    from detectors.policy import Policy

    b = stream.batch
    data = list(
        zip(
            b.ts[:rows].tolist(),
            b.slot[:rows].tolist(),
            b.metric[:rows].tolist(),
            b.value[:rows].tolist(),
            b.received_at[:rows].tolist(),
            strict=True,
        )
    )
    naive = NaiveDetectors(stream.devices, Policy.load())
    start = time.perf_counter()
    naive.process(data)
    return len(data) / (time.perf_counter() - start)


FLOOR_SCRIPT = "import time, numpy; print(time.time(), 'numpy')"


@dataclass(frozen=True)
class WarmStart:
    runs: list[float]  # seconds from starting a new interpreter to its first scored batch
    kernels: str  # what that process ran: "aot" (detectors.aot) or "jit" (numba's cache)
    floor: list[float]  # the same for an interpreter that only imports numpy, run in between


def _spawn_to_print(script: str) -> tuple[float, str]:
    """Seconds from just before a new interpreter is spawned (wall clock) to the clock it
    prints, and the word it prints after it."""
    spawned = time.time()
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    ).stdout.split()
    return float(out[0]) - spawned, out[1]


def warm_start(repeats: int = 3) -> WarmStart:
    """New interpreters that import the detectors and score a batch and a tick; each one
    followed by one that only imports numpy, the floor on this machine at that moment."""
    runs, floor, used = [], [], set()
    for _ in range(repeats):
        seconds, source = _spawn_to_print(WARM_START_SCRIPT)
        runs.append(seconds)
        used.add(source)
        floor.append(_spawn_to_print(FLOOR_SCRIPT)[0])
    return WarmStart(runs, "+".join(sorted(used)), floor)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=30, help="minutes of reports")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference-rows", type=int, default=200_000)
    args = parser.parse_args(argv)

    stream = make_stream(args.devices, args.rounds)
    counts = np.bincount(stream.batch.metric, minlength=len(METRICS))
    mix = {METRICS[i]: int(c) for i, c in enumerate(counts) if c}
    print(f"{len(stream.batch):,} readings from {args.devices:,} devices: {mix}")
    set_threads(1)
    one, alerts = time_engine(stream, 1, args.repeats)
    print(f"numba, one thread: {one / 1e6:.1f} M readings/s ({alerts} alerts)")
    cores = os.cpu_count() or 1
    set_threads(cores)
    parallel, _ = time_engine(stream, cores, args.repeats)
    print(f"numba, {cores} threads: {parallel / 1e6:.1f} M readings/s")
    reference = time_reference(stream, min(args.reference_rows, len(stream.batch)))
    print(f"plain-Python reference: {reference / 1e6:.2f} M readings/s")
    warm = warm_start()
    runs = ", ".join(f"{t:.3f}" for t in warm.runs)
    floor = ", ".join(f"{t:.3f}" for t in warm.floor)
    print(f"new processes, warm compile cache ({warm.kernels}): {runs} s to the first scored batch")
    print(f"new processes importing numpy alone, in between: {floor} s")
    print(
        json.dumps(
            {
                "readings_per_s": round(one),
                "parallel_readings_per_s": round(parallel),
                "parallel_threads": cores,
                "reference_readings_per_s": round(reference),
                "ratio": round(one / reference, 1),
                "warm_start_s": round(max(warm.runs), 3),  # the slowest of the runs
                "warm_start_runs_s": [round(t, 3) for t in warm.runs],
                "warm_start_kernels": warm.kernels,
                "numpy_import_runs_s": [round(t, 3) for t in warm.floor],
                "devices": args.devices,
                "readings": len(stream.batch),
            }
        )
    )


if __name__ == "__main__":
    main()
