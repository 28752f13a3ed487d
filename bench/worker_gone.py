"""`make bench-worker-gone`: issue 14's bad day in full. One of two ingest workers is gone for
`--minutes` (10 by default) while `bench-latency`'s load runs.

Two static partitions (`--partition 0/2` and `1/2`, docs/ingest.md) of a district whose sites
fall in both; the load generator publishes telemetry for every busy gateway. Worker 1 is killed
(SIGKILL) once the load is at pace, and started again after the outage. Meanwhile panic buttons
are pressed behind both partitions' quiet gateways, one every `--gap` seconds, alternating:

- the survivor's presses must reach the console's live stream as fast as ever (p99 ≤ 250 ms,
  its event lane ahead of its telemetry);
- the gone worker's presses wait in its partition's events session and must all arrive once it
  is back;
- the broker's resident memory and persistence file are sampled every 10 s: bounded by the
  sessions' byte bounds (vigil/stack.py), not by the outage's length;
- once the load stops and the worker has drained its backlog, every reading offered is stored
  once, less what the broker reports it shed ($SYS dropped count, in messages; the broker is
  restarted at the start so the count is this run's).

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from websockets.sync.client import connect

from bench.alerting import LiveClient, live_headers, percentile
from bench.latency import (
    FRAMES_PER_MESSAGE,
    Load,
    Presser,
    load_streams,
    press_targets,
    readings_stored,
)
from bench.loadgen import forget_sessions
from firmware_sim.district import District, build_district, seed
from ingest.broker_watch import DROPPED_TOPIC, BrokerWatch
from ingest.partition import Partition
from vigil.harness import free_port, start_vigil, stop_process, vigil_process, wait_for_port
from vigil.settings import Settings
from vigil.stack import MAX_QUEUED_BYTES, LocalStack

SAMPLE_S = 10.0
DEVICES_PER_GATEWAY = 25
Target = tuple[str, str, str, str]  # site, gateway, device, household


def partitioned_district(gateways: int) -> tuple[District, dict[int, list[str]]]:
    """A district whose sites fall in both partitions; each partition's gateway ids."""
    district = build_district(11, gateways, DEVICES_PER_GATEWAY)
    by_part: dict[int, list[str]] = {0: [], 1: []}
    for g in district.gateways:
        index = next(i for i in (0, 1) if Partition(i, 2).owns(g.site_id))
        by_part[index].append(g.id)
    if not by_part[0] or not by_part[1]:
        raise SystemExit(f"{gateways} gateways put every site in one partition: use more")
    return district, by_part


class BrokerSampler:
    """The broker's resident memory, its persistence file and its dropped count over time."""

    def __init__(self, stack: LocalStack, settings: Settings) -> None:
        pid = stack.mqtt_pid()
        if pid is None:
            raise RuntimeError("the stack's broker is not running")
        self.pid = pid
        self.db = stack.paths.mqtt_data / "mosquitto.db"
        self.rss_mb: list[float] = []
        self.file_mb: list[float] = []
        self.watch = BrokerWatch("stack")  # ingest's own reading of the dropped count
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, f"bench-gone-{uuid.uuid4().hex[:6]}"
        )
        self._client.username_pw_set(
            settings.mqtt_username, settings.mqtt_password.get_secret_value()
        )
        self._client.on_connect = lambda c, *_: c.subscribe(DROPPED_TOPIC)
        self._client.on_message = lambda _c, _u, m: self.watch.on_sys(
            m.topic, bytes(m.payload), retained=bool(m.retain)
        )
        port = settings.mqtt_port if settings.mqtt_port is not None else settings.stack_mqtt_port
        self._client.connect(settings.mqtt_host, port)
        self._client.loop_start()

    @property
    def dropped(self) -> int:
        return self.watch.figures.dropped or 0

    def sample(self) -> None:
        status = Path(f"/proc/{self.pid}/status").read_text()
        rss_kb = next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")
        )
        self.rss_mb.append(rss_kb / 1024)
        self.file_mb.append(self.db.stat().st_size / 2**20 if self.db.exists() else 0.0)

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


@dataclass
class Presses:
    """Press times by household: the survivor's, the gone worker's."""

    survivor: dict[str, float] = field(default_factory=dict)
    gone: dict[str, float] = field(default_factory=dict)

    def during(
        self,
        presser: Presser,
        sampler: BrokerSampler,
        targets: tuple[list[Target], list[Target]],
        seconds: float,
        gap_s: float,
    ) -> None:
        """Alternate presses behind the survivor and the gone worker; sample the broker."""
        start = next_sample = time.monotonic()
        turn = 0
        while time.monotonic() - start < seconds:
            if time.monotonic() >= next_sample:
                sampler.sample()
                next_sample += SAMPLE_S
            pressed = (self.survivor, self.gone)[turn % 2]
            todo = targets[turn % 2]
            if len(pressed) < len(todo):
                target = todo[len(pressed)]
                pressed[target[3]] = presser.press(target)
            turn += 1
            time.sleep(gap_s / 2)

    def report(self, seen: dict[str, float]) -> dict[str, float | int | str]:
        ms = [(seen[h] - t) * 1000 for h, t in self.survivor.items() if h in seen]
        return {
            "survivor_presses": len(self.survivor),
            "survivor_received": len(ms),
            "survivor_p50_ms": round(percentile(ms, 50), 1) if ms else -1,
            "survivor_p99_ms": round(percentile(ms, 99), 1) if ms else -1,
            "survivor_max_ms": round(max(ms), 1) if ms else -1,
            "gone_presses": len(self.gone),
            "gone_presses_received_after_return": sum(h in seen for h in self.gone),
        }


def wait_stored(dsn: str, offered: int, timeout: float) -> int:
    """Readings stored once the backlogs are drained: all offered, or no change for 15 s."""
    stored, still = readings_stored(dsn), 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and stored < offered and still < 3:
        time.sleep(5.0)
        now = readings_stored(dsn)
        still = still + 1 if now == stored else 0
        stored = now
    return stored


def errors_in(log: Path) -> int:
    """Lines of a service's log that report an error."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return sum(("ERROR" in line or "Traceback" in line) for line in text.splitlines())


def run_bench(
    settings: Settings,
    stack: LocalStack,
    dsn: str,
    *,
    load: float,
    minutes: float,
    gateways: int,
    gap_s: float,
    workdir: Path,
) -> dict[str, float | int | str]:
    district, by_part = partitioned_district(gateways)
    with psycopg.connect(dsn, autocommit=True) as conn:
        seed(conn, district)
    quiet = {i: ids[: max(1, len(ids) // 4)] for i, ids in by_part.items()}
    targets = (press_targets(district, quiet[0]), press_targets(district, quiet[1]))
    busy = [g for i in (0, 1) for g in by_part[i][len(quiet[i]) :]]
    mqtt_port = settings.mqtt_port if settings.mqtt_port is not None else settings.stack_mqtt_port
    env = {
        **os.environ,
        "VIGIL_DATABASE_URL": dsn,
        "VIGIL_MQTT_PORT": str(mqtt_port),
        "VIGIL_VAR_DIR": str(workdir),
        "VIGIL_LOG_LEVEL": "WARNING",
        "VIGIL_METRICS_PORT": "0",
    }
    prefix = f"bench-gone-{uuid.uuid4().hex[:6]}"
    worker = ["ingest", "run", "--client-prefix", prefix, "--partition"]
    port = free_port()
    sampler = BrokerSampler(stack, settings)
    presser = Presser(settings)
    presses = Presses()
    gone = start_vigil([*worker, "1/2"], env, workdir / "ingest-1.log")
    try:
        with (
            vigil_process([*worker, "0/2"], env, workdir / "ingest-0.log"),
            vigil_process(["alerting", "run"], env, workdir / "alerting.log"),
            vigil_process(["console", "run", "--port", str(port)], env, workdir / "serve.log"),
        ):
            wait_for_port(port)
            time.sleep(3.0)  # the workers subscribe and load the registry
            url = f"ws://127.0.0.1:{port}/api/live"
            with connect(url, open_timeout=10, additional_headers=live_headers(dsn)) as ws:
                client = LiveClient(ws)
                with Load(settings, load_streams(district, busy), load) as gen:
                    time.sleep(5.0)  # the load reaches its pace
                    stored0, t0 = readings_stored(dsn), time.monotonic()
                    gone.send_signal(signal.SIGKILL)
                    gone.wait()
                    presses.during(presser, sampler, targets, minutes * 60, gap_s)
                    outage_s = time.monotonic() - t0
                    stored_outage = readings_stored(dsn) - stored0
                    early = sum(h in client.first_seen for h in presses.gone)  # must be 0
                    gone = start_vigil([*worker, "1/2"], env, workdir / "ingest-1.log")
                    back = time.monotonic()
                    # The returning worker drains its backlog while the load goes on.
                    everyone = [*presses.survivor, *presses.gone]
                    while time.monotonic() - back < 120:
                        if all(h in client.first_seen for h in everyone):
                            break
                        time.sleep(0.1)
                    back_s = time.monotonic() - back
                    offered = gen.offered
                stored = wait_stored(dsn, offered, timeout=600)
                sampler.sample()
                seen = dict(client.first_seen)
    finally:
        stop_process(gone)
        sampler.close()
        presser.close()
        for part in ("0of2", "1of2"):
            forget_sessions(settings, f"{prefix}-{part}")
    return presses.report(seen) | {
        "minutes_gone": round(outage_s / 60, 2),
        "partitions_gateways": f"{len(by_part[0])}/{len(by_part[1])}",
        "load_offered_readings": offered,
        "load_offered_per_s": load,
        "stored_per_s_during_outage": round(stored_outage / outage_s),
        "gone_presses_seen_before_return": early,
        "seconds_to_every_press_after_return": round(back_s, 1),
        "broker_rss_mb_first": round(sampler.rss_mb[0], 1),
        "broker_rss_mb_max": round(max(sampler.rss_mb), 1),
        "broker_file_mb_max": round(max(sampler.file_mb), 1),
        "session_bound_mb": MAX_QUEUED_BYTES / 2**20,
        "broker_dropped_messages": sampler.dropped,
        "readings_stored": stored,
        "readings_missing": max(0, offered - stored),
        # Shed whole messages of the load: FRAMES_PER_MESSAGE frames of 3 readings each.
        "readings_shed": sampler.dropped * FRAMES_PER_MESSAGE * 3,
        "log_errors": sum(errors_in(workdir / f"ingest-{i}.log") for i in (0, 1)),
    }


def main(argv: list[str] | None = None) -> None:
    from vigil.db.timescale import Retention
    from vigil.harness import scratch_database
    from vigil.settings import get_settings

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--load", type=float, default=55_000.0, help="readings per second offered")
    parser.add_argument("--minutes", type=float, default=10.0, help="how long worker 1 is gone")
    parser.add_argument("--gap", type=float, default=10.0, help="seconds between two presses")
    parser.add_argument("--gateways", type=int, default=60, help="district gateways (20 a site)")
    args = parser.parse_args(argv)
    settings = get_settings()
    stack = LocalStack(settings)
    started_here = not stack.status()["postgres"]["running"]
    stack.up()
    # A broker started for the run: its dropped count (since it started) is this run's, and its
    # memory starts from its base (Mosquitto keeps what it once held).
    stack.stop_mqtt()
    stack.start_mqtt()
    retention = Retention(settings.raw_retention_days, settings.rollup_retention_days)
    try:
        # The services' logs are kept: the run is long and its books are worth reading.
        workdir = settings.var_dir / "bench" / time.strftime("worker-gone-%Y%m%d-%H%M%S")
        workdir.mkdir(parents=True)
        with scratch_database(stack, prefix="bench_gone", retention=retention) as dsn:
            result = run_bench(
                settings,
                stack,
                dsn,
                load=args.load,
                minutes=args.minutes,
                gateways=args.gateways,
                gap_s=args.gap,
                workdir=workdir,
            )
    finally:
        if started_here:
            stack.down()
    result["target_survivor_p99_ms"] = 250.0
    result["logs"] = str(workdir)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
