"""`make bench-latency`: a panic press to the console's live stream, through the whole pipeline,
under a background load.

A simulated district is written to a database of its own; `vigil ingest run` (with the detector
stage), `vigil alerting run` and `vigil console run` run as their own processes. A load
generator (a process of its own) publishes smoke-detector telemetry as the district's gateways
would (MessagePack batches, QoS 1) at `--load` readings per second; meanwhile panic presses are
published as event batches of the gateways kept free of load, one household at a time, each
stamped with the device time of the press. A WebSocket client on /api/live notes when each
household's incident arrives. The load figure is what ingest stored per second, not what was
offered; per-hop spans come from incidents.hops. The last line printed is one JSON object,
with the same run's INSERT + NOTIFY round trip as the baseline.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import tempfile
import time
import uuid
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

import psycopg
from websockets.sync.client import connect

from bench.alerting import (
    LiveClient,
    live_headers,
    notify_baseline,
    percentile,
)
from bench.loadgen import GatewayStream, Publisher, forget_session
from firmware_sim.district import District, build_district, seed
from vigil.codec import Encoding, Event, EventBatch, encode
from vigil.harness import free_port, scratch_database, vigil_process, wait_for_port
from vigil.settings import Settings
from vigil.topics import Topic

LOAD_TYPES = frozenset({"smoke", "multi"})  # their frames carry the load stream's metrics
FRAMES_PER_MESSAGE = 100  # 300 readings: a busy gateway's batch
# Per-hop spans from incidents.hops, to see where the tail comes from.
HOPS = {
    "to_ingest": ("device", "ingest"),
    "detector": ("ingest", "detector"),
    "alerting": ("detector", "committed"),
    "to_live": ("committed", "pushed"),
}


def load_streams(district: District, gateways: list[str]) -> list[GatewayStream]:
    site = {g.id: g.site_id for g in district.gateways}
    return [
        GatewayStream(
            site[gw],
            gw,
            [d.id for d in district.devices if d.gateway_id == gw and d.type in LOAD_TYPES],
        )
        for gw in gateways
    ]


def _publish_load(
    settings: Settings,
    streams: list[GatewayStream],
    rate: float,
    stop: EventType,
    offered: Synchronized[int],
) -> None:
    """The load process: `rate` readings per second, round robin over the streams."""
    publisher = Publisher(settings, window=2000)
    start = time.monotonic()
    sent = n = 0
    try:
        while not stop.is_set():
            if sent >= (time.monotonic() - start) * rate:
                time.sleep(0.002)
                continue
            topic, payload, readings = streams[n % len(streams)].message(FRAMES_PER_MESSAGE)
            publisher.publish([(topic, payload)])
            sent += readings
            n += 1
            offered.value = sent
    finally:
        publisher.close()


class Load:
    """The load generator in a process of its own, so it does not hold up the presses."""

    def __init__(self, settings: Settings, streams: list[GatewayStream], rate: float) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._stop = ctx.Event()
        self._offered: Synchronized[int] = ctx.Value("q", 0)
        busy = [s for s in streams if s.devices]
        self._proc = ctx.Process(
            target=_publish_load,
            args=(settings, busy, rate, self._stop, self._offered),
            name="bench-load",
        )

    @property
    def offered(self) -> int:
        return int(self._offered.value)

    def __enter__(self) -> Load:
        self._proc.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._proc.join(30)
        if self._proc.is_alive():
            self._proc.kill()


def press_targets(district: District, gateways: list[str]) -> list[tuple[str, str, str, str]]:
    """(site, gateway, device, household) of one panic button per household behind them."""
    site = {g.id: g.site_id for g in district.gateways}
    seen: set[str] = set()
    out = []
    for d in district.devices:
        if d.type == "panic" and d.gateway_id in gateways and d.household_id not in seen:
            assert d.household_id is not None
            seen.add(d.household_id)
            out.append((site[d.gateway_id], d.gateway_id, d.id, d.household_id))
    return out


class Presser:
    """Panic presses as the gateways publish them, each gateway's batches numbered on."""

    def __init__(self, settings: Settings) -> None:
        self.publisher = Publisher(settings, window=10)
        self.gseq: dict[str, int] = {}

    def press(self, target: tuple[str, str, str, str]) -> float:
        """One press of (site, gateway, device, household); returns its time."""
        site, gw, dev, _household = target
        t = time.time()
        self.gseq[gw] = self.gseq.get(gw, 0) + 1
        event = Event(dev=dev, seq=1, ts=t, rx=t, kind="button")
        batch = EventBatch(gw=gw, gseq=self.gseq[gw], sent=t, events=[event])
        self.publisher.publish([(str(Topic.event(site, gw)), encode(batch, Encoding.MSGPACK))])
        return t

    def close(self) -> None:
        self.publisher.close()


def press(
    settings: Settings, targets: list[tuple[str, str, str, str]], gap_s: float
) -> dict[str, float]:
    """Publish one press per target, `gap_s` apart; returns each household's press time."""
    presser = Presser(settings)
    pressed: dict[str, float] = {}
    try:
        for target in targets:
            pressed[target[3]] = presser.press(target)
            time.sleep(gap_s)
    finally:
        presser.close()
    return pressed


def readings_stored(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("select count(*) from readings").fetchone()
    return int(str(row[0])) if row else 0


def run_bench(
    settings: Settings, dsn: str, *, load: float, presses: int, gateways: int, workdir: Path
) -> dict[str, float | int]:
    district = build_district(11, gateways, 50)
    with psycopg.connect(dsn, autocommit=True) as conn:
        seed(conn, district)
    ids = [g.id for g in district.gateways]
    quiet = ids[: max(1, len(ids) // 4)]  # presses only: their panic buttons start no incident
    targets = press_targets(district, quiet)[:presses]
    mqtt_port = settings.mqtt_port if settings.mqtt_port is not None else settings.stack_mqtt_port
    env = {
        **os.environ,
        "VIGIL_DATABASE_URL": dsn,
        "VIGIL_MQTT_PORT": str(mqtt_port),
        "VIGIL_VAR_DIR": str(workdir),
        "VIGIL_LOG_LEVEL": "WARNING",
        "VIGIL_METRICS_PORT": "0",
    }
    port = free_port()
    prefix = f"bench-latency-{uuid.uuid4().hex[:6]}"
    try:
        with (
            vigil_process(
                ["ingest", "run", "--client-prefix", prefix], env, workdir / "ingest.log"
            ),
            vigil_process(["alerting", "run"], env, workdir / "alerting.log"),
            vigil_process(["console", "run", "--port", str(port)], env, workdir / "serve.log"),
        ):
            wait_for_port(port)
            time.sleep(3.0)  # ingest subscribes and loads the registry
            url = f"ws://127.0.0.1:{port}/api/live"
            with connect(url, open_timeout=10, additional_headers=live_headers(dsn)) as ws:
                client = LiveClient(ws)
                with Load(settings, load_streams(district, ids[len(quiet) :]), load) as gen:
                    time.sleep(5.0)  # the load reaches its pace
                    stored0, t0 = readings_stored(dsn), time.monotonic()
                    pressed = press(settings, targets, gap_s=0.5)
                    deadline = time.monotonic() + 15
                    while len(client.first_seen) < len(pressed) and time.monotonic() < deadline:
                        time.sleep(0.05)
                    stored1, t1 = readings_stored(dsn), time.monotonic()
                    offered = gen.offered
    finally:
        # The broker keeps a persistent session and queues the next runs' load into it.
        for lane in ("", "-events"):
            forget_session(settings, f"{prefix}-0of1{lane}")
    result: dict[str, float | int] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        hops = [
            row[0]
            for row in conn.execute(
                "select hops from incidents where household_id = any(%s)", (list(pressed),)
            )
        ]
    for name, (start, end) in HOPS.items():
        spans = [(h[end] - h[start]) * 1000 for h in hops if start in h and end in h]
        if spans:
            result[f"{name}_p50_ms"] = round(percentile(spans, 50), 1)
            result[f"{name}_p95_ms"] = round(percentile(spans, 95), 1)
            result[f"{name}_max_ms"] = round(max(spans), 1)
    latencies = [
        (client.first_seen[h] - t) * 1000 for h, t in pressed.items() if h in client.first_seen
    ]
    if not latencies:
        raise RuntimeError(f"no press reached the live stream; see logs in {workdir}")
    return result | {
        "presses": len(pressed),
        "received": len(latencies),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "max_ms": round(max(latencies), 1),
        "load_offered_readings": offered,
        "load_readings_per_s": round((stored1 - stored0) / (t1 - t0)),
    }


def main(argv: list[str] | None = None) -> None:
    from vigil.db.timescale import Retention
    from vigil.settings import get_settings
    from vigil.stack import LocalStack

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    # Offered above the issue's 50,000/s floor, so what is stored over the presses' window (its
    # edges cost a few hundred readings/s) stays above it.
    parser.add_argument("--load", type=float, default=55_000.0, help="readings per second offered")
    parser.add_argument("--presses", type=int, default=30)
    parser.add_argument(
        "--gateways", type=int, default=8, help="district gateways, 50 devices each"
    )
    args = parser.parse_args(argv)
    settings = get_settings()
    stack = LocalStack(settings)
    started_here = not stack.status()["postgres"]["running"]
    stack.up()
    retention = Retention(settings.raw_retention_days, settings.rollup_retention_days)
    try:
        with (
            scratch_database(stack, prefix="bench_latency", retention=retention) as dsn,
            tempfile.TemporaryDirectory(prefix="vigil-bench-latency-") as workdir,
        ):
            result = run_bench(
                settings,
                dsn,
                load=args.load,
                presses=args.presses,
                gateways=args.gateways,
                workdir=Path(workdir),
            )
            # The floor in the same run: one INSERT + NOTIFY seen by a LISTEN client.
            baseline = percentile(notify_baseline(dsn, count=args.presses, rate=2.0), 50)
            result["baseline_notify_p50_ms"] = round(baseline, 2)
            ratio = float(result["p50_ms"]) / max(baseline, 1e-3)
            result["p50_ratio_to_notify"] = round(ratio, 1)
    finally:
        if started_here:
            stack.down()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
