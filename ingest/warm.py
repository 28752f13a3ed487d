"""Compile ingest's numba kernels into numba's cache ahead of the first message.

numba compiles a `cache=True` kernel on its first call and keeps the machine code on disk
(NUMBA_CACHE_DIR). A worker started on an empty cache spends several seconds compiling the
MessagePack reader, the reading checks, the COPY encoder and the liveness fold while its first
messages wait. The image runs `python -m ingest.warm` once at build time (Dockerfile), so that
the cache volume starts full. Every kernel is reached through the path the service takes, so
the cached signatures are the ones the service asks for.
"""

from __future__ import annotations

import time

from ingest.copy_binary import encode_readings
from ingest.liveness import DeviceFold
from ingest.registry import Registry
from ingest.validate import Checked, Window, check, check_plain
from ingest.wire import parse
from vigil.codec import TelemetryBatch, encode
from vigil.topics import Topic

SITE = "warm"
GATEWAY = "warm-gw"
DEVICE = "warm-sd"
FRAME = ("smoke_obscuration", "temperature", "battery")


def sample(now: float) -> tuple[str, bytes]:
    """One gateway's telemetry batch of one smoke detector's frame, as a gateway sends it."""
    batch = TelemetryBatch(
        gw=GATEWAY,
        gseq=1,
        sent=now,
        dev=[DEVICE] * len(FRAME),
        seq=[1] * len(FRAME),
        ts=[now - 1.0] * len(FRAME),
        rx=[now - 0.5] * len(FRAME),
        metric=list(FRAME),
        value=[0.01, 21.5, 3.0],
    )
    return str(Topic.telemetry(SITE, GATEWAY)), encode(batch)


def warm(now: float | None = None) -> list[Checked]:
    """Run the sample through both readers, the COPY encoder and the liveness fold; the checked
    messages, so a caller can see that every path took it."""
    now = time.time() if now is None else now
    topic, payload = sample(now)
    registry = Registry().apply(1, [(GATEWAY, SITE)], [(DEVICE, "smoke", GATEWAY, 1)])
    window = Window(max_future_s=300.0, max_age_s=86400.0)
    fast = check_plain(topic, payload, registry, window, now)
    slow = check(parse(topic, payload), payload, registry, window, now)
    taken = [c for c in (fast, slow) if c is not None]
    for checked in taken:
        encode_readings(checked.readings, registry.device_key)
        DeviceFold().add_readings([checked.readings])
    return taken


def main() -> None:
    began = time.perf_counter()
    taken = warm()
    if len(taken) != 2 or any(len(c.readings) != len(FRAME) for c in taken):
        raise SystemExit("ingest.warm: the sample batch was not read as three readings")
    print(f"ingest kernels compiled into numba's cache in {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main()
