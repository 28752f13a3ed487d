"""Fixtures for ingest tests: a migrated database of their own, a registry, a running worker."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from bench.loadgen import Layout, forget_session
from ingest.registry import Registry, device_part
from ingest.service import IngestOptions, IngestService
from ingest.sink import BatchSink
from vigil.settings import Settings


@pytest.fixture
def ingest_dsn(migrated_db: str) -> str:
    """A database of its own with the whole schema and the edition's rollups."""
    return migrated_db


@pytest.fixture
def layout(ingest_dsn: str) -> Layout:
    """One site, two gateways with a few devices each, provisioned."""
    site = f"s{uuid.uuid4().hex[:10]}"
    result = Layout.make(site, gateways=2, devices_per_gateway=4)
    result.provision(ingest_dsn)
    return result


def mixed_layout(gateways: int = 2, devices_per_gateway: int = 4) -> Layout:
    """A layout whose every gateway has devices in both parts of two (so a test of the split
    cannot pass by every device falling in one part)."""
    for _ in range(1000):
        layout = Layout.make(f"s{uuid.uuid4().hex[:10]}", gateways, devices_per_gateway)
        if all({device_part(d, 2) for d in ds} == {0, 1} for ds in layout.gateways.values()):
            return layout
    raise AssertionError("no mixed layout found")


@pytest.fixture
def mixed(ingest_dsn: str) -> Layout:
    """A mixed layout (`mixed_layout`), provisioned."""
    layout = mixed_layout()
    layout.provision(ingest_dsn)
    return layout


def loaded_registry(dsn: str) -> Registry:
    """The registry as ingest loads it from the database."""
    r = Registry()
    with psycopg.connect(dsn, autocommit=True) as conn:
        r.load(conn)
    return r


@pytest.fixture
def mixed_registry(ingest_dsn: str, mixed: Layout) -> Registry:
    """The registry as ingest loads it, with the mixed layout's devices."""
    return loaded_registry(ingest_dsn)


def count(dsn: str, sql: str, *params: Any) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return int(str(row[0]))


@contextmanager
def running_ingest(
    settings: Settings,
    dsn: str,
    options: IngestOptions | None = None,
    *,
    sink: BatchSink | None = None,
    **overrides: Any,
) -> Iterator[IngestService]:
    """An ingest worker in a thread of this process, stopped (and its session dropped) after."""
    options = options or IngestOptions(client_prefix=f"test-{uuid.uuid4().hex[:8]}")
    tuned = settings.model_copy(update={"ingest_batch_deadline_s": 0.05, **overrides})
    service = IngestService(tuned, options, sink=sink, dsn=dsn)
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,), name="test-ingest")
    thread.start()
    try:
        for lane in service.lanes:
            assert lane.consumer.wait_subscribed(15), (
                f"ingest's {lane.config.name} lane did not subscribe"
            )
        yield service
    finally:
        stop.set()
        thread.join(30)
        for client_id in service.client_ids:
            forget_session(settings, client_id)
    assert not thread.is_alive(), "ingest did not stop"
