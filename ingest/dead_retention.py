"""Dead letters kept for a bounded time and a bounded size (docs/security.md).

Each row is capped already (64 KiB of payload); the table was not: one gateway sending garbage
grew it by 19.6 MiB in 4 s, for good. Ingest's maintenance pass now deletes rows older than
`dead_letter_retention_days`, and when the table is over `dead_letter_max_bytes` (measured
cheaply by its relation size) the oldest rows until the newest fit in 80 % of it, so a flood
pushes out old letters rather than growing the disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

_OLD = "delete from dead_letters where received_at < %s"
_SIZE = "select pg_total_relation_size('dead_letters')"
# Rows beyond the newest that fit in `keep` bytes (payload, topic and detail).
_OVER = """
with ranked as (
    select id, sum(octet_length(payload) + octet_length(topic) + coalesce(octet_length(detail), 0))
               over (order by id desc) as upto
    from dead_letters
)
delete from dead_letters d using ranked r where d.id = r.id and r.upto > %s
"""


@dataclass(frozen=True)
class DeadLetterBound:
    days: float
    max_bytes: int


def prune_dead_letters(conn: psycopg.Connection[Any], bound: DeadLetterBound, now: datetime) -> int:
    """Delete what is past the bound; returns how many rows went."""
    gone = conn.execute(_OLD, (now - timedelta(days=bound.days),)).rowcount
    row = conn.execute(_SIZE).fetchone()
    if row is not None and int(row[0]) > bound.max_bytes:
        gone += conn.execute(_OVER, (int(bound.max_bytes * 0.8),)).rowcount
    return max(gone, 0)
