"""Two workers share one district's stream, split by site (docs/ingest.md)."""

from __future__ import annotations

import itertools
import time
import uuid

import pytest

from bench.loadgen import Layout, Publisher, messages
from ingest.partition import Partition
from ingest.service import IngestOptions
from tests.ingest.conftest import count, running_ingest
from vigil.harness import wait_for
from vigil.settings import Settings

pytestmark = pytest.mark.stack


def sites_for(partition: Partition, n: int, tag: str) -> list[str]:
    names = (f"{tag}{i}" for i in itertools.count())
    return list(itertools.islice((s for s in names if partition.owns(s)), n))


def test_two_workers_split_the_sites_and_store_everything_once(settings: Settings, ingest_dsn: str):
    tag = f"so{uuid.uuid4().hex[:6]}"
    first, second = Partition(0, 2), Partition(1, 2)
    layouts = [
        Layout.make(s, gateways=2, devices_per_gateway=5)
        for s in sites_for(first, 2, tag) + sites_for(second, 2, tag)
    ]
    for layout in layouts:
        layout.provision(ingest_dsn)
    late = Layout.make(sites_for(second, 3, tag)[-1], gateways=1, devices_per_gateway=5)
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    with (
        running_ingest(settings, ingest_dsn, IngestOptions(first, prefix)) as a,
        running_ingest(settings, ingest_dsn, IngestOptions(second, prefix)) as b,
    ):
        assert a.consumer.filters.isdisjoint(b.consumer.filters)
        # A site provisioned while both run is picked up by its owner alone.
        late.provision(ingest_dsn)
        late_filter = f"vigil/v1/{late.site}/+/up/telemetry"
        wait_for(lambda: late_filter in b.consumer.filters, 15, "the owner to subscribe")
        assert late_filter not in a.consumer.filters
        time.sleep(0.5)
        batches = [messages(layout, count=20, frames=5) for layout in [*layouts, late]]
        publisher = Publisher(settings)
        for batch in batches:
            publisher.publish((t, p) for t, p, _ in batch)
        publisher.close()
        total = sum(n for batch in batches for _, _, n in batch)
        wait_for(
            lambda: count(ingest_dsn, "select count(*) from readings") >= total, 30, "every reading"
        )
        time.sleep(0.3)
    assert count(ingest_dsn, "select count(*) from readings") == total
    assert (
        count(ingest_dsn, "select count(distinct (device_id, seq, metric)) from readings") == total
    )
    # Each worker committed exactly its own sites' messages: 2 sites for a, 3 for b.
    assert (a.counters.messages_committed, b.counters.messages_committed) == (40, 60)
