"""What a stored reading costs: bytes on disk, and CPU seconds of each process that handled it.

Bytes: the readings table with its indexes (TimescaleDB's `hypertable_size`, every chunk and
its indexes; a plain table's total relation size otherwise) over its rows. The table is named
once, here, for every benchmark that weighs it.

CPU: user + system time from /proc/<pid>/stat, summed over a process and every descendant,
including what exited descendants used once their parent reaped them (cutime + cstime), so the
PostgreSQL backends that come and go during a run are counted with the server. Read before and
after the measured window; the difference over the readings stored in it, per million.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from ingest.copy_binary import TABLE

READINGS_TABLE = TABLE  # the raw readings' table (a hypertable in the project's schema)
PROC = Path("/proc")


@dataclass(frozen=True)
class Storage:
    rows: int
    bytes: int

    @property
    def bytes_per_row(self) -> float | None:
        return round(self.bytes / self.rows, 1) if self.rows else None


def rows(conn: psycopg.Connection[Any], table: str = READINGS_TABLE) -> int:
    """Rows in the readings table (what a benchmark has stored so far)."""
    row = conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(table))).fetchone()
    return int(str(row[0])) if row else 0


def storage(conn: psycopg.Connection[Any], table: str = READINGS_TABLE) -> Storage:
    """Rows and bytes (table, indexes, TOAST) of `table`, a hypertable or a plain table."""
    query = sql.SQL(
        "select (select count(*) from {t}),"
        " coalesce(hypertable_size({n}::regclass), pg_total_relation_size({n}::regclass))"
    ).format(t=sql.Identifier(table), n=sql.Literal(table))
    row = conn.execute(query).fetchone()
    if row is None:
        return Storage(0, 0)
    rows, size = row
    return Storage(int(str(rows)), int(str(size or 0)))


@dataclass(frozen=True)
class Stat:
    """The fields of /proc/<pid>/stat this module needs, in clock ticks."""

    pid: int
    ppid: int
    ticks: int  # utime + stime + cutime + cstime

    @classmethod
    def parse(cls, pid: int, text: str) -> Stat:
        # The command name (field 2) is in parentheses and may hold spaces and parentheses.
        fields = text.rsplit(")", 1)[1].split()
        utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
        return cls(pid, int(fields[1]), utime + stime + cutime + cstime)


def _stats(proc: Path) -> dict[int, Stat]:
    found = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                found[int(entry.name)] = Stat.parse(int(entry.name), (entry / "stat").read_text())
            except (OSError, IndexError, ValueError):
                continue  # gone between listing and reading
    return found


def tree(root: int, stats: Mapping[int, Stat]) -> list[int]:
    """`root` and its descendants among `stats` (empty if root is gone)."""
    children: dict[int, list[int]] = {}
    for s in stats.values():
        children.setdefault(s.ppid, []).append(s.pid)
    out, todo = [], [root] if root in stats else []
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def cpu_seconds(roots: Mapping[str, list[int]], proc: Path = PROC) -> dict[str, float]:
    """CPU seconds used so far by each named part: the process trees under its root pids."""
    stats = _stats(proc)
    hz = os.sysconf("SC_CLK_TCK")
    return {
        part: sum(stats[p].ticks for root in pids for p in tree(root, stats)) / hz
        for part, pids in roots.items()
    }


def machine_busy_seconds(proc: Path = PROC) -> float:
    """CPU seconds every process on the machine has used (for what else was running)."""
    fields = [int(f) for f in (proc / "stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def per_million(
    before: Mapping[str, float], after: Mapping[str, float], readings: int
) -> dict[str, float]:
    """CPU seconds per million readings of each part between two readings of `cpu_seconds`."""
    if readings <= 0:
        raise ValueError("no readings stored in the measured window")
    return {part: round((after[part] - before[part]) * 1e6 / readings, 2) for part in before}


def share_of_floor(readings_per_s: float, floor_readings_per_s: float | None) -> float | None:
    """Ingest's rate over the database-side floor of the same run (bench-ingest-dedup's
    `no_dedup`: COPY of the same batches with no broker and no ingest process)."""
    if not floor_readings_per_s:
        return None
    return round(readings_per_s / floor_readings_per_s, 3)
