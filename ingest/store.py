"""One database transaction per batch part: claim the messages, drop repeats, COPY, dead letters.

A batch is split by device between committing connections (`ingest.parts`); each `Store` is
one of them. Messages are claimed per part, as (message, part of parts), in
`ingested_messages` (INSERT … ON CONFLICT DO NOTHING) in the same transaction as that part's
rows, so a redelivered message's committed parts are recognised and skipped, and a crash
before a part's commit leaves neither its rows nor its claim. Readings are then deduplicated as
`ingest.dedup` explains and written with binary COPY.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import psycopg

from ingest.columns import Int64s, Readings
from ingest.copy_binary import COLUMNS, PG_EPOCH_S, TABLE, encode_readings, pg_micros, seq32
from ingest.deadletter import DeadLetter, Reason
from ingest.dedup import REPEAT_WINDOW_S, ReplayFilter, first_occurrences
from ingest.errors import IngestError
from ingest.parts import Part, own
from ingest.registry import Registry, RegistrySnapshot
from ingest.validate import Checked, EventRow
from vigil.db.connect import Conn
from vigil.topics import TopicKind

log = logging.getLogger(__name__)

STATEMENT_TIMEOUT_MS = 60_000
# Times travel as integer microseconds (exact, unlike floats through to_timestamp): since 2000
# (PostgreSQL's epoch, as the COPY rows carry them) for readings and events, since 1970 for `sent`.
# A claim of the same message under another split (`parts`) is probed for only when that split
# claimed messages of this kind up to an hour before the batch's oldest (`claim_splits`,
# migration 0023): the statement keeps its own split's `newest` at most that hour behind, in
# the claims' transaction, so a claim seen here has its split's `newest` seen too.
SPLIT_SLACK_US = 3_600_000_000
_CLAIM = """
with claimed as (
    insert into ingested_messages (gateway_id, gateway_seq, sent, part, parts)
    select g, s, timestamptz '1970-01-01 00:00:00+00' + us * interval '1 microsecond',
           %(part)s, %(parts)s
    from unnest(%(g)s::text[], %(s)s::int8[], %(us)s::int8[]) as m(g, s, us)
    on conflict do nothing
    returning gateway_id, gateway_seq, sent
), kinds as (
    select k, timestamptz '1970-01-01 00:00:00+00' + lo * interval '1 microsecond' as lo,
           timestamptz '1970-01-01 00:00:00+00' + hi * interval '1 microsecond' as hi
    from unnest(%(kind)s::text[], %(lo)s::int8[], %(hi)s::int8[]) as x(k, lo, hi)
), registered as (
    insert into claim_splits (kind, parts, newest)
    select k, %(parts)s, hi from kinds
    on conflict do nothing
), raised as (
    update claim_splits c set newest = x.hi
    from kinds x
    where c.kind = x.k and c.parts = %(parts)s
      and c.newest < x.hi - %(slack)s * interval '1 microsecond'
)
select c.gateway_id, c.gateway_seq, (extract(epoch from c.sent) * 1000000)::int8,
       case when exists (
           select 1 from claim_splits o join kinds x on o.kind = x.k
           where o.parts <> %(parts)s and o.newest >= x.lo - %(slack)s * interval '1 microsecond'
       ) then exists (
           select 1 from ingested_messages o
           where o.gateway_id = c.gateway_id and o.gateway_seq = c.gateway_seq
             and o.sent = c.sent and o.parts <> %(parts)s
       ) else false end
from claimed c
"""

# Which suspect readings are stored already; the time bounds let TimescaleDB skip other chunks.
WINDOW_US = round(REPEAT_WINDOW_S * 1_000_000)
# Readings of this batch stored already: same device, seq and metric within the window (keys,
# codes and the seq's low 32 bits, as `reading_rows` holds them).
_STORED_READINGS = """
select k.i - 1
from unnest(%s::int4[], %s::int8[], %s::int4[], %s::int2[]) with ordinality as k(d, us, s, m, i),
     lateral (select timestamptz '2000-01-01 00:00:00+00' + k.us * interval '1 microsecond') x(t)
where exists (
    select 1 from reading_rows r
    where r.device = k.d
      and r.time between x.t - %s * interval '1 microsecond' and x.t + %s * interval '1 microsecond'
      and r.seq = k.s and r.metric = k.m
      and r.time between timestamptz '2000-01-01 00:00:00+00' + %s * interval '1 microsecond'
                     and timestamptz '2000-01-01 00:00:00+00' + %s * interval '1 microsecond'
)
"""

_INSERT_EVENTS = """
insert into device_events (time, device_id, kind, value, seq, gateway_ts, detail)
select t, k.d, k.k, k.v, k.s,
       timestamptz '2000-01-01 00:00:00+00' + k.rx * interval '1 microsecond', k.j::jsonb
from unnest(%s::text[], %s::int8[], %s::int8[], %s::text[], %s::float8[], %s::int8[], %s::text[])
         as k(d, us, s, k, v, rx, j),
     lateral (select timestamptz '2000-01-01 00:00:00+00' + k.us * interval '1 microsecond') as x(t)
where not exists (
    select 1 from device_events e
    where e.device_id = k.d and e.time = x.t and e.seq = k.s and e.kind = k.k
)
"""

_INSERT_DEAD = """
insert into dead_letters (topic, reason, detail, payload)
select * from unnest(%s::text[], %s::text[], %s::text[], %s::bytea[])
"""


class DatabaseUnavailableError(IngestError):
    """The database cannot be reached or lost the connection; the batch is to be retried."""


@dataclass
class Outcome:
    """What one commit did, for the counters."""

    messages: int = 0
    duplicate_messages: int = 0
    refused_messages: int = 0  # dead-lettered whole
    readings: int = 0
    duplicate_readings: int = 0
    events: int = 0
    duplicate_events: int = 0
    dead_letters: Counter[Reason] = field(default_factory=Counter)  # rows written, by reason
    dead_items: Counter[Reason] = field(default_factory=Counter)  # readings/events/messages in them
    newest_sent: float = 0.0
    seconds: float = 0.0

    def add(self, other: Outcome) -> None:
        for name in (
            "messages",
            "duplicate_messages",
            "refused_messages",
            "readings",
            "duplicate_readings",
            "events",
            "duplicate_events",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.dead_letters.update(other.dead_letters)
        self.dead_items.update(other.dead_items)
        self.newest_sent = max(self.newest_sent, other.newest_sent)
        self.seconds += other.seconds


def merge_parts(parts: Sequence[Outcome]) -> Outcome:
    """A batch's outcome from its parts': messages as part 0 counted them (every message is in
    part 0, `ingest.parts`), the rest summed, and the time of the slowest part."""
    head = parts[0]
    merged = Outcome(
        messages=head.messages,
        duplicate_messages=head.duplicate_messages,
        refused_messages=head.refused_messages,
    )
    for part in parts:
        merged.readings += part.readings
        merged.duplicate_readings += part.duplicate_readings
        merged.events += part.events
        merged.duplicate_events += part.duplicate_events
        merged.dead_letters.update(part.dead_letters)
        merged.dead_items.update(part.dead_items)
        merged.newest_sent = max(merged.newest_sent, part.newest_sent)
        merged.seconds = max(merged.seconds, part.seconds)
    return merged


@dataclass(frozen=True)
class Prepared:
    """A batch's readings made ready before its transaction, assuming every message is new:
    repeats inside the batch dropped, rows sorted in index order, the COPY payload encoded.

    Done on the decoding thread, so the committer's time goes to the database.
    """

    rows: Readings  # first occurrences, in (device key, time) order
    message: npt.NDArray[np.int32]  # the batch index of each row's message
    total: int  # readings in the batch, repeats included
    payload: npt.NDArray[np.uint8]


def prepare(
    messages: Sequence[Checked],
    registry: RegistrySnapshot,
    readings: Readings | None = None,
    counts: Int64s | None = None,
) -> Prepared:
    """`readings`, when given, are the messages' readings already gathered in order, `counts`
    of them from each message (`ingest.parts.Share`: a part's rows of messages that may hold
    other parts' too); else each message's readings are all its own."""
    if readings is None:
        readings = Readings.concat([m.readings for m in messages])
    lengths = counts if counts is not None else [len(m.readings) for m in messages]
    if len(lengths) != len(messages) or len(readings) != sum(lengths):
        raise ValueError(f"{len(readings)} readings given for messages holding {sum(lengths)}")
    message = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
    first = np.flatnonzero(first_occurrences(readings))
    # In the order of the (device) index, so each leaf page is visited once per batch.
    order = first[np.lexsort((readings.ts[first], registry.device_key[readings.device[first]]))]
    rows = readings.take(order)
    payload = encode_readings(rows, registry.device_key)
    return Prepared(rows, message[order], len(readings), payload)


def _unix_micros(t: float) -> int:
    return round(t * 1_000_000)


def claim_params(
    messages: Sequence[Checked], part: Part
) -> tuple[dict[tuple[str, int, int], int], dict[str, object]]:
    """The claim statement's parameters for `messages` as part `part`, and the index of the
    first message of each key (a batch may hold one message twice)."""
    first: dict[tuple[str, int, int], int] = {}
    sent: dict[str, list[int]] = {}  # per kind of message, its oldest and newest `sent`
    for i, m in enumerate(messages):
        if m.key is not None:
            us = _unix_micros(m.key.sent)
            first.setdefault((m.key.gateway, m.key.gseq, us), i)
            span = sent.setdefault(_kind(m.topic), [us, us])
            span[0], span[1] = min(span[0], us), max(span[1], us)
    keys = list(first)
    return first, {
        "part": part.index,
        "parts": part.count,
        "g": [k[0] for k in keys],
        "s": [k[1] for k in keys],
        "us": [k[2] for k in keys],
        "kind": list(sent),
        "lo": [lo for lo, _ in sent.values()],
        "hi": [hi for _, hi in sent.values()],
        "slack": SPLIT_SLACK_US,
    }


def _kind(topic: str) -> str:
    """A message's kind as `claim_splits` names it: its uplink topic's tail."""
    return (
        TopicKind.EVENT.value
        if topic.endswith(TopicKind.EVENT.value)
        else TopicKind.TELEMETRY.value
    )


class Store:
    """One committing connection of the ingest worker and its batch transaction.

    It stores only its part's share of each message (`ingest.parts`); `replay` must be its
    own, as the devices of a part are its alone.
    """

    def __init__(
        self, dsn: str, registry: Registry, replay: ReplayFilter, part: Part | None = None
    ) -> None:
        self._dsn = dsn
        self._registry = registry
        self._replay = replay
        self.part = part or Part()
        self._conn: Conn | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def connection(self) -> Conn:
        """The open connection, reconnecting if needed; DatabaseUnavailableError if that fails."""
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        self.close()
        try:
            self._conn = psycopg.connect(
                self._dsn,
                autocommit=True,
                connect_timeout=5,
                # A hung server must surface as an error, to be retried, not as a silent stall.
                options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
                keepalives_idle=10,
                keepalives_interval=5,
                keepalives_count=3,
            )
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailableError(f"cannot connect: {exc}") from exc
        return self._conn

    def commit(self, messages: Sequence[Checked], prepared: Prepared | None = None) -> Outcome:
        """Store a batch in one transaction; DatabaseUnavailableError leaves nothing half-done.

        If the database refuses the batch for its content (no check above caught it), the
        messages are committed one by one and the refused one goes to the dead letters, so
        one bad message never blocks the stream.
        """
        if prepared is None:
            messages = [own(m, self.part, self._registry.snapshot) for m in messages]
            prepared = prepare(messages, self._registry.snapshot)
        try:
            return self._transaction(self.connection(), messages, prepared)
        except psycopg.Error as exc:
            if self._lost(exc):
                raise DatabaseUnavailableError(str(exc)) from exc
            log.warning(
                "database refused a batch of %d messages (%s); retrying one by one",
                len(messages),
                exc,
            )
        outcome = Outcome()
        for message in messages:
            outcome.add(self._commit_alone(message))
        return outcome

    def _lost(self, exc: psycopg.Error) -> bool:
        conn = self._conn
        lost = isinstance(exc, psycopg.OperationalError) or conn is None or conn.broken
        if lost:
            self.close()
        return lost

    def _commit_alone(self, message: Checked) -> Outcome:
        message = own(message, self.part, self._registry.snapshot)
        try:
            return self._transaction(
                self.connection(), [message], prepare([message], self._registry.snapshot)
            )
        except psycopg.Error as exc:
            if self._lost(exc):
                raise DatabaseUnavailableError(str(exc)) from exc
            log.error("database refused a message on %s: %s", message.topic, exc)
            refused = DeadLetter.of(
                message.topic,
                Reason.DATABASE_REFUSED,
                str(exc),
                message.payload,
                len(message.readings) + len(message.events),
            )
            letter = Checked(
                message.topic,
                message.payload,
                None,
                message.gateway_index,
                Readings.concat([]),
                [],
                [*message.dead, refused],
            )
        try:
            return self._transaction(
                self.connection(), [letter], prepare([letter], self._registry.snapshot)
            )
        except psycopg.Error as exc:
            self._lost(exc)
            raise DatabaseUnavailableError(f"cannot even store a dead letter: {exc}") from exc

    def _transaction(self, conn: Conn, messages: Sequence[Checked], prepared: Prepared) -> Outcome:
        started = time.perf_counter()
        outcome = Outcome(
            messages=len(messages), refused_messages=sum(m.key is None for m in messages)
        )
        with conn.transaction(), conn.cursor() as cur:
            fresh, resplit = self._claim(cur, messages)
            outcome.duplicate_messages = len(messages) - len(fresh)
            self._store_readings(
                cur, prepared, fresh, resplit, messages=len(messages), outcome=outcome
            )
            self._store_events(cur, [row for i in fresh for row in messages[i].events], outcome)
            self._store_dead_letters(cur, [d for i in fresh for d in messages[i].dead], outcome)
        # Every reading of the batch is now stored, by this commit or an earlier one.
        self._replay.committed(prepared.rows.device, prepared.rows.ts, prepared.rows.seq)
        sent = [m.key.sent for m in messages if m.key is not None]
        outcome.newest_sent = max(sent, default=0.0)
        outcome.seconds = time.perf_counter() - started
        return outcome

    def _claim(
        self, cur: psycopg.Cursor[tuple[object, ...]], messages: Sequence[Checked]
    ) -> tuple[list[int], list[int]]:
        """Indexes of the messages whose part was not ingested before (keyless ones always
        count as new), and of those among them claimed under another split.

        A claim of another split (another `COMMITTERS`, or made before migration 0009) says
        some of the message may be stored, not which of this part's readings: those are looked
        up one by one, as the replay filter cannot vouch for them (it may know a device only
        by older readings, stored after the message was). The statement looks for such claims
        only when another split claimed messages of their kind lately (`claim_splits`)."""
        fresh = [i for i, m in enumerate(messages) if m.key is None]
        resplit = []
        first, params = claim_params(messages, self.part)
        if first:
            cur.execute(_CLAIM, params)
            for g, s, us, other in cur.fetchall():
                index = first[(str(g), int(str(s)), int(str(us)))]
                fresh.append(index)
                if other:
                    resplit.append(index)
        fresh.sort()
        return fresh, resplit

    def _store_readings(
        self,
        cur: psycopg.Cursor[tuple[object, ...]],
        prepared: Prepared,
        fresh: list[int],
        resplit: list[int],
        *,
        messages: int,
        outcome: Outcome,
    ) -> None:
        """COPY the prepared rows of the new messages, less any already stored."""
        rows = prepared.rows
        keep = np.ones(len(rows), dtype=np.bool_)
        if len(fresh) < messages:  # rows of messages ingested before are stored already
            keep = np.isin(prepared.message, np.array(fresh, dtype=np.int32))
        suspect = self._replay.suspects(rows.device, rows.ts, rows.seq)
        if resplit:
            suspect |= np.isin(prepared.message, np.array(resplit, dtype=np.int32))
        suspects = np.flatnonzero(keep & suspect)
        if len(suspects):
            keep[self._stored_already(cur, rows.take(suspects), suspects)] = False
        stored = int(keep.sum())
        outcome.readings = stored
        outcome.duplicate_readings = prepared.total - stored
        if stored == 0:
            return
        payload = prepared.payload
        if stored < len(rows):
            payload = encode_readings(rows.take(keep), self._registry.snapshot.device_key)
        with cur.copy(f"copy {TABLE} ({COLUMNS}) from stdin (format binary)") as copy:
            copy.write(payload.data)

    def _stored_already(
        self,
        cur: psycopg.Cursor[tuple[object, ...]],
        suspects: Readings,
        positions: np.ndarray,
    ) -> np.ndarray:
        keys = self._registry.snapshot.device_key
        micros = pg_micros(suspects.ts)
        cur.execute(
            _STORED_READINGS,
            (
                keys[suspects.device].tolist(),
                micros.tolist(),
                seq32(suspects.seq).tolist(),
                suspects.metric.tolist(),
                WINDOW_US,
                WINDOW_US,
                int(micros.min()) - WINDOW_US,
                int(micros.max()) + WINDOW_US,
            ),
        )
        found = np.array([int(str(row[0])) for row in cur.fetchall()], dtype=np.int64)
        return positions[found] if len(found) else np.zeros(0, dtype=np.int64)

    @staticmethod
    def _store_events(
        cur: psycopg.Cursor[tuple[object, ...]], events: Sequence[EventRow], outcome: Outcome
    ) -> None:
        unique = list({(e.device, e.seq, e.kind, e.ts): e for e in reversed(events)}.values())
        if not unique:
            return
        to_pg = PG_EPOCH_S
        cur.execute(
            _INSERT_EVENTS,
            (
                [e.device for e in unique],
                [round((e.ts - to_pg) * 1_000_000) for e in unique],
                [e.seq for e in unique],
                [e.kind for e in unique],
                [e.value for e in unique],
                [round((e.rx - to_pg) * 1_000_000) for e in unique],
                [e.detail.decode() for e in unique],
            ),
        )
        outcome.events = cur.rowcount
        outcome.duplicate_events = len(events) - cur.rowcount

    @staticmethod
    def _store_dead_letters(
        cur: psycopg.Cursor[tuple[object, ...]], dead: Sequence[DeadLetter], outcome: Outcome
    ) -> None:
        if not dead:
            return
        cur.execute(
            _INSERT_DEAD,
            (
                [d.topic for d in dead],
                [d.reason.value for d in dead],
                [d.detail for d in dead],
                [d.payload for d in dead],
            ),
        )
        for d in dead:
            outcome.dead_letters[d.reason] += 1
            outcome.dead_items[d.reason] += d.count
