"""`make bench-takeover`: how long a killed claiming worker's partitions wait for a new owner.

Several `vigil ingest run --partitions P` processes share a stream across many sites; one is
killed with SIGKILL mid-stream. Takeover time is from the kill to the first commit of each of
its partitions by a survivor (`ingested_messages.received_at` of those sites' messages), per
partition and over all of them. Every run also checks that each reading is stored exactly once.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench.loadgen import Layout, Publisher, forget_sessions, messages
from ingest.partition import Partition
from vigil.db.timescale import retention_for
from vigil.harness import free_port, scratch_database, wait_for
from vigil.settings import REPO_ROOT, Settings, get_settings
from vigil.stack import LocalStack

ENDS = {"cut off", "released", "failed", "stopped"}  # claim-log events that end a run
_HELD = re.compile(r'^vigil_ingest_partition_held\{partition="(\d+)"\} 1\.0$', re.MULTILINE)
Message = tuple[str, bytes, int]


@dataclass
class WorkerProcess:
    """One `vigil ingest run --partitions` process, its metrics port and its log."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    killed_at: float | None = None

    def _get(self, path: str) -> bytes | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return bytes(r.read())
        except OSError:  # refused, or 503 while failing
            return None

    def held(self) -> set[int]:
        """The partitions it holds, as its /metrics says."""
        body = self._get("/metrics")
        return {int(p) for p in _HELD.findall(body.decode())} if body else set()

    def healthy(self) -> bool:
        body = self._get("/healthz")
        return body is not None and json.loads(body)["status"] == "ok"

    def kill(self) -> None:
        self.killed_at = time.time()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def claim_log(self) -> list[dict[str, Any]]:
        entries = (json.loads(s) for s in self.log.read_text().splitlines() if s[:1] == "{")
        return [entry for entry in entries if "claim" in entry]


@dataclass
class ClaimingWorkers:
    """Workers of one pool sharing a database, the broker and a var dir (the state files)."""

    settings: Settings
    dsn: str
    var: Path
    partitions: int
    interval_s: float
    prefix: str = field(default_factory=lambda: f"t-{uuid.uuid4().hex[:8]}")
    workers: list[WorkerProcess] = field(default_factory=list)
    stopped: bool = False

    def start(self, name: str) -> WorkerProcess:
        port = free_port()
        log = self.var / f"{name}.log"
        env = {
            **os.environ,
            "VIGIL_DATABASE_URL": self.dsn,
            "VIGIL_VAR_DIR": str(self.var),
            "VIGIL_STACK_PG_PORT": str(self.settings.stack_pg_port),
            "VIGIL_STACK_MQTT_PORT": str(self.settings.stack_mqtt_port),
            "VIGIL_INGEST_BATCH_DEADLINE_S": "0.05",
            "VIGIL_LOG_LEVEL": "INFO",
        }
        args = ["ingest", "run", "--partitions", str(self.partitions),
                "--claim-interval", str(self.interval_s),
                "--client-prefix", self.prefix, "--metrics-port", str(port)]  # fmt: skip
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "vigil.cli", *args],
                env=env,
                cwd=REPO_ROOT,
                stdout=out,
                stderr=out,
            )
        worker = WorkerProcess(name, proc, port, log)
        self.workers.append(worker)
        return worker

    @property
    def alive(self) -> list[WorkerProcess]:
        return [w for w in self.workers if w.proc.poll() is None]

    def balanced(self) -> bool:
        """Every partition held by exactly one live worker, shares within one of each other,
        and every worker healthy (its partitions running and subscribed)."""
        holdings = [w.held() for w in self.alive]
        sizes = [len(h) for h in holdings]
        return (
            sorted(p for h in holdings for p in h) == list(range(self.partitions))
            and max(sizes) - min(sizes) <= 1
            and all(w.healthy() for w in self.alive)
        )

    def stop(self) -> None:
        """SIGTERM every worker (each saves its partitions' state) and drop the sessions."""
        if self.stopped:
            return
        self.stopped = True
        for w in self.alive:
            w.proc.send_signal(signal.SIGTERM)
        for w in self.workers:
            try:
                w.proc.wait(60)
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait(10)
        for p in range(self.partitions):
            forget_sessions(self.settings, Partition(p, self.partitions).client_id(self.prefix))

    def runs(self) -> dict[int, list[tuple[float, float, str]]]:
        """Per partition, every (start, end, worker) a worker took its messages, from the claim
        logs: until its service stopped, it was cut off from the broker (a fence: it takes
        nothing more, and what it took and did not acknowledge goes to the next owner), or its
        worker was killed."""
        out: dict[int, list[tuple[float, float, str]]] = {p: [] for p in range(self.partitions)}
        for w in self.workers:
            started: dict[int, float] = {}
            for entry in w.claim_log():
                p, at = int(entry["partition"]), float(entry["at"])
                if entry["claim"] == "started":
                    started[p] = at
                elif entry["claim"] in ENDS and p in started:
                    out[p].append((started.pop(p), at, w.name))
            end = w.killed_at if w.killed_at is not None else float("inf")
            for p, at in started.items():
                out[p].append((at, end, w.name))
        return out

    def overlaps(self) -> list[str]:
        """Partitions two workers took messages of at once (none, if the fence holds)."""
        found = []
        for p, runs in self.runs().items():
            for (_, end, who), (start, _, other) in itertools.pairwise(sorted(runs)):
                if end > start:
                    found.append(f"partition {p}: {who} until {end:.3f}, {other} from {start:.3f}")
        return found


def provision_sites(dsn: str, partitions: int, per_partition: int) -> list[Layout]:
    """`per_partition` one-gateway sites of four devices in every partition."""
    tag = f"to{uuid.uuid4().hex[:6]}"
    names = (f"{tag}{i}" for i in itertools.count())
    sites: dict[int, list[str]] = {p: [] for p in range(partitions)}
    while any(len(s) < per_partition for s in sites.values()):
        name = next(names)
        owner = next(p for p in range(partitions) if Partition(p, partitions).owns(name))
        if len(sites[owner]) < per_partition:
            sites[owner].append(name)
    chosen = itertools.chain(*sites.values())
    layouts = [Layout.make(s, gateways=1, devices_per_gateway=4) for s in chosen]
    for layout in layouts:
        layout.provision(dsn)
    return layouts


def stream(layouts: list[Layout], per_site: int) -> list[Message]:
    """Every site's messages, interleaved as live gateways would send them."""
    per = [messages(layout, count=per_site, frames=5) for layout in layouts]
    return [m for group in zip(*per, strict=True) for m in group]


def publish_paced(settings: Settings, items: list[Message], seconds: float) -> threading.Thread:
    """Publish `items` evenly over `seconds` in a background thread, as live gateways would."""

    def run() -> None:
        publisher = Publisher(settings)
        pause = seconds / len(items)
        for topic, payload, _ in items:
            publisher.publish([(topic, payload)])
            time.sleep(pause)
        publisher.close()

    thread = threading.Thread(target=run, name="takeover-publisher")
    thread.start()
    return thread


def first_commit_after(
    dsn: str, partition: Partition, layouts: list[Layout], after: float
) -> float | None:
    """Wall time of the first message of the partition's sites committed after `after`."""
    sites = [lay.site for lay in layouts if partition.owns(lay.site)]
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "select extract(epoch from min(m.received_at)) from ingested_messages m "
            "join gateways g on g.id = m.gateway_id "
            "where g.site_id = any(%s) and m.received_at > to_timestamp(%s)",
            (sites, after),
        ).fetchone()
    return float(row[0]) if row and row[0] is not None else None


def scalar(dsn: str, sql: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(sql).fetchone()
    return int(str(row[0])) if row else 0


@contextmanager
def _database(stack: LocalStack, settings: Settings) -> Iterator[str]:
    with scratch_database(stack, prefix="bench", retention=retention_for(settings)) as dsn:
        yield dsn


def one_run(
    settings: Settings, dsn: str, var: Path, *, workers: int, partitions: int, interval_s: float
) -> dict[str, Any]:
    layouts = provision_sites(dsn, partitions, per_partition=2)
    items = stream(layouts, per_site=60)
    total = sum(n for _, _, n in items)
    pool = ClaimingWorkers(settings, dsn, var, partitions, interval_s)
    try:
        for i in range(workers):
            pool.start(f"w{i}")
        wait_for(pool.balanced, 90, "the workers to split the partitions")
        publisher = publish_paced(settings, items, seconds=8.0)
        wait_for(lambda: scalar(dsn, "select count(*) from readings") > total // 3, 60, "a third")
        victim = pool.workers[0]
        orphans = victim.held()
        victim.kill()
        assert victim.killed_at is not None
        wait_for(pool.balanced, 60, "the survivors to take over")
        publisher.join(120)
        wait_for(lambda: scalar(dsn, "select count(*) from readings") >= total, 120, "all")
        time.sleep(0.5)
        resumed = {
            p: first_commit_after(dsn, Partition(p, partitions), layouts, victim.killed_at)
            for p in sorted(orphans)
        }
    finally:
        pool.stop()
    waits = [t - victim.killed_at for t in resumed.values() if t is not None]
    return {
        "orphaned": len(orphans),
        "first_s": round(min(waits), 2) if waits else None,
        "all_s": round(max(waits), 2) if len(waits) == len(orphans) else None,
        "readings": total,
        "stored": scalar(dsn, "select count(*) from readings"),
        "distinct": scalar(dsn, "select count(distinct (device_id, seq, metric)) from readings"),
        "overlaps": pool.overlaps(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--interval", type=float, default=1.0, help="--claim-interval, seconds")
    args = parser.parse_args(argv)
    settings = get_settings()
    stack = LocalStack(settings)
    stack.up()
    results = []
    for i in range(args.runs):
        var = settings.var_dir / "bench-takeover" / uuid.uuid4().hex[:8]
        var.mkdir(parents=True)
        try:
            with _database(stack, settings) as dsn:
                result = one_run(
                    settings,
                    dsn,
                    var,
                    workers=args.workers,
                    partitions=args.partitions,
                    interval_s=args.interval,
                )
        finally:
            shutil.rmtree(var, ignore_errors=True)
        print(f"run {i + 1}: {json.dumps(result)}", flush=True)
        results.append(result)
    all_s = [r["all_s"] for r in results if r["all_s"] is not None]
    summary = {
        "workers": args.workers,
        "partitions": args.partitions,
        "interval_s": args.interval,
        "runs": len(results),
        "takeover_all_s": all_s,
        "takeover_all_median_s": round(statistics.median(all_s), 2) if all_s else None,
        "exactly_once": all(r["stored"] == r["distinct"] == r["readings"] for r in results),
        "overlaps": sum(len(r["overlaps"]) for r in results),
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
