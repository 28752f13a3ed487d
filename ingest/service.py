"""The ingest worker: broker → decode and check → detectors, and → batch → commit → acknowledge.

Three threads share the work. paho's network thread only queues deliveries. The decoding
thread parses and checks each message, hands it to the detectors' sink at once, and gathers
messages into a batch bounded by rows and by a deadline. The committer thread commits each
batch in one transaction and only then acknowledges its messages. While the database is down
the committer retries with backoff, the hand-off queue fills, the decoder stops taking
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
from ingest.registry import Registry, RegistrySnapshot, RegistryWatcher
from ingest.sink import BatchSink, ReadingBatch
from ingest.store import DatabaseUnavailableError, Prepared, Store, prepare
from ingest.validate import Checked, Window, check, refuse
from ingest.wire import RejectedError, parse
from vigil.db.connect import database_url
from vigil.db.timescale import retention_for
from vigil.observability import INGEST, Health, Heartbeat, ObservabilityServer, flag, serve
from vigil.settings import Settings

log = logging.getLogger(__name__)

SCHEMA_VERSION_NEEDED = 9  # 0009_live_status
SHUTDOWN_GRACE_S = 10.0


@dataclass
class Batch:
    """Messages gathered for one transaction, with the deliveries to acknowledge after it."""

    messages: list[Checked] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    rows: int = 0
    opened: float = 0.0  # monotonic time of its first message
    prepared: Prepared | None = None  # made when the batch closes, on the decoding thread

    def add(self, checked: Checked, delivery: Delivery) -> None:
        if not self.messages:
            self.opened = time.monotonic()
        self.messages.append(checked)
        self.deliveries.append(delivery)
        self.rows += len(checked.readings) + len(checked.events) + len(checked.dead)


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
        # Two batches may wait for the committer: one committing, one ready behind it.
        self._handoff: queue.Queue[Batch | None] = queue.Queue(maxsize=1)
        self._store = Store(self.dsn, self.registry, ReplayFilter())
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
        committer = threading.Thread(target=self._commit_loop, name="ingest-commit", daemon=True)
        watcher.start()
        maintenance.start()
        self.liveness.start()
        committer.start()
        self.consumer.start()
        log.info(
            "ingest worker %s (%s) running", self.options.partition, self.consumer.config.client_id
        )
        last = Batch()
        try:
            last = self._decode_loop(stop)
        finally:
            self._shutdown(committer, last)
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

    def _shutdown(self, committer: threading.Thread, last: Batch) -> None:
        """Commit what was taken, within a grace period; what is left is redelivered later."""
        timer = threading.Timer(SHUTDOWN_GRACE_S, self._abandon.set)
        timer.start()
        if last.messages:
            self._hand_over(last, self._abandon)
        self._hand_over(None, self._abandon)
        committer.join(SHUTDOWN_GRACE_S + 5.0)
        timer.cancel()
        self.liveness.close()
        self.inbox.close()  # paho's thread may wait for room; what it holds is redelivered
        self.consumer.stop()
        self._store.close()
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
            if batch.messages and (batch.rows >= s.ingest_batch_rows or due):
                batch.prepared = prepare(batch.messages, self.registry.snapshot)
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

    def _hand_over(self, batch: Batch | None, until: threading.Event) -> bool:
        """Queue a batch (None: the end) for the committer; False if `until` is set first."""
        while not until.is_set():
            try:
                self._handoff.put(batch, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    # ---- committer thread ----------------------------------------------------------------
    def _commit_loop(self) -> None:
        while True:
            batch = self._handoff.get()
            if batch is None:
                return
            if not self._commit(batch):
                return
            self.consumer.ack(batch.deliveries)
            self.liveness.committed(batch.messages)

    def _commit(self, batch: Batch) -> bool:
        """Commit with retries until it succeeds (True) or shutdown gives up on it (False)."""
        backoff = Backoff()
        while True:
            try:
                outcome = self._store.commit(batch.messages, batch.prepared)
            except DatabaseUnavailableError as exc:
                self.counters.database_up = False
                now = time.monotonic()
                retry_at = backoff.failed(now)
                log.warning(
                    "database unavailable (attempt %d), holding %d messages: %s",
                    backoff.failures,
                    len(batch.messages),
                    exc,
                )
                if self._abandon.wait(retry_at - now):
                    return False
                continue
            self.counters.database_up = True
            self.counters.committed(outcome)
            return True


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
