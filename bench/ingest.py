"""`make bench-ingest`: a gateway stream through the real broker into the real database.

Three processes besides the broker and PostgreSQL: a publisher playing the gateways (MessagePack
batches, QoS 1), the ingest worker (`vigil ingest run`, as deployed) and this driver, which
reads the worker's counters and memory once a second. The publisher runs flat out but never
more than `--lead` readings ahead of what is committed, so the broker's backlog stays bounded
and the figure is what ingest sustains, not what the publisher offers.

The naive pipeline (one INSERT per reading in the MQTT callback, a commit per message) gets the
same stream for a shorter time just before ours and again just after, in the same run; the
baseline is the mean of the two. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import psycopg
from prometheus_client.parser import text_string_to_metric_families

from bench import cost
from bench.baseline import NAIVE_TABLE, create_naive_table, run_naive
from bench.loadgen import (
    Layout,
    Publisher,
    forget_session,
    forget_sessions,
    round_robin,
    streams,
)
from vigil.db.timescale import retention_for
from vigil.harness import free_port, scratch_database
from vigil.settings import Settings, get_settings
from vigil.stack import LocalStack

SETTLE_S = 3.0  # measuring starts this long after the first commit at the earliest
START_TIMEOUT_S = 120.0
FRAMES_PER_MESSAGE = 40  # 120 readings, about 6 KB of MessagePack: a busy gateway's batch
BLOCK_PER_GATEWAY = 5  # messages built ahead per gateway: 200 of them, about 1.2 MB


@dataclass(frozen=True)
class Plan:
    seconds: float
    warmup: float
    naive_seconds: float
    gateways: int
    devices_per_gateway: int
    lead: int  # readings the publisher may be ahead of the committed count


@contextmanager
def _database(stack: LocalStack, settings: Settings) -> Iterator[str]:
    with scratch_database(stack, prefix="bench", retention=retention_for(settings)) as dsn:
        yield dsn


@dataclass(frozen=True)
class PublishJob:
    """What the publisher process is handed: shared counters and when to stop."""

    settings: Settings
    layout: Layout
    committed: Synchronized[int]  # readings the consumer has stored, kept current by the driver
    published: Synchronized[int]
    stop: Any  # a multiprocessing Event
    lead: int


def _publish_loop(job: PublishJob) -> None:
    """The gateways: next message from each gateway in turn, as fast as the lead allows."""
    gens = streams(job.layout)
    publisher = Publisher(job.settings, window=2000)
    sent = 0
    while not job.stop.is_set():
        if sent - job.committed.value > job.lead:
            time.sleep(0.005)
            continue
        block = round_robin(gens, BLOCK_PER_GATEWAY, FRAMES_PER_MESSAGE)
        publisher.publish([(topic, payload) for topic, payload, _ in block])
        sent += sum(n for _, _, n in block)
        job.published.value = sent
    publisher.close()
    job.published.value = sent


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass(frozen=True)
class CpuProbe:
    """CPU seconds used so far by each part's process tree: ingest, publisher, broker,
    PostgreSQL (the postmaster: its backends and workers are its children)."""

    roots: dict[str, list[int]]

    @classmethod
    def of(cls, stack: LocalStack, ingest: int, publisher: int) -> CpuProbe:
        status = stack.status()
        return cls(
            {
                "ingest": [ingest],
                "publisher": [publisher],
                "broker": [status["mqtt"]["pid"]],
                "postgres": [status["postgres"]["pid"]],
            }
        )

    def read(self) -> dict[str, float]:
        used = cost.cpu_seconds(self.roots)
        used["machine"] = cost.machine_busy_seconds()
        return used


def _metrics(port: int) -> dict[str, float]:
    """The worker's counters, from its Prometheus `/metrics` (it is the only ingest there)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}"] = sample.value
    dead = [v for k, v in values.items() if k.startswith("vigil_ingest_dead_letters_total{")]
    return {
        "readings": values.get("vigil_ingest_readings_total{outcome=stored}", 0.0),
        "readings_duplicate": values.get("vigil_ingest_readings_total{outcome=duplicate}", 0.0),
        "dead_letters": sum(dead),
        "commit_seconds_sum": values.get("vigil_ingest_commit_seconds_sum{}", 0.0),
        "commits": values.get("vigil_ingest_commit_seconds_count{}", 0.0),
    }


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark: timed out waiting for {what}")
        time.sleep(0.2)


def _start_ingest(
    settings: Settings, dsn: str, client_prefix: str, port: int
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "VIGIL_DATABASE_URL": dsn,
        "VIGIL_STACK_PG_PORT": str(settings.stack_pg_port),
        "VIGIL_STACK_MQTT_PORT": str(settings.stack_mqtt_port),
        # Rollups re-aggregate recent hours each pass: that job is not what is measured here.
        "VIGIL_INGEST_MAINTAIN_INTERVAL_S": "86400",
        "VIGIL_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vigil.cli",
            "ingest",
            "run",
            "--client-prefix",
            client_prefix,
            "--metrics-port",
            str(port),
        ],
        env=env,
    )


def measure_ingest(
    stack: LocalStack, settings: Settings, dsn: str, layout: Layout, plan: Plan
) -> dict[str, Any]:
    port = free_port()
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    proc = _start_ingest(settings, dsn, prefix, port)
    ctx = mp.get_context("spawn")
    committed = ctx.Value("q", 0)
    published = ctx.Value("q", 0)
    stop = ctx.Event()
    try:
        _wait(lambda: _up(port), 60, "the ingest worker's metrics")
        time.sleep(1.0)  # let it subscribe
        job = PublishJob(settings, layout, committed, published, stop, plan.lead)
        pub = ctx.Process(target=_publish_loop, args=(job,))
        pub.start()
        assert pub.pid is not None
        samples: list[tuple[float, int, float]] = []  # (time, readings stored, rss MB)
        earliest = time.monotonic() + plan.warmup
        first_commit: float | None = None
        window: CpuWindow | None = None
        while window is None or time.monotonic() < window.at + plan.seconds:
            snap = _metrics(port)
            committed.value = int(snap["readings"] + snap["readings_duplicate"])
            now = time.monotonic()
            samples.append((now, int(snap["readings"]), _rss_mb(proc.pid)))
            if first_commit is None and snap["readings"] > 0:
                first_commit = now
            if window is None and measuring(now, earliest, first_commit):
                window = CpuWindow.start(CpuProbe.of(stack, proc.pid, pub.pid), port)
            if window is None and now > earliest + START_TIMEOUT_S:
                raise RuntimeError(f"ingest stored nothing in {START_TIMEOUT_S:.0f} s")
            time.sleep(0.5)
        cost_figures = window.end(port)
        stop.set()
        pub.join(120)
        _wait(lambda: _metrics(port)["readings"] >= published.value, 120, "the backlog to drain")
        final = _metrics(port)
    finally:
        stop.set()
        proc.terminate()
        proc.wait(60)
        forget_sessions(settings, f"{prefix}-0of1")
    return {**_summarise(samples, window.at, final, published.value, dsn), **cost_figures}


def measuring(now: float, earliest: float, first_commit: float | None) -> bool:
    """Whether the measured window may start: after the warm-up and some seconds after the
    first commit, so that numba compiling ingest's kernels on a cold cache (seconds of CPU at
    the first message, once per install) is not counted as the cost of readings."""
    return first_commit is not None and now >= max(earliest, first_commit + SETTLE_S)


@dataclass(frozen=True)
class CpuWindow:
    """CPU of each part and readings stored, read together at the start and end of the window."""

    probe: CpuProbe
    cpu: dict[str, float]
    stored: int
    at: float

    @classmethod
    def start(cls, probe: CpuProbe, port: int) -> CpuWindow:
        return cls(probe, probe.read(), int(_metrics(port)["readings"]), time.monotonic())

    def end(self, port: int) -> dict[str, Any]:
        cpu, stored = self.probe.read(), int(_metrics(port)["readings"]) - self.stored
        seconds = time.monotonic() - self.at
        if stored <= 0:
            return {}
        before = dict(self.cpu)
        machine = cpu.pop("machine") - before.pop("machine")
        ours = sum(cpu[p] - before[p] for p in before)
        return {
            "cpu_s_per_million_readings": cost.per_million(before, cpu, stored),
            # Cores busy with processes outside this benchmark (other work on a shared machine).
            "other_load_cores": round((machine - ours) / seconds, 2),
        }


def _up(port: int) -> bool:
    try:
        _metrics(port)
    except OSError:
        return False
    return True


def _summarise(
    samples: list[tuple[float, int, float]],
    t0: float,
    final: dict[str, Any],
    published: int,
    dsn: str,
) -> dict[str, Any]:
    window = [s for s in samples if s[0] >= t0]
    first, last = window[0], window[-1]
    rate = (last[1] - first[1]) / (last[0] - first[0])
    rss = [s[2] for s in window]
    quarter = max(1, len(rss) // 4)
    with psycopg.connect(dsn, autocommit=True) as conn:
        disk = cost.storage(conn)
    return {
        "readings_per_s": round(rate),
        "seconds": round(last[0] - first[0], 1),
        "peak_rss_mb": round(max(s[2] for s in samples), 1),
        "rss_first_quarter_mb": round(statistics.median(rss[:quarter]), 1),
        "rss_last_quarter_mb": round(statistics.median(rss[-quarter:]), 1),
        "published_readings": published,
        "stored_readings": disk.rows,
        "duplicates_dropped": int(final["readings_duplicate"]),
        "dead_letters": int(final["dead_letters"]),
        "commit_ms_mean": round(1000 * final["commit_seconds_sum"] / max(1, final["commits"]), 1),
        # Storage: the readings table with its indexes, uncompressed, per stored reading.
        "bytes_per_reading": disk.bytes_per_row,
    }


@dataclass(frozen=True)
class NaiveRun:
    readings_per_s: float
    other_load_cores: float  # machine busy time outside the naive pipeline's parts, in cores


def measure_naive(
    stack: LocalStack, settings: Settings, dsn: str, layout: Layout, plan: Plan
) -> NaiveRun:
    ctx = mp.get_context("spawn")
    committed = ctx.Value("q", 0)
    published = ctx.Value("q", 0)
    stop = ctx.Event()
    naive_stop = ctx.Event()
    client_id = f"naive-{uuid.uuid4().hex[:8]}"
    create_naive_table(dsn)
    naive = ctx.Process(target=run_naive, args=(settings, dsn, client_id, naive_stop))
    naive.start()
    time.sleep(2.0)
    job = PublishJob(settings, layout, committed, published, stop, 20_000)
    pub = ctx.Process(target=_publish_loop, args=(job,))
    pub.start()
    assert naive.pid is not None
    assert pub.pid is not None
    samples: list[tuple[float, int]] = []
    t_start = time.monotonic() + 2.0
    t_end = t_start + plan.naive_seconds
    cpu_start: dict[str, float] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < t_end:
            n = cost.rows(conn, NAIVE_TABLE)
            committed.value = n
            samples.append((time.monotonic(), n))
            if not cpu_start and time.monotonic() >= t_start:
                probe = CpuProbe.of(stack, naive.pid, pub.pid)
                cpu_start = probe.read()
            time.sleep(1.0)
    cpu_end = probe.read()
    stop.set()
    naive_stop.set()
    pub.join(60)
    naive.join(60)
    forget_session(settings, client_id)
    window = [s for s in samples if s[0] >= t_start]
    seconds = window[-1][0] - window[0][0]
    used = {part: cpu_end[part] - cpu_start[part] for part in cpu_start}
    machine = used.pop("machine")
    return NaiveRun(
        (window[-1][1] - window[0][1]) / seconds, (machine - sum(used.values())) / seconds
    )


def _ingest_in_fresh_database(stack: LocalStack, settings: Settings, plan: Plan) -> dict[str, Any]:
    layout = Layout.make(f"b{uuid.uuid4().hex[:8]}", plan.gateways, plan.devices_per_gateway)
    with _database(stack, settings) as dsn:
        layout.provision(dsn)
        result = measure_ingest(stack, settings, dsn, layout, plan)
    result["committers"] = settings.ingest_committers
    return result


def _naive_in_fresh_database(stack: LocalStack, settings: Settings, plan: Plan) -> NaiveRun:
    layout = Layout.make(f"n{uuid.uuid4().hex[:8]}", plan.gateways, plan.devices_per_gateway)
    with _database(stack, settings) as dsn:
        layout.provision(dsn)
        return measure_naive(stack, settings, dsn, layout, plan)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="measure 60 s (the documented run)")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--naive-seconds", type=float, default=15.0, help="each of the two; 0: ingest alone"
    )
    parser.add_argument("--gateways", type=int, default=40)
    parser.add_argument("--devices-per-gateway", type=int, default=100)
    parser.add_argument("--lead", type=int, default=400_000)
    parser.add_argument(
        "--floor-readings-per-s",
        type=float,
        help="bench-ingest-dedup's no_dedup of the same `make bench`: gives share_of_floor",
    )
    args = parser.parse_args(argv)
    plan = Plan(
        seconds=60.0 if args.full else args.seconds,
        warmup=5.0,
        naive_seconds=args.naive_seconds,
        gateways=args.gateways,
        devices_per_gateway=args.devices_per_gateway,
        lead=args.lead,
    )
    settings = get_settings()
    stack = LocalStack(settings)
    stack.up()
    if plan.naive_seconds <= 0:  # ingest alone (comparing settings): no baseline, no ratio
        result = _ingest_in_fresh_database(stack, settings, plan)
        _print_cost(result, args.floor_readings_per_s)
        return
    # The naive pipeline just before and just after ours, so that a change in the machine's
    # other load during the run weighs on both figures alike.
    before = _naive_in_fresh_database(stack, settings, plan)
    result = _ingest_in_fresh_database(stack, settings, plan)
    after = _naive_in_fresh_database(stack, settings, plan)
    baseline = (before.readings_per_s + after.readings_per_s) / 2
    result["baseline_runs_readings_per_s"] = [
        round(before.readings_per_s),
        round(after.readings_per_s),
    ]
    result["baseline_other_load_cores"] = [
        round(before.other_load_cores, 2),
        round(after.other_load_cores, 2),
    ]
    result["baseline_readings_per_s"] = round(baseline)
    result["ratio"] = round(result["readings_per_s"] / baseline, 1) if baseline else None
    _print_cost(result, args.floor_readings_per_s)


def _print_cost(result: dict[str, Any], floor: float | None) -> None:
    """What a reading cost in this run, then the result as the last line (one JSON object)."""
    result["floor_readings_per_s"] = floor
    result["share_of_floor"] = cost.share_of_floor(result["readings_per_s"], floor)
    print(f"bytes per stored reading (table and indexes): {result['bytes_per_reading']}")
    per_million = result.get("cpu_s_per_million_readings", {})
    parts = ", ".join(f"{part} {seconds}" for part, seconds in per_million.items())
    print(f"CPU seconds per million readings: {parts or 'not measured'}")
    share = result["share_of_floor"]
    print(f"share of the database-side floor: {share if share is not None else 'no floor given'}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
