"""The ingest worker: broker → decode and check → detectors, and → batch → commit → acknowledge.

paho's network thread only queues deliveries. The decoding thread parses and checks each
message, hands it to the detectors' sink at once, and gathers messages into a batch bounded by
rows and by a deadline; when it closes, the batch is split by device (`ingest.parts`) between
the committer threads, each with its own database connection, which commit their parts in
parallel. The last part of a batch to commit acknowledges its messages. While the database is
down the committers retry with backoff, the hand-off queues fill, the decoder stops taking
messages, and the broker stops sending once the receive window is full: memory stays bounded
and the backlog waits at the broker.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field

import psycopg

from ingest.backoff import Backoff
from ingest.consumer import BrokerConfig, Consumer, Delivery
from ingest.deadletter import Reason
from ingest.dedup import ReplayFilter
from ingest.errors import IngestError
from ingest.inbox import Inbox
from ingest.liveness import Liveness
from ingest.maintenance import Maintenance
from ingest.metrics import Counters
from ingest.partition import Partition
from ingest.parts import Part, split
from ingest.registry import Registry, RegistrySnapshot, RegistryWatcher
from ingest.sink import BatchSink, ReadingBatch
from ingest.store import DatabaseUnavailableError, Outcome, Prepared, Store, merge_parts, prepare
from ingest.validate import Checked, Window, check, refuse
from ingest.wire import RejectedError, parse
from vigil.db.connect import database_url
from vigil.db.timescale import retention_for
from vigil.observability import INGEST, Health, Heartbeat, ObservabilityServer, flag, serve
from vigil.settings import Settings

log = logging.getLogger(__name__)

SCHEMA_VERSION_NEEDED = 10  # 0010_live_status
SHUTDOWN_GRACE_S = 10.0


@dataclass
class Batch:
    """Messages gathered for one transaction per part, with the deliveries to acknowledge
    once every part has committed."""

    messages: list[Checked] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    rows: int = 0
    opened: float = 0.0  # monotonic time of its first message
    # Made when the batch closes, on the decoding thread: each part's messages and rows.
    parts: list[tuple[list[Checked], Prepared]] = field(default_factory=list)
    handed: int = 0  # parts queued for their committers so far
    outcomes: dict[int, Outcome] = field(default_factory=dict)  # parts committed so far

    def add(self, checked: Checked, delivery: Delivery) -> None:
        if not self.messages:
            self.opened = time.monotonic()
        self.messages.append(checked)
        self.deliveries.append(delivery)
        self.rows += len(checked.readings) + len(checked.events) + len(checked.dead)

    def close(self, snapshot: RegistrySnapshot, parts: int) -> None:
        self.parts = [
            (share, prepare(share, snapshot)) for share in split(self.messages, snapshot, parts)
        ]


@dataclass(frozen=True)
class IngestOptions:
    """What one worker is: which sites it owns and under which MQTT client id."""

    partition: Partition = field(default_factory=Partition)
    client_prefix: str = "vigil-ingest"
    metrics_port: int | None = None  # None: the settings' port


class IngestService:
    """One ingest worker. `run(stop)` blocks until `stop` is set, then drains and returns."""

    def __init__(
        self,
        settings: Settings,
        options: IngestOptions | None = None,
        sink: BatchSink | None = None,
        dsn: str | None = None,
    ) -> None:
        self.settings = settings
        self.options = options or IngestOptions()
        self.sink = sink
        self.dsn = dsn or database_url(settings)
        self.counters = Counters()
        self.registry = Registry()
        self.window = Window(settings.ingest_max_future_s, settings.ingest_max_age_s)
        self.inbox: Inbox[Delivery] = Inbox(settings.ingest_inbox_max_bytes)
        # Per committer, two batches may wait: one committing, one ready behind it.
        committers = settings.ingest_committers
        self._handoffs: list[queue.Queue[Batch | None]] = [
            queue.Queue(maxsize=1) for _ in range(committers)
        ]
        self._stores = [
            Store(self.dsn, self.registry, ReplayFilter(), Part(k, committers))
            for k in range(committers)
        ]
        self._done = threading.Lock()  # a batch's last part to commit acknowledges it
        self._abandon = threading.Event()  # shutdown grace is over: stop retrying the database
        self.consumer = Consumer(self._broker_config(), self.inbox, self.counters)
        self.liveness = Liveness(
            self.dsn,
            self.registry,
            self.options.partition,
            settings.ingest_status_interval_s,
            settings.ingest_last_seen_interval_s,
            broker=self.consumer.config,
        )
        self.heartbeat = Heartbeat("decode loop", max_age_s=30)
        self.health = Health(
            "ingest",
            {
                "broker": flag(
                    lambda: self.counters.broker_connected, "not connected to the broker"
                ),
                "database": flag(lambda: self.counters.database_up, "database unavailable"),
                "decode loop": self.heartbeat.check,
            },
        )
        self.observability: ObservabilityServer | None = None

    def _broker_config(self) -> BrokerConfig:
        s = self.settings
        # Unset means the local stack's broker, as `database_url` falls back to its database.
        port = s.mqtt_port if s.mqtt_port is not None else s.stack_mqtt_port
        return BrokerConfig(
            host=s.mqtt_host,
            port=port,
            username=s.mqtt_username,
            password=s.mqtt_password.get_secret_value(),
            client_id=self.options.partition.client_id(self.options.client_prefix),
            receive_window=s.ingest_receive_window,
            session_expiry_s=s.ingest_session_expiry_s,
        )

    # ---- lifecycle -----------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        self._start_metrics()  # first, so /healthz tells why a worker waits for its database
        try:
            self._load_registry(stop)
        except IngestError:
            self._stop_metrics()
            raise
        if stop.is_set():
            self._stop_metrics()
            return
        self.registry.on_change(self._follow_sites)
        self._follow_sites(self.registry.snapshot)
        watcher = RegistryWatcher(self.dsn, self.registry, stop)
        maintenance = Maintenance(
            self.dsn, retention_for(self.settings), self.settings.ingest_maintain_interval_s, stop
        )
        committers = [
            threading.Thread(
                target=self._commit_loop, args=(k,), name=f"ingest-commit-{k}", daemon=True
            )
            for k in range(len(self._stores))
        ]
        watcher.start()
        maintenance.start()
        self.liveness.start()
        for committer in committers:
            committer.start()
        self.consumer.start()
        log.info(
            "ingest worker %s (%s) running", self.options.partition, self.consumer.config.client_id
        )
        last = Batch()
        try:
            last = self._decode_loop(stop)
        finally:
            self._shutdown(committers, last)
            watcher.join(2.0)
            maintenance.join(2.0)

    def _start_metrics(self) -> None:
        """`/metrics` and `/healthz` (docs/observability.md), when a port is configured."""
        settings = self.settings
        if self.options.metrics_port is not None:
            settings = settings.model_copy(update={"metrics_port": self.options.metrics_port})
        self.counters.export()
        self.observability = serve(settings, self.health, INGEST)

    def _stop_metrics(self) -> None:
        if self.observability is not None:
            self.observability.stop()

    def _load_registry(self, stop: threading.Event) -> None:
        """Wait for the database, check its schema, load the registry."""
        backoff = Backoff()
        while not stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                    _check_schema(conn)
                    self.registry.load(conn)
                self.counters.database_up = True
                return
            except psycopg.OperationalError as exc:
                now = time.monotonic()
                log.warning("waiting for the database: %s", exc)
                stop.wait(backoff.failed(now) - now)

    def _follow_sites(self, snapshot: RegistrySnapshot) -> None:
        sites = {g.site for g in snapshot.gateways.values()}
        self.consumer.subscribe(self.options.partition.filters(sites))

    def _shutdown(self, committers: list[threading.Thread], last: Batch) -> None:
        """Commit what was taken, within a grace period; what is left is redelivered later."""
        timer = threading.Timer(SHUTDOWN_GRACE_S, self._abandon.set)
        timer.start()
        if last.messages:
            if not last.parts:
                last.close(self.registry.snapshot, len(self._stores))
            self._hand_over(last, self._abandon)
        for handoff in self._handoffs:
            self._put(handoff, None, self._abandon)
        deadline = time.monotonic() + SHUTDOWN_GRACE_S + 5.0
        for committer in committers:
            committer.join(max(0.0, deadline - time.monotonic()))
        timer.cancel()
        self.liveness.close()
        self.inbox.close()  # paho's thread may wait for room; what it holds is redelivered
        self.consumer.stop()
        for store in self._stores:
            store.close()
        self._stop_metrics()
        log.info("ingest worker stopped")

    # ---- decoding thread -----------------------------------------------------------------
    def _decode_loop(self, stop: threading.Event) -> Batch:
        """Decode until `stop`; returns the batch still open (or not taken by the committer)."""
        s = self.settings
        batch = Batch()
        while not stop.is_set():
            self.heartbeat.beat()
            wait = s.ingest_batch_deadline_s - (time.monotonic() - batch.opened)
            delivery = self.inbox.get(timeout=max(wait, 0.0) if batch.messages else 0.2)
            if delivery is not None:
                batch.add(self.decode(delivery), delivery)
            due = time.monotonic() - batch.opened >= s.ingest_batch_deadline_s
            # BATCH_ROWS is per transaction: a batch holds that many for each committer.
            full = batch.rows >= s.ingest_batch_rows * len(self._stores)
            if batch.messages and (full or due):
                batch.close(self.registry.snapshot, len(self._stores))
                if not self._hand_over(batch, stop):
                    return batch
                batch = Batch()
        return batch

    def decode(self, delivery: Delivery) -> Checked:
        """Parse and check one message and hand it to the sink; never raises."""
        snapshot = self.registry.snapshot
        try:
            uplink = parse(delivery.topic, delivery.payload)
            checked = check(uplink, delivery.payload, snapshot, self.window, time.time())
        except RejectedError as exc:
            return refuse(delivery.topic, delivery.payload, exc.reason, exc.detail)
        except Exception as exc:  # a bug must cost one message, not the service
            log.exception("cannot decode a message on %s", delivery.topic)
            return refuse(
                delivery.topic, delivery.payload, Reason.MALFORMED, f"ingest error: {exc!r}"
            )
        if self.sink is not None and (len(checked.readings) or checked.events):
            self._submit(self.sink, checked, delivery, snapshot)
        return checked

    def _submit(
        self, sink: BatchSink, checked: Checked, delivery: Delivery, snapshot: RegistrySnapshot
    ) -> None:
        if checked.key is None:  # refused whole: nothing for the detectors
            return
        batch = ReadingBatch(
            checked.key.gateway,
            checked.key.gseq,
            delivery.received,
            delivery.dup,
            snapshot,
            checked.readings,
            tuple(checked.events),
        )
        try:
            sink.submit(batch)
        except Exception:  # the detectors' trouble must not stop storage
            log.exception("the batch sink failed on a message from %s", checked.key.gateway)

    def _hand_over(self, batch: Batch, until: threading.Event) -> bool:
        """Queue each part of a batch for its committer; False if `until` is set first (the
        parts not yet queued are then queued by the next call)."""
        while batch.handed < len(self._handoffs):
            if not self._put(self._handoffs[batch.handed], batch, until):
                return False
            batch.handed += 1
        return True

    @staticmethod
    def _put(
        handoff: queue.Queue[Batch | None], item: Batch | None, until: threading.Event
    ) -> bool:
        while not until.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    # ---- committer threads ---------------------------------------------------------------
    def _commit_loop(self, part: int) -> None:
        """Commit part `part` of each batch, in order. Every committer takes the batches in the
        same order, so batches are complete, and acknowledged, in arrival order."""
        while True:
            batch = self._handoffs[part].get()
            if batch is None:
                return
            outcome = self._commit(self._stores[part], *batch.parts[part])
            if outcome is None:
                return
            self._part_done(batch, part, outcome)

    def _part_done(self, batch: Batch, part: int, outcome: Outcome) -> None:
        """Record a part's commit; the last part of a batch counts it and acknowledges it."""
        with self._done:
            batch.outcomes[part] = outcome
            if len(batch.outcomes) < len(batch.parts):
                return
            self.counters.committed(
                merge_parts([batch.outcomes[k] for k in range(len(batch.parts))])
            )
            self.consumer.ack(batch.deliveries)
            self.liveness.committed(batch.messages)

    def _commit(self, store: Store, messages: list[Checked], prepared: Prepared) -> Outcome | None:
        """Commit with retries until it succeeds, or None if shutdown gives up on it."""
        backoff = Backoff()
        while True:
            try:
                outcome = store.commit(messages, prepared)
            except DatabaseUnavailableError as exc:
                self.counters.database_up = False
                now = time.monotonic()
                retry_at = backoff.failed(now)
                log.warning(
                    "database unavailable (attempt %d), part %s holding %d messages: %s",
                    backoff.failures,
                    store.part,
                    len(messages),
                    exc,
                )
                if self._abandon.wait(retry_at - now):
                    return None
                continue
            self.counters.database_up = True
            return outcome


def _check_schema(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    try:
        row = conn.execute(
            "select 1 from schema_migrations where version = %s", (SCHEMA_VERSION_NEEDED,)
        ).fetchone()
    except psycopg.errors.UndefinedTable:
        row = None
    if row is None:
        raise IngestError(
            f"the database lacks migration {SCHEMA_VERSION_NEEDED:04d}: run `vigil db migrate`"
        )
