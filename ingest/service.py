"""The ingest worker: broker → decode and check → detectors, and → batch → commit → acknowledge.

The work runs in two lanes, one for telemetry and one for events (alarms, presses), so an event
never waits behind telemetry: each lane has its own MQTT session, receive window, inbox,
decoding loop and committers. In each, paho's network thread only queues deliveries. The
decoding thread parses and checks each message, hands it to the detectors' sink at once, and
gathers messages into a batch bounded by rows and by a deadline; when it closes, the batch is
split by device (`ingest.parts`) between the lane's committer threads, each with its own
database connection, which commit their parts in parallel (the telemetry lane has
`COMMITTERS`, the event lane one). The last part of a batch to commit acknowledges its
messages. While the database is down the committers retry with backoff, the hand-off queues
fill, the decoder stops taking messages, and the broker stops sending once the receive window is
full: memory stays bounded and the backlog waits at the broker.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg

from ingest.broker_watch import BrokerWatch
from ingest.columns import Readings
from ingest.consumer import BrokerConfig, Consumer, Delivery
from ingest.dead_retention import DeadLetterBound
from ingest.deadletter import Reason
from ingest.dedup import ReplayFilter
from ingest.errors import IngestError
from ingest.gateway_status import GatewayStatusFollower
from ingest.inbox import Inbox
from ingest.liveness import Liveness
from ingest.maintenance import Maintenance
from ingest.metrics import Counters
from ingest.partition import Partition
from ingest.parts import Part, shares
from ingest.registry import Registry, RegistrySnapshot, RegistryWatcher
from ingest.sink import BatchSink, FollowsGatewayStatus, ReadingBatch
from ingest.store import DatabaseUnavailableError, Outcome, Prepared, Store, merge_parts, prepare
from ingest.validate import Checked, Window, check, check_plain, refuse
from ingest.wire import RejectedError, parse
from vigil.backoff import Backoff
from vigil.db.connect import database_url
from vigil.db.timescale import retention_for
from vigil.observability import INGEST, Health, Heartbeat, ObservabilityServer, flag, serve
from vigil.settings import Settings
from vigil.topics import TopicKind

log = logging.getLogger(__name__)

SCHEMA_VERSION_NEEDED = 23  # 0023_claim_splits
# Each message makes a few dozen container objects that die young: past the default of 700
# the collector ran every few messages and took a tenth of the decoding thread's time.
GC_YOUNG_THRESHOLD = 20_000
SHUTDOWN_GRACE_S = 10.0
EVENT_INBOX_MAX_BYTES = 4 * 1024 * 1024


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
            (share.messages, prepare(share.messages, snapshot, share.readings, share.counts))
            for share in shares(self.messages, snapshot, parts)
        ]


@dataclass(frozen=True)
class LaneConfig:
    """What sets a lane apart: which uplink topics it takes and how much it holds in flight."""

    name: str  # "telemetry" or "events"
    kind: TopicKind
    receive_window: int
    inbox_max_bytes: int
    batch_rows: int  # per transaction: a batch holds this many for each committer
    batch_deadline_s: float
    queued_batches: int  # closed batches that may wait for each committer
    committers: int

    @classmethod
    def telemetry(cls, s: Settings) -> LaneConfig:
        return cls(
            "telemetry",
            TopicKind.TELEMETRY,
            s.ingest_receive_window,
            s.ingest_inbox_max_bytes,
            s.ingest_batch_rows,
            s.ingest_batch_deadline_s,
            1,  # one batch committing, one ready behind it
            s.ingest_committers,
        )

    @classmethod
    def events(cls, s: Settings) -> LaneConfig:
        """Events are few and urgent: each message is its own transaction, at once, and every
        message of the window may wait for the committer, so decoding (hence the detectors)
        never waits for the database."""
        window = s.ingest_event_receive_window
        return cls("events", TopicKind.EVENT, window, EVENT_INBOX_MAX_BYTES, 1, 0.0, window, 1)


@dataclass
class Lane:
    """One MQTT session and what serves it: inbox, decoding loop, committers and their
    connections (one per part of a batch)."""

    config: LaneConfig
    consumer: Consumer
    stores: list[Store]
    heartbeat: Heartbeat
    handoffs: list[queue.Queue[Batch | None]]
    left: Batch = field(default_factory=Batch)  # what the decoding loop held when it ended
    done: threading.Lock = field(default_factory=threading.Lock)  # the last part acknowledges

    @property
    def inbox(self) -> Inbox[Delivery]:
        return self.consumer.inbox


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
        self._abandon = threading.Event()  # shutdown grace is over: stop retrying the database
        self.lanes = (
            self._lane(LaneConfig.telemetry(settings), "decode loop"),
            self._lane(LaneConfig.events(settings), "event loop"),
        )
        broker = self.consumer.config
        watch = BrokerWatch(f"{broker.host}:{broker.port}")
        self.liveness = Liveness(
            self.dsn,
            self.registry,
            settings.ingest_status_interval_s,
            settings.ingest_last_seen_interval_s,
            watch=watch,
        )
        # One subscription to the gateways' status per worker, for liveness and the detectors.
        self.gateway_status = GatewayStatusFollower(
            broker,
            self.options.partition.owns,
            max_future_s=settings.ingest_max_future_s,
            watch=watch,
        )
        self.gateway_status.subscribe(self.liveness.on_status)
        if isinstance(sink, FollowsGatewayStatus):
            self.gateway_status.subscribe(sink.on_gateway_status)
        self.health = Health(
            "ingest",
            {
                "broker": flag(
                    lambda: self.counters.broker_connected, "not connected to the broker"
                ),
                "database": flag(lambda: self.counters.database_up, "database unavailable"),
                **{lane.heartbeat.what: lane.heartbeat.check for lane in self.lanes},
            },
        )
        self.observability: ObservabilityServer | None = None

    @property
    def consumer(self) -> Consumer:
        """The telemetry lane's session (the worker's original client id)."""
        return self.lanes[0].consumer

    @property
    def client_ids(self) -> list[str]:
        return [lane.consumer.config.client_id for lane in self.lanes]

    def _lane(self, config: LaneConfig, loop: str) -> Lane:
        inbox: Inbox[Delivery] = Inbox(config.inbox_max_bytes)
        n = config.committers
        stores = [Store(self.dsn, self.registry, ReplayFilter(), Part(k, n)) for k in range(n)]
        for store in stores:
            self.counters.database[_key(config, store)] = False  # until the registry is loaded
        return Lane(
            config,
            Consumer(self._broker_config(config), inbox, self.counters),
            stores,
            Heartbeat(loop, max_age_s=30),
            [queue.Queue(maxsize=config.queued_batches) for _ in range(n)],
        )

    def _broker_config(self, lane: LaneConfig) -> BrokerConfig:
        s = self.settings
        # Unset means the local stack's broker, as `database_url` falls back to its database.
        port = s.mqtt_port if s.mqtt_port is not None else s.stack_mqtt_port
        client_id = self.options.partition.client_id(self.options.client_prefix)
        return BrokerConfig(
            host=s.mqtt_host,
            port=port,
            username=s.mqtt_username,
            password=s.mqtt_password.get_secret_value(),
            client_id=client_id if lane.kind is TopicKind.TELEMETRY else f"{client_id}-{lane.name}",
            receive_window=lane.receive_window,
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
        _settle_collector()
        watcher = RegistryWatcher(self.dsn, self.registry, stop)
        maintenance = Maintenance(
            self.dsn,
            retention_for(self.settings),
            self.settings.ingest_maintain_interval_s,
            stop,
            dead_letters=DeadLetterBound(
                self.settings.dead_letter_retention_days, self.settings.dead_letter_max_bytes
            ),
        )
        telemetry, *others = self.lanes
        committers = [
            threading.Thread(
                target=self._commit_loop,
                args=(lane, k),
                name=f"ingest-commit-{lane.config.name}-{k}",
            )
            for lane in self.lanes
            for k in range(len(lane.stores))
        ]
        decoders = [
            threading.Thread(
                target=self._decode_loop, args=(lane, stop), name=f"ingest-{lane.config.name}"
            )
            for lane in others
        ]
        watcher.start()
        maintenance.start()
        self.liveness.start()
        self.gateway_status.start()
        for thread in committers + decoders:
            thread.daemon = True
            thread.start()
        for lane in self.lanes:
            lane.consumer.start()
        log.info(
            "ingest worker %s (%s) running", self.options.partition, ", ".join(self.client_ids)
        )
        try:
            self._decode_loop(telemetry, stop)
        finally:
            stop.set()  # the other lanes end with this one
            self._shutdown(committers, decoders)
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
        backoff = Backoff(initial=0.2)
        while not stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                    _check_schema(conn)
                    self.registry.load(conn)
                for lane in self.lanes:
                    for store in lane.stores:
                        self.counters.database[_key(lane.config, store)] = True
                return
            except psycopg.OperationalError as exc:
                now = time.monotonic()
                log.warning("waiting for the database: %s", exc)
                stop.wait(backoff.failed(now) - now)

    def _follow_sites(self, snapshot: RegistrySnapshot) -> None:
        sites = {g.site for g in snapshot.gateways.values()}
        partition = self.options.partition
        for lane in self.lanes:
            lane.consumer.subscribe(partition.filters(sites, lane.config.kind))
        # A session from before the lanes holds both kinds under one filter; the broker keeps
        # a persistent session's subscriptions, so that one is dropped explicitly.
        self.consumer.unsubscribe(partition.filters(sites))

    def _shutdown(
        self, committers: Sequence[threading.Thread], decoders: Sequence[threading.Thread]
    ) -> None:
        """Commit what was taken, within a grace period; what is left is redelivered later."""
        timer = threading.Timer(SHUTDOWN_GRACE_S, self._abandon.set)
        timer.start()
        for thread in decoders:
            thread.join(SHUTDOWN_GRACE_S)
        for lane in self.lanes:
            if lane.left.messages:
                if not lane.left.parts:
                    lane.left.close(self.registry.snapshot, len(lane.stores))
                self._hand_over(lane, lane.left, self._abandon)
            for handoff in lane.handoffs:
                self._put(handoff, None, self._abandon)
        deadline = time.monotonic() + SHUTDOWN_GRACE_S + 5.0
        for thread in committers:
            thread.join(max(0.0, deadline - time.monotonic()))
        timer.cancel()
        self.gateway_status.close()
        self.liveness.close()
        for lane in self.lanes:
            lane.inbox.close()  # paho's thread may wait for room; what it holds is redelivered
            lane.consumer.stop()
            for store in lane.stores:
                store.close()
        self._stop_metrics()
        log.info("ingest worker stopped")

    # ---- decoding thread -----------------------------------------------------------------
    def _decode_loop(self, lane: Lane, stop: threading.Event) -> None:
        """Decode until `stop`; leaves in `lane.left` the batch still open (or not taken)."""
        c = lane.config
        batch = Batch()
        while not stop.is_set():
            lane.heartbeat.beat()
            wait = c.batch_deadline_s - (time.monotonic() - batch.opened)
            delivery = lane.inbox.get(timeout=max(wait, 0.0) if batch.messages else 0.2)
            if delivery is not None:
                batch.add(self.decode(delivery), delivery)
            due = time.monotonic() - batch.opened >= c.batch_deadline_s
            full = batch.rows >= c.batch_rows * len(lane.stores)
            if batch.messages and (full or due):
                batch.close(self.registry.snapshot, len(lane.stores))
                if not self._hand_over(lane, batch, stop):
                    break
                batch = Batch()
        lane.left = batch

    def decode(self, delivery: Delivery) -> Checked:
        """Parse and check one message and hand it to the sink; never raises."""
        snapshot = self.registry.snapshot
        now = time.time()
        try:
            checked = check_plain(delivery.topic, delivery.payload, snapshot, self.window, now)
            if checked is None:
                uplink = parse(delivery.topic, delivery.payload)
                checked = check(uplink, delivery.payload, snapshot, self.window, now)
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

    def _hand_over(self, lane: Lane, batch: Batch, until: threading.Event) -> bool:
        """Queue each part of a batch for its committer; False if `until` is set first (the
        parts not yet queued are then queued by the next call)."""
        while batch.handed < len(lane.handoffs):
            if not self._put(lane.handoffs[batch.handed], batch, until):
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
    def _commit_loop(self, lane: Lane, part: int) -> None:
        """Commit part `part` of each batch, in order. Every committer of a lane takes the
        batches in the same order, so batches are complete, and acknowledged, in arrival order."""
        while True:
            batch = lane.handoffs[part].get()
            if batch is None:
                return
            outcome = self._commit(lane, lane.stores[part], *batch.parts[part])
            if outcome is None:
                return
            self._part_done(lane, batch, part, outcome)

    def _part_done(self, lane: Lane, batch: Batch, part: int, outcome: Outcome) -> None:
        """Record a part's commit; the last part of a batch counts it and acknowledges it."""
        with lane.done:
            batch.outcomes[part] = outcome
            if len(batch.outcomes) < len(batch.parts):
                return
            merged = merge_parts([batch.outcomes[k] for k in range(len(batch.parts))])
            self.counters.committed(merged, stream=lane.config.kind is TopicKind.TELEMETRY)
            lane.consumer.ack(batch.deliveries)
            # The parts' rows are the batch's readings (less repeats inside it), gathered.
            rows = Readings.concat([prepared.rows for _, prepared in batch.parts])
            self.liveness.committed(batch.messages, rows)

    def _commit(
        self, lane: Lane, store: Store, messages: list[Checked], prepared: Prepared
    ) -> Outcome | None:
        """Commit with retries until it succeeds, or None if shutdown gives up on it."""
        backoff = Backoff(initial=0.2)
        key = _key(lane.config, store)
        while True:
            try:
                outcome = store.commit(messages, prepared)
            except DatabaseUnavailableError as exc:
                self.counters.database[key] = False
                now = time.monotonic()
                retry_at = backoff.failed(now)
                log.warning(
                    "database unavailable (attempt %d), %s holding %d messages: %s",
                    backoff.failures,
                    key,
                    len(messages),
                    exc,
                )
                if self._abandon.wait(retry_at - now):
                    return None
                continue
            self.counters.database[key] = True
            return outcome


def _settle_collector() -> None:
    """What start-up made (modules, registry, detector state) lives as long as the process:
    frozen, the collector stops walking it on every full pass; young collections run less
    often."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def _key(lane: LaneConfig, store: Store) -> str:
    """A committer's name in the counters and logs: its lane and its part."""
    return f"{lane.name} lane, part {store.part}"


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
