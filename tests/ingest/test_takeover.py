"""Claiming workers (`vigil ingest run --partitions P`) as processes: a killed worker's
partitions are taken over, a returning one gets its share, nothing is stored twice or lost."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from ingest.claims import MEMBER, pool_key
from ingest.loadgen import Layout, Publisher, forget_session, messages
from ingest.partition import Partition
from tests.fix_stack import scratch_var
from tests.ingest.conftest import count, wait_until
from tests.ingest.test_faults import free_port
from vigil.settings import REPO_ROOT, Settings

pytestmark = [pytest.mark.stack, pytest.mark.faults]

PARTITIONS = 6
INTERVAL_S = 0.5
ENDS = {"cut off", "released", "failed", "stopped"}  # claim-log events that end a run
ROWS = "select count(*) from readings"
IDENTITIES = "select count(distinct (device_id, seq, metric)) from readings"
_HELD = re.compile(r'^vigil_ingest_partition_held\{partition="(\d+)"\} 1\.0$', re.MULTILINE)


@dataclass
class Worker:
    """One `vigil ingest run --partitions` process, its metrics port and its log."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    killed_at: float | None = None

    def held(self) -> set[int]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as r:
                return {int(p) for p in _HELD.findall(r.read().decode())}
        except OSError:
            return set()

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                return bool(json.load(r)["status"] == "ok")
        except OSError:
            return False

    def kill(self) -> None:
        self.killed_at = time.time()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def claim_log(self) -> list[dict[str, object]]:
        lines = (json.loads(line) for line in self.log.read_text().splitlines() if line[:1] == "{")
        return [entry for entry in lines if "claim" in entry]


@dataclass
class Cluster:
    """Workers of one pool sharing a database, a broker and a var dir (the state files)."""

    settings: Settings
    dsn: str
    var: Path
    prefix: str = field(default_factory=lambda: f"t-{uuid.uuid4().hex[:8]}")
    workers: list[Worker] = field(default_factory=list)
    stopped: bool = False

    def start(self, name: str) -> Worker:
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
        args = ["ingest", "run", "--partitions", str(PARTITIONS),
                "--claim-interval", str(INTERVAL_S),
                "--client-prefix", self.prefix, "--metrics-port", str(port)]  # fmt: skip
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "vigil.cli", *args],
                env=env,
                cwd=REPO_ROOT,
                stdout=out,
                stderr=out,
            )
        worker = Worker(name, proc, port, log)
        self.workers.append(worker)
        return worker

    @property
    def alive(self) -> list[Worker]:
        return [w for w in self.workers if w.proc.poll() is None]

    def balanced(self) -> bool:
        """Every partition held by exactly one live worker, shares within one of each other,
        and every worker healthy (its partitions running and subscribed)."""
        holdings = [w.held() for w in self.alive]
        held = sorted(p for h in holdings for p in h)
        sizes = [len(h) for h in holdings]
        return (
            held == list(range(PARTITIONS))
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
        for p in range(PARTITIONS):
            forget_session(self.settings, Partition(p, PARTITIONS).client_id(self.prefix))

    def runs(self) -> dict[int, list[tuple[float, float, str]]]:
        """Per partition, every (start, end, worker) a worker took its messages, from the claim
        logs: until its service stopped, it was cut off from the broker (a fence: it takes
        nothing more, and what it took and did not acknowledge goes to the next owner), or
        its worker was killed."""
        out: dict[int, list[tuple[float, float, str]]] = {p: [] for p in range(PARTITIONS)}
        for w in self.workers:
            started: dict[int, float] = {}
            for entry in w.claim_log():
                p, at = int(str(entry["partition"])), float(str(entry["at"]))
                if entry["claim"] == "started":
                    started[p] = at
                elif entry["claim"] in ENDS and p in started:
                    out[p].append((started.pop(p), at, w.name))
            end = w.killed_at if w.killed_at is not None else float("inf")
            out.update({p: [*out[p], (at, end, w.name)] for p, at in started.items()})
        return out


@contextlib.contextmanager
def cluster(settings: Settings, dsn: str) -> Iterator[Cluster]:
    with scratch_var() as var:
        pool = Cluster(settings, dsn, var)
        try:
            yield pool
        except BaseException:
            pool.stop()
            for w in pool.workers:
                print(f"--- {w.name}\n{w.log.read_text()}")
            raise
        finally:
            pool.stop()


def provision_sites(dsn: str, per_partition: int) -> list[Layout]:
    """`per_partition` one-gateway sites in every partition."""
    tag = f"to{uuid.uuid4().hex[:6]}"
    names = (f"{tag}{i}" for i in itertools.count())
    sites: dict[int, list[str]] = {p: [] for p in range(PARTITIONS)}
    while any(len(s) < per_partition for s in sites.values()):
        name = next(names)
        owner = next(p for p in range(PARTITIONS) if Partition(p, PARTITIONS).owns(name))
        if len(sites[owner]) < per_partition:
            sites[owner].append(name)
    chosen = itertools.chain(*sites.values())
    layouts = [Layout.make(s, gateways=1, devices_per_gateway=4) for s in chosen]
    for layout in layouts:
        layout.provision(dsn)
    return layouts


def stream(layouts: list[Layout], per_site: int) -> list[tuple[str, bytes, int]]:
    """Every site's messages, interleaved as live gateways would send them."""
    per = [messages(layout, count=per_site, frames=5) for layout in layouts]
    return [m for group in zip(*per, strict=True) for m in group]


def publish_paced(
    settings: Settings, items: list[tuple[str, bytes, int]], seconds: float
) -> threading.Thread:
    def run() -> None:
        publisher = Publisher(settings)
        pause = seconds / len(items)
        for topic, payload, _ in items:
            publisher.publish([(topic, payload)])
            time.sleep(pause)
        publisher.close()

    thread = threading.Thread(target=run, name="test-publisher")
    thread.start()
    return thread


def sites_of(partitions: set[int], layouts: list[Layout]) -> list[str]:
    return [
        lay.site
        for lay in layouts
        if any(Partition(p, PARTITIONS).owns(lay.site) for p in partitions)
    ]


def first_commit_after(dsn: str, sites: list[str], after: float) -> float | None:
    """Wall time of the first message of these sites committed after `after`."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "select extract(epoch from min(m.received_at)) from ingested_messages m "
            "join gateways g on g.id = m.gateway_id "
            "where g.site_id = any(%s) and m.received_at > to_timestamp(%s)",
            (sites, after),
        ).fetchone()
    return float(row[0]) if row and row[0] is not None else None


def assert_no_partition_ran_twice_at_once(pool: Cluster) -> None:
    for p, runs in pool.runs().items():
        ordered = sorted(runs)
        for (_, end, who), (start, _, other) in itertools.pairwise(ordered):
            assert end <= start, f"partition {p}: {who} ran until {end}, {other} from {start}"


def test_a_killed_workers_partitions_are_taken_over_and_a_returning_worker_gets_its_share(
    settings: Settings, ingest_dsn: str
):
    layouts = provision_sites(ingest_dsn, per_partition=2)
    items = stream(layouts, per_site=60)
    total = sum(n for _, _, n in items)
    with cluster(settings, ingest_dsn) as pool:
        for name in ("a", "b", "c"):
            pool.start(name)
        wait_until(pool.balanced, 60, "three workers to split the partitions")
        assert sorted(len(w.held()) for w in pool.workers) == [2, 2, 2]
        publisher = publish_paced(settings, items, seconds=6.0)
        wait_until(lambda: count(ingest_dsn, ROWS) > total // 4, 30, "a quarter stored")
        victim = pool.workers[1]
        orphans = victim.held()
        victim.kill()
        assert count(ingest_dsn, ROWS) < total, "the stream ended before the kill"
        wait_until(pool.balanced, 30, "the survivors to take over")
        assert sorted(len(w.held()) for w in pool.alive) == [3, 3]
        assert orphans <= pool.workers[0].held() | pool.workers[2].held()
        publisher.join(60)
        wait_until(lambda: count(ingest_dsn, ROWS) >= total, 60, "every reading stored")
        assert victim.killed_at is not None
        taken_over = first_commit_after(ingest_dsn, sites_of(orphans, layouts), victim.killed_at)
        assert taken_over is not None, "nothing of the orphaned partitions committed after"
        print(f"takeover: first commit {taken_over - victim.killed_at:.2f} s after the kill")
        # The worker comes back: the others let go of their surplus, it takes its share.
        pool.start("b2")
        wait_until(pool.balanced, 30, "the returning worker to get its share")
        assert sorted(len(w.held()) for w in pool.alive) == [2, 2, 2]
        time.sleep(0.5)  # a duplicate would land now
        pool.stop()
        assert count(ingest_dsn, ROWS) == total
        assert count(ingest_dsn, IDENTITIES) == total
        assert count(ingest_dsn, "select count(*) from ingested_messages") == len(items)
        assert_no_partition_ran_twice_at_once(pool)
        # Every partition's detector state was saved under its own name at its last stop.
        saved = sorted(p.name for p in (pool.var / "detectors").glob("engine-*.npz"))
        assert saved == [f"engine-{p}of{PARTITIONS}.npz" for p in range(PARTITIONS)]
        # A partition handed over cleanly was started by its new owner from the saved state.
        assert "detector state loaded from" in pool.workers[3].log.read_text()


def test_a_worker_that_lost_its_claims_session_fences_before_another_takes_over(
    settings: Settings, ingest_dsn: str
):
    layouts = provision_sites(ingest_dsn, per_partition=1)
    items = stream(layouts, per_site=80)
    total = sum(n for _, _, n in items)
    with cluster(settings, ingest_dsn) as pool:
        a, b = pool.start("a"), pool.start("b")
        wait_until(pool.balanced, 60, "two workers to split the partitions")
        publisher = publish_paced(settings, items, seconds=6.0)
        wait_until(lambda: count(ingest_dsn, ROWS) > total // 4, 30, "a quarter stored")
        # An operator (or a pooler, or a failover) ends a's claims session; a lives on.
        with psycopg.connect(ingest_dsn, autocommit=True) as conn:
            row = conn.execute(
                "select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory' "
                "and classid = %s::int8::oid and objid = %s::int8::oid and pid = %s",
                (pool_key(pool.prefix, PARTITIONS), MEMBER, a_worker_id(a)),
            ).fetchone()
        assert row is not None, "a's claims session was not found"
        assert row[0], "a's claims session was not ended"
        wait_until(lambda: any(e["claim"] == "fenced" for e in a.claim_log()), 15, "a to fence")
        wait_until(pool.balanced, 30, "the two to split the partitions again")
        publisher.join(60)
        wait_until(lambda: count(ingest_dsn, ROWS) >= total, 60, "every reading stored")
        time.sleep(0.5)
        assert a.proc.poll() is None, "a died"
        assert b.proc.poll() is None, "b died"
        pool.stop()
        assert count(ingest_dsn, ROWS) == total
        assert count(ingest_dsn, IDENTITIES) == total
        # b took what a had held only after a had stopped it (it waited the fence out).
        assert_no_partition_ran_twice_at_once(pool)
        orphans = [e for e in b.claim_log() if e["claim"] == "claimed" and e.get("orphaned")]
        assert orphans, "b never took over an orphaned partition"


def a_worker_id(worker: Worker) -> int:
    """The worker's id in the pool: its claims session's backend pid, from its claim log."""
    return int(str(worker.claim_log()[0]["worker"]))
