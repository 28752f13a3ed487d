"""Claiming mode: a worker runs the partitions it holds and takes over those of a dead worker.

The district's sites are split into a fixed number of partitions (`Partition(i, P)`, each with
its stable MQTT client id and persistent session, so whoever runs partition i resumes its
backlog in order). Workers claim partitions through advisory locks (`ingest.claims`) and run
one `IngestService`, with its detector stage, per partition held. Every `interval_s` a worker
looks at who holds what, and:

- if its claims' session is gone it has lost every lock: it fences, stopping all its
  partitions before doing anything else;
- it stops and then releases what it holds beyond its fair share (`ingest.share`), so the
  next owner finds the session acknowledged and the detector state saved;
- it claims free partitions up to its share. One left by a worker whose session vanished is
  started `fence_s` later, once that worker, if it still runs, has seen its loss and fenced.

Storage stays exactly-once even if two workers ran a partition at once (the broker gives the
client id to the newest connection, and messages are claimed in `ingested_messages`); the
fence and the wait keep a device's readings from reaching two detector states at once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingest.claims import Claims, ClaimsLostError
from ingest.errors import ConfigError
from ingest.partition import Partition
from ingest.service import IngestOptions, IngestService
from ingest.share import View, orphaned, plan
from vigil.backoff import Backoff
from vigil.db.connect import database_url
from vigil.observability import (
    INGEST,
    INGEST_LAG_SECONDS,
    INGEST_PARTITION_CHANGES_TOTAL,
    INGEST_PARTITION_HELD,
    INGEST_PENDING_MESSAGES,
    INGEST_WORKERS,
    Health,
    Heartbeat,
    ObservabilityServer,
    serve,
)
from vigil.settings import Settings

if TYPE_CHECKING:
    from ingest.detection.stage import DetectorStage

log = logging.getLogger(__name__)

MAX_PARTITIONS = 1024
STOP_WAIT_S = 60.0  # a service drains within its grace (10 s) and the stage saves its state
FAILED_COOLDOWN_S = 5.0  # a partition whose service failed is not claimed again before this

StageFactory = Callable[[Partition], "DetectorStage"]


class PartitionRun:
    """One partition's ingest service and detector stage, on a thread of their own."""

    def __init__(
        self,
        settings: Settings,
        dsn: str,
        partition: Partition,
        client_prefix: str,
        stage: DetectorStage | None,
    ) -> None:
        self.partition = partition
        self.stage = stage
        # metrics_port=0: the pool serves one /metrics and /healthz for all its partitions.
        options = IngestOptions(partition, client_prefix, metrics_port=0)
        self.service = IngestService(settings, options, sink=stage, dsn=dsn)
        self.failed = False
        self._stop = threading.Event()
        self.thread = threading.Thread(
            target=self._run, name=f"ingest-{partition.client_id('p')}", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        try:
            if self.stage is not None:
                self.stage.start()
            self.service.run(self._stop)
        except Exception:
            self.failed = True
            log.exception("partition %s failed", self.partition)
        finally:
            if self.stage is not None:
                self.stage.stop()  # saves the state the next owner loads

    def stop(self, *, cut_off: bool = False) -> None:
        """Ask it to drain and stop; `cut_off` also drops the broker connection at once (a
        fence: what it took but did not acknowledge goes to the next owner, who skips what
        was committed)."""
        self._stop.set()
        if cut_off:
            self.service.consumer.stop()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)
        if self.thread.is_alive():
            log.error("partition %s did not stop within %.0f s", self.partition, timeout)

    @property
    def ended(self) -> bool:
        return not self.thread.is_alive()


@dataclass
class Held:
    """A partition this worker holds; its run starts at `start_at` (monotonic)."""

    partition: Partition
    start_at: float
    run: PartitionRun | None = None


class Pool:
    """A claiming worker. `run(stop)` blocks until `stop` is set, then stops every partition."""

    def __init__(
        self,
        settings: Settings,
        partitions: int,
        client_prefix: str = "vigil-ingest",
        *,
        stages: StageFactory | None = None,
        interval_s: float = 1.0,
        fence_s: float | None = None,
        metrics_port: int | None = None,
        dsn: str | None = None,
    ) -> None:
        if not 1 <= partitions <= MAX_PARTITIONS:
            raise ConfigError(f"partitions {partitions}: want 1 to {MAX_PARTITIONS}")
        if interval_s <= 0:
            raise ConfigError(f"claim interval {interval_s}: want more than 0 s")
        self.settings = settings
        self.partitions = partitions
        self.client_prefix = client_prefix
        self.stages = stages
        self.interval_s = interval_s
        # A worker that lost its session sees it on its next turn (within interval_s) and
        # cuts its partitions off from the broker at once; waiting twice that leaves a margin
        # for a slow turn.
        self.fence_s = 2 * interval_s if fence_s is None else fence_s
        self.metrics_port = metrics_port
        self.dsn = dsn or database_url(settings)
        self.claims = Claims(self.dsn, client_prefix, partitions)
        self.held: dict[int, Held] = {}
        self.view: View | None = None
        self._cooldown: dict[int, float] = {}
        self._backoff = Backoff(initial=interval_s, maximum=max(5.0, interval_s))
        self._retry_at = 0.0  # monotonic time of the next attempt to open the claims' session
        self.heartbeat = Heartbeat("claim loop", max_age_s=max(30.0, 10 * interval_s))
        self.health = Health(
            "ingest",
            {
                "claims": self._claims_check,
                "claim loop": self.heartbeat.check,
                "partitions": self._partitions_check,
            },
        )
        self.observability: ObservabilityServer | None = None

    # ---- lifecycle -----------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        settings = self.settings
        if self.metrics_port is not None:
            settings = settings.model_copy(update={"metrics_port": self.metrics_port})
        self.observability = serve(settings, self.health, INGEST)
        log.info("claiming worker: %d partitions, prefix %s", self.partitions, self.client_prefix)
        try:
            while not stop.is_set():
                self.heartbeat.beat()
                self.turn()
                stop.wait(self.interval_s)
        finally:
            # Released one by one while still a member: the others start them without the
            # fence wait, as after a rebalance. A lost session took the locks with it.
            with contextlib.suppress(ClaimsLostError):
                self._let_go(sorted(self.held), "stopped")
            self.claims.close()
            self._export()
            if self.observability is not None:
                self.observability.stop()

    def turn(self) -> None:
        """One look at the claims and what follows from it."""
        now = time.monotonic()
        self._reap(now)
        try:
            if self.claims.connected:
                self._act(self.claims.view(), now)
            elif now >= self._retry_at:
                # Claim from the next turn: workers started together first see each other.
                log.info("joined the pool as worker %d", self.claims.connect())
                self._backoff.succeeded()
        except ClaimsLostError as exc:
            self.view = None
            self._retry_at = self._backoff.failed(time.monotonic())
            if not self.held:
                log.warning("no claims' session (attempt %d): %s", self._backoff.failures, exc)
            else:
                log.error("lost the claims' session (%s): fencing partitions %s", exc, self.running)
                self._stop(sorted(self.held), "fenced", cut_off=True)
        self._start_due(time.monotonic())
        self._export()

    @property
    def running(self) -> list[int]:
        return sorted(self.held)

    def _act(self, view: View, now: float) -> None:
        mine = view.holdings.get(self.claims.me, frozenset())
        lost = set(self.held) - mine  # cannot happen while the session lives; fence if it does
        if lost:
            log.error("partitions %s are no longer held: fencing them", sorted(lost))
            self._stop(sorted(lost), "fenced", cut_off=True)
        left = orphaned(self.view, view)
        self.view = view
        todo = plan(view, self.claims.me)
        self._let_go(list(todo.release), "released")
        won = 0
        for p in todo.claim:
            if won == todo.wanted:
                break
            if self._cooldown.get(p, 0.0) > now or not self.claims.try_claim(p):
                continue
            won += 1
            wait = self.fence_s if p in left else 0.0
            self.held[p] = Held(Partition(p, self.partitions), now + wait)
            INGEST_PARTITION_CHANGES_TOTAL.labels(change="claimed").inc()
            _claim_log("claimed", p, self.claims.me, orphaned=p in left, starts_in_s=wait)

    def _start_due(self, now: float) -> None:
        for held in self.held.values():
            if held.run is None and held.start_at <= now:
                stage = self.stages(held.partition) if self.stages is not None else None
                held.run = PartitionRun(
                    self.settings, self.dsn, held.partition, self.client_prefix, stage
                )
                held.run.start()
                _claim_log("started", held.partition.index, self.claims.me)

    def _reap(self, now: float) -> None:
        """A partition whose service ended by itself (an error) is let go, for a while."""
        for p, held in list(self.held.items()):
            if held.run is not None and held.run.ended:
                self._stop([p], "failed")
                self._cooldown[p] = now + FAILED_COOLDOWN_S
                with contextlib.suppress(ClaimsLostError):  # the next turn fences the rest
                    self.claims.release(p)

    def _let_go(self, partitions: list[int], change: str) -> None:
        """Stop these partitions, then unlock them: the next owner finds their sessions
        acknowledged up to what was committed and their detector state saved."""
        self._stop(partitions, change)
        for p in partitions:
            self.claims.release(p)

    def _stop(self, partitions: list[int], change: str, *, cut_off: bool = False) -> None:
        """Stop these partitions' runs (all at once, then wait for each) and forget them."""
        runs = [(p, self.held.pop(p).run) for p in partitions]
        for p, run in runs:
            if run is not None:
                run.stop(cut_off=cut_off)
            if cut_off:
                _claim_log("cut off", p, self.claims.me)
        for p, run in runs:
            if run is not None:
                run.join(STOP_WAIT_S)
            INGEST_PARTITION_CHANGES_TOTAL.labels(change=change).inc()
            _claim_log(change, p, self.claims.me)

    # ---- observability -------------------------------------------------------------------
    def _runs(self) -> list[PartitionRun]:
        return [h.run for h in list(self.held.values()) if h.run is not None]

    def _export(self) -> None:
        held = set(self.held)
        for p in range(self.partitions):
            INGEST_PARTITION_HELD.labels(partition=str(p)).set(1 if p in held else 0)
        INGEST_WORKERS.set(len(self.view.holdings) if self.view is not None else 0)
        # Each service binds these to itself when it starts; the pool's figures are over all.
        INGEST_LAG_SECONDS.set_function(self._lag)
        INGEST_PENDING_MESSAGES.set_function(self._pending)

    def _lag(self) -> float:
        return max((r.service.counters.lag_seconds() for r in self._runs()), default=0.0)

    def _pending(self) -> float:
        return float(sum(r.service.counters.pending_messages for r in self._runs()))

    def _claims_check(self) -> str | None:
        return None if self.claims.connected else "no database session holding the claims"

    def _partitions_check(self) -> str | None:
        """Every partition held is running, connected and subscribed."""
        problems = []
        for held in list(self.held.values()):
            run = held.run
            if run is None:
                problems.append(f"{held.partition}: starting")
                continue
            report = run.service.health.report()
            problems += [f"{run.partition}: {why}" for why in report.failures.values()]
            consumer = run.service.consumer
            if not report.failures and consumer.filters and not consumer.wait_subscribed(0):
                problems.append(f"{run.partition}: not subscribed yet")
        return "; ".join(problems) or None


def _claim_log(event: str, partition: int, worker: int, **extra: object) -> None:
    """The claim log: one line per change, which tests and operators follow."""
    fields = {"claim": event, "partition": partition, "worker": worker, "at": time.time()}
    log.info("partition %d %s", partition, event, extra={**fields, **extra})
