"""Through the real broker into the real database."""

from __future__ import annotations

import pytest

from bench.loadgen import Layout, Publisher, messages
from tests.ingest.conftest import count, running_ingest
from vigil.harness import wait_for
from vigil.settings import Settings

pytestmark = pytest.mark.stack


def test_n_readings_in_are_n_rows_and_a_second_delivery_changes_nothing(
    settings: Settings, ingest_dsn: str, layout: Layout
):
    batch = messages(layout, count=40, frames=10)
    total = sum(n for _, _, n in batch)
    with running_ingest(settings, ingest_dsn) as service:
        publisher = Publisher(settings)
        publisher.publish((t, p) for t, p, _ in batch)
        publisher.flush()
        wait_for(lambda: service.counters.messages_committed >= 40, 30, "first delivery")
        publisher.publish((t, p) for t, p, _ in batch)
        publisher.close()
        wait_for(lambda: service.counters.messages_committed >= 80, 30, "second delivery")
    assert count(ingest_dsn, "select count(*) from readings") == total
    distinct = "select count(distinct (device_id, seq, metric)) from readings"
    assert count(ingest_dsn, distinct) == total
    assert service.counters.messages_duplicate == 40
    # Every message is claimed once in part 0 (its other parts' claims name their devices).
    assert count(ingest_dsn, "select count(*) from ingested_messages where part = 0") == 40
    assert count(ingest_dsn, "select count(*) from dead_letters") == 0
