"""`python -m ingest.warm` (the image's build step) leaves every kernel ingest calls in numba's
cache: a worker started afterwards on that cache, reading a gateway stream through the service's
own path, compiles nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from vigil.settings import REPO_ROOT

# A worker's first messages: the load generator's batches through both readers, the COPY encoder
# and the liveness fold, then every ingest kernel's cache figures.
WORKER = """
import importlib, json, time
from numba.core.registry import CPUDispatcher
from bench.loadgen import Layout, streams
from ingest.copy_binary import encode_readings
from ingest.liveness import DeviceFold
from ingest.registry import Registry
from ingest.validate import Window, check, check_plain
from ingest.wire import parse

layout = Layout.make("cold", 2, 5)
rows = [(d, "smoke", g, i + 1) for g, ds in layout.gateways.items() for i, d in enumerate(ds)]
registry = Registry().apply(1, [(g, "cold") for g in layout.gateways], rows)
window = Window(max_future_s=300.0, max_age_s=86400.0)
now = time.time()
taken = []
for stream in streams(layout):
    topic, payload, _ = stream.message(4, now)
    taken += [check_plain(topic, payload, registry, window, now),
              check(parse(topic, payload), payload, registry, window, now)]
fold = DeviceFold()
for checked in taken:
    encode_readings(checked.readings, registry.device_key)
    fold.add_readings([checked.readings])
figures = {}
for name in ("msgpack_columns", "reading_checks", "copy_binary", "liveness"):
    for attr, value in vars(importlib.import_module("ingest." + name)).items():
        if isinstance(value, CPUDispatcher) and value.signatures:
            stats = value.stats
            figures[f"{name}.{attr}"] = [sum(stats.cache_hits.values()),
                                         sum(stats.cache_misses.values())]
print(json.dumps({"readings": sum(len(c.readings) for c in taken), "kernels": figures}))
"""


def _run(args: list[str], cache: Path) -> str:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    done = subprocess.run(
        [sys.executable, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_worker_after_the_warm_up_compiles_nothing(tmp_path: Path) -> None:
    said = _run(["-m", "ingest.warm"], tmp_path / "warm")
    assert "numba" in said
    worker = json.loads(_run(["-c", WORKER], tmp_path / "warm"))
    assert worker["readings"] == 2 * 2 * 4 * 3
    # The kernels the service calls from Python; those they call are inside their machine code.
    called = {"msgpack_columns._read", "reading_checks._reasons", "copy_binary._write_rows",
              "liveness._fold"}  # fmt: skip
    assert called <= set(worker["kernels"])
    for kernel, (hits, misses) in worker["kernels"].items():
        assert misses == 0, f"{kernel} compiled again after the warm-up"
        assert hits >= 1, f"{kernel} was not loaded from the cache"
