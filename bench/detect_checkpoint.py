"""`python -m bench.detect_checkpoint [DEVICES]`: what a checkpoint of the detector stage costs.

The copy on the engine thread (CPU and wall), the write with its fsyncs on the writer thread,
the file's size, the longest pause another Python thread (the decoder) sees during each, and
the load at start. Figures in docs/detectors.md. The last line printed is one JSON object.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.detect import make_stream
from detectors.engine import DetectorEngine
from ingest.detection.checkpoint import write_atomic
from vigil.settings import get_settings


def _timed(work: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Median wall and thread-CPU seconds of `work`."""
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.thread_time()
        work()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.thread_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def _longest_pause(work: Callable[[], Any]) -> float:
    """The longest gap between two steps of a busy Python thread while `work` runs here."""
    stop = threading.Event()
    gaps: list[float] = []

    def spin() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            now = time.perf_counter()
            gaps.append(now - last)
            last = now
            sum(range(200))

    spinner = threading.Thread(target=spin)
    spinner.start()
    time.sleep(0.2)
    gaps.clear()
    work()
    stop.set()
    spinner.join()
    return max(gaps, default=0.0)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    n = int(args[0]) if args else 100_000
    stream = make_stream(n, 2)
    engine = DetectorEngine(stream.devices)
    engine.process(stream.batch)
    first_wall, first_cpu = _timed(engine.snapshot, 1)  # serialises the device list once
    snap_wall, snap_cpu = _timed(engine.snapshot, 10)
    snapshot = engine.snapshot()
    var = get_settings().var_dir
    var.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=var, prefix="bench-checkpoint-"))
    try:
        path = folder / "engine.npz"
        write_wall, write_cpu = _timed(lambda: write_atomic(path, snapshot), 5)
        result = {
            "devices": n,
            "households": len(engine.registry.households),
            "first_snapshot_cpu_ms": round(first_cpu * 1e3, 1),
            "first_snapshot_wall_ms": round(first_wall * 1e3, 1),
            "snapshot_cpu_ms": round(snap_cpu * 1e3, 1),
            "snapshot_wall_ms": round(snap_wall * 1e3, 1),
            "write_fsync_wall_ms": round(write_wall * 1e3, 1),
            "write_fsync_cpu_ms": round(write_cpu * 1e3, 1),
            "file_mb": round(path.stat().st_size / 1e6, 1),
            "idle_pause_ms": round(_longest_pause(lambda: time.sleep(0.3)) * 1e3, 1),
            "pause_during_snapshot_ms": round(_longest_pause(engine.snapshot) * 1e3, 1),
            "pause_during_write_ms": round(
                _longest_pause(lambda: write_atomic(path, snapshot)) * 1e3, 1
            ),
        }
        load_wall, _ = _timed(lambda: DetectorEngine.load(path), 1)
        result["load_wall_ms"] = round(load_wall * 1e3)
        assert np.array_equal(DetectorEngine.load(path).state.dev, engine.state.dev)
    finally:
        shutil.rmtree(folder)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
