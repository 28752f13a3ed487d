"""The gateway's disk full while its link is down: the queue gives up the oldest telemetry (and
counts it), never an alarm; presses made while not even an event fits are held in memory; when
space returns and the link comes back, every alarm arrives once and the gateway carries on.

The queue lives on a 4 MiB tmpfs of its own, filled by a file the test removes afterwards
(mounting needs root; elsewhere the test is skipped and tests/gateway/test_queue.py covers the
policy with SQLite's own page limit)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.faults.conftest import Pipeline
from vigil.harness import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.faults]


@pytest.fixture
def small_disk(workdir: Path) -> Iterator[Path]:
    where = workdir / "disk"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)],
        capture_output=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of the disk."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    return filler


def delivered(pipe: Pipeline) -> dict[str, int]:
    """Each device's newest stored frame once ingest has stored all the cut link let through.

    Frames handed to the gateway before the cut but not yet acknowledged (in its batcher or
    its queue) are still the gateway's own, so the full-disk policy may give them up too."""
    last: dict[str, int] = {}

    def settled() -> bool:
        nonlocal last
        with psycopg.connect(pipe.dsn, autocommit=True, connect_timeout=5) as conn:
            now: dict[str, int] = dict(
                conn.execute("select device_id, max(seq) from readings group by 1")
            )
        same, last = now == last, now
        time.sleep(1)  # longer than ingest's longest wait before it stores a batch
        return same

    wait_for(settled, 30, "ingest to store what arrived before the cut")
    return last


def test_a_full_disk_at_the_gateway_keeps_every_alarm_and_recovers(
    small_disk: Path, pipeline_parts: Pipeline
) -> None:
    pipe = pipeline_parts
    pipe.gateway.queue_path = small_disk / "gw.queue.sqlite"
    pipe.start()
    feeder = pipe.feeder.start()
    feeder.press()
    wait_for(lambda: pipe.books().panic_incidents == 1, 60, "the first incident")
    pipe.uplink.cut()
    stored_at_cut = delivered(pipe)
    filler = fill(small_disk)
    wait_for(
        lambda: "the disk is full" in pipe.gateway.log(), 30, "the queue to find the disk full"
    )
    feeder.press()
    time.sleep(2)
    feeder.press()
    wait_for(lambda: "holding" in pipe.gateway.log(), 30, "an event the disk could not take")
    time.sleep(1)
    os.unlink(filler)  # space returns ...
    wait_for(lambda: "held events queued" in pipe.gateway.log(), 30, "the held events queued")
    at_free = feeder.marks()
    pipe.uplink.restore()  # ... and the link
    feeder.press()
    time.sleep(2)
    feeder.stop()
    last = feeder.marks()
    reporting = {dev for dev, _ in feeder.reporting}

    def caught_up() -> bool:
        with_seq = pipe.one(
            "select count(*) from (select device_id, max(seq) as s from readings "
            "group by device_id) m where m.s = any(%s)", [last[d] for d in reporting],
        )  # fmt: skip
        return bool(with_seq == len(reporting))

    wait_for(caught_up, 90, "the newest readings")
    with psycopg.connect(pipe.dsn) as conn:
        stored = conn.execute("select distinct device_id, seq from readings").fetchall()
    frames = {(d, s) for d, s in stored}
    missing = {(d, s) for d in reporting for s in range(1, last[d] + 1) if (d, s) not in frames}
    assert missing, "the disk really was full: telemetry was given up"
    for dev, seq in missing:  # only telemetry the gateway still held while the link was down
        assert stored_at_cut.get(dev, 0) < seq <= at_free[dev], (dev, seq)
    kinds = dict(feeder.reporting)
    dropped = sum(1 if kinds[dev] == "heat" else 2 for dev, _ in missing)
    books = pipe.settle(dropped_readings=dropped)
    assert books.panic_incidents == 4
    assert "gave up" in pipe.gateway.log()
    print(
        f"disk full: {len(missing)} telemetry frames ({dropped} readings) given up, 4 presses kept"
    )
