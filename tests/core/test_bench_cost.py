"""bench.cost: reading /proc for process trees' CPU, and the arithmetic of a reading's cost."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from bench.cost import (
    Stat,
    Storage,
    cpu_seconds,
    machine_busy_seconds,
    per_million,
    rows,
    share_of_floor,
    storage,
    tree,
)
from bench.ingest import SETTLE_S, measuring

HZ = os.sysconf("SC_CLK_TCK")


def _stat_line(pid: int, comm: str, ppid: int, ticks: tuple[int, int, int, int]) -> str:
    """A /proc/<pid>/stat line: utime, stime, cutime and cstime are fields 14 to 17."""
    before = [str(ppid), *["0"] * 9]  # ppid, pgrp, session, tty, tpgid, flags, 4 fault counts
    return f"{pid} ({comm}) S {' '.join(before)} {' '.join(map(str, ticks))} 20 0 1 0 5\n"


def test_a_stat_line_is_read_past_a_command_name_with_spaces_and_parentheses() -> None:
    stat = Stat.parse(42, _stat_line(42, "postgres: vigil (copy) x)", 7, (10, 5, 3, 2)))
    assert stat == Stat(42, 7, 20)


def _fake_proc(root: Path, procs: dict[int, tuple[int, tuple[int, int, int, int]]]) -> Path:
    for pid, (ppid, ticks) in procs.items():
        (root / str(pid)).mkdir()
        (root / str(pid) / "stat").write_text(_stat_line(pid, "p", ppid, ticks))
    (root / "self").mkdir()  # not a pid: skipped
    return root


def test_a_part_is_its_whole_process_tree(tmp_path: Path) -> None:
    proc = _fake_proc(
        tmp_path,
        {
            1: (0, (0, 0, 0, 0)),
            100: (1, (HZ, 0, 0, 0)),  # the postmaster
            101: (100, (HZ, HZ, 0, 0)),  # a backend
            102: (101, (0, 0, 2 * HZ, 0)),  # its child, with a reaped grandchild's time
            200: (1, (3 * HZ, 0, 0, 0)),  # someone else
        },
    )
    stats = {p: Stat.parse(p, (proc / str(p) / "stat").read_text()) for p in (1, 100, 101, 102)}
    assert sorted(tree(100, stats)) == [100, 101, 102]
    assert tree(999, stats) == []
    used = cpu_seconds({"postgres": [100], "other": [200], "gone": [999]}, proc)
    assert used == {"postgres": 5.0, "other": 3.0, "gone": 0.0}


def test_cpu_of_a_real_tree_counts_children_that_have_exited() -> None:
    """A parent that runs a CPU-bound child to its end: the child's time is still the tree's."""
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass\n"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess, sys, time\nsubprocess.run([sys.executable, '-c', {burn!r}])\n"
            "print('done', flush=True)\ntime.sleep(30)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        before = cpu_seconds({"tree": [parent.pid]})
        assert parent.stdout is not None
        assert parent.stdout.readline() == "done\n"  # the child has run and been reaped
        after = cpu_seconds({"tree": [parent.pid]})
    finally:
        parent.kill()
        parent.wait()
    assert after["tree"] - before["tree"] >= 0.35


def test_machine_busy_seconds_grows_with_work() -> None:
    start = machine_busy_seconds()
    t = time.process_time()
    while time.process_time() - t < 0.2:
        pass
    assert machine_busy_seconds() - start >= 0.15


def test_per_million_is_seconds_over_readings_scaled() -> None:
    before = {"ingest": 10.0, "postgres": 4.0}
    after = {"ingest": 13.2, "postgres": 8.3}
    assert per_million(before, after, 1_000_000) == {"ingest": 3.2, "postgres": 4.3}
    assert per_million(before, after, 2_000_000) == {"ingest": 1.6, "postgres": 2.15}
    with pytest.raises(ValueError, match="no readings"):
        per_million(before, after, 0)


def test_share_of_floor_and_bytes_per_row() -> None:
    assert share_of_floor(197_010, 244_908) == 0.804
    assert share_of_floor(197_010, None) is None
    assert share_of_floor(197_010, 0) is None
    assert Storage(rows=1_000_000, bytes=140_100_000).bytes_per_row == 140.1
    assert Storage(rows=0, bytes=8192).bytes_per_row is None


def test_storage_weighs_a_hypertable_or_a_plain_table_with_its_indexes(fresh_db: str) -> None:
    """Named by the caller: the readings table may be renamed or narrowed by a migration."""
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("create extension if not exists timescaledb")
        for name in ("narrow", "plain"):
            conn.execute(f"create table {name} (time timestamptz not null, device int, v real)")
            conn.execute(f"create index on {name} (device, time)")
        conn.execute("select create_hypertable('narrow', by_range('time', interval '1 hour'))")
        for name in ("narrow", "plain"):
            conn.execute(
                f"insert into {name} select now() - i * interval '1 second', i % 50, i"
                " from generate_series(1, 20000) i"
            )
        hyper, plain = storage(conn, "narrow"), storage(conn, "plain")
        counted = rows(conn, "narrow")
        chunks = conn.execute(
            "select sum(pg_total_relation_size(format('%I.%I', chunk_schema, chunk_name)))"
            " from timescaledb_information.chunks where hypertable_name = 'narrow'"
        ).fetchone()
        table_only = conn.execute("select pg_relation_size('plain')").fetchone()
    assert hyper.rows == plain.rows == counted == 20_000
    assert chunks is not None
    assert hyper.bytes >= int(chunks[0])  # every chunk with its index, and the parent
    assert table_only is not None
    assert plain.bytes > int(table_only[0])  # the index counts too
    assert 16 < plain.bytes_per_row < 200  # type: ignore[operator]


def test_bench_ingest_measures_from_after_the_warm_up_and_the_first_commit() -> None:
    """A cold numba cache compiles ingest's kernels at the first message (seconds of CPU, once
    per install): the window that prices a reading starts after it, not at a fixed warm-up."""
    assert not measuring(100.0, earliest=5.0, first_commit=None)  # nothing stored yet
    assert not measuring(6.0, earliest=5.0, first_commit=5.5)  # stored, but just now
    assert measuring(5.5 + SETTLE_S, earliest=5.0, first_commit=5.5)
    assert not measuring(4.0, earliest=5.0, first_commit=0.5)  # still warming up
    assert measuring(5.0, earliest=5.0, first_commit=0.5)
