"""A claiming worker's hold on its partitions: PostgreSQL advisory locks of one session.

Each worker keeps one connection open for its claims. On it, it holds a shared lock that says
"I am alive" and an exclusive lock per partition it runs. When the worker dies its session
ends and PostgreSQL drops every lock at once, so the survivors see the partitions free and the
worker gone on their next look at `pg_locks`; nothing has to expire. The session is tuned to
end within seconds if the worker's host vanishes (TCP keepalives on both sides) and never for
being idle.

Keys are the two-integer form: the first names the pool (client prefix and partition count,
since both change the MQTT client ids), the second the partition, or MEMBER for liveness.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from ingest.errors import IngestError
from ingest.share import View

log = logging.getLogger(__name__)

MEMBER = 0x7FFFFFFF  # second key of the shared "alive" lock; partitions are 0 .. P-1
_SESSION = (
    "set statement_timeout = '5s'",
    "set idle_session_timeout = 0",
    "set idle_in_transaction_session_timeout = 0",
    # The server's side of a vanished client: probe after 5 s idle, give up after 3 misses.
    "set tcp_keepalives_idle = 5",
    "set tcp_keepalives_interval = 2",
    "set tcp_keepalives_count = 3",
)
_HELD = """
select pid, objid::int8 from pg_locks
where locktype = 'advisory' and granted and objsubid = 2 and classid = %s::int8::oid
  and database = (select oid from pg_database where datname = current_database())
"""


class ClaimsLostError(IngestError):
    """The claims' session is gone (or unusable): every lock it held is released."""


def pool_key(client_prefix: str, partitions: int) -> int:
    """The first lock key of a pool: workers with the same prefix and count share it."""
    return zlib.crc32(f"vigil-ingest-claims:{client_prefix}:{partitions}".encode()) & 0x7FFFFFFF


class Claims:
    """The advisory locks of this worker; every call raises ClaimsLostError if the session
    is gone, after which `connect` starts a new one holding nothing."""

    def __init__(self, dsn: str, client_prefix: str, partitions: int) -> None:
        self.dsn = dsn
        self.partitions = partitions
        self.key = pool_key(client_prefix, partitions)
        self.me = 0  # this session's backend pid: the worker's id in views
        self._conn: psycopg.Connection[Any] | None = None

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.closed

    def connect(self) -> int:
        """Open the session and register as alive; returns the worker's id."""
        self.close()
        try:
            conn = psycopg.connect(
                self.dsn,
                autocommit=True,
                connect_timeout=5,
                keepalives=1,
                keepalives_idle=5,
                keepalives_interval=2,
                keepalives_count=3,
                tcp_user_timeout=10_000,
            )
        except psycopg.Error as exc:
            raise ClaimsLostError(f"cannot open the claims' session: {exc}") from exc
        self._conn = conn
        with self._failing("register"):
            for statement in _SESSION:
                conn.execute(statement)
            conn.execute("select pg_advisory_lock_shared(%s, %s)", (self.key, MEMBER))
        self.me = conn.info.backend_pid
        return self.me

    def view(self) -> View:
        """Every live worker of this pool and the partitions each holds."""
        holdings: dict[int, set[int]] = {}
        with self._failing("read the claims"):
            for pid, objid in self._session().execute(_HELD, (self.key,)):
                held = holdings.setdefault(int(pid), set())
                if 0 <= objid < self.partitions:
                    held.add(int(objid))
        return View(self.partitions, {w: frozenset(p) for w, p in holdings.items()})

    def try_claim(self, partition: int) -> bool:
        with self._failing(f"claim partition {partition}"):
            row = (
                self._session()
                .execute("select pg_try_advisory_lock(%s, %s)", (self.key, partition))
                .fetchone()
            )
        return bool(row and row[0])

    def release(self, partition: int) -> None:
        with self._failing(f"release partition {partition}"):
            self._session().execute("select pg_advisory_unlock(%s, %s)", (self.key, partition))

    def close(self) -> None:
        """End the session: PostgreSQL releases every lock it held."""
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    def _session(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            raise ClaimsLostError("the claims' session is closed")
        return self._conn

    @contextmanager
    def _failing(self, what: str) -> Iterator[None]:
        """Any database error ends the session: after one we cannot tell which locks it still
        holds, so it must go and release them all."""
        try:
            yield
        except psycopg.Error as exc:
            self.close()
            raise ClaimsLostError(f"cannot {what}: {exc}") from exc
