"""Property-based fuzzing: every bad message ends as a dead letter with a reason; ingest goes on."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import msgspec
import psycopg
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from bench.loadgen import Layout, Publisher, forget_session
from ingest.consumer import Delivery
from ingest.deadletter import PAYLOAD_CAP, Reason
from ingest.service import IngestOptions, IngestService
from tests.ingest.strategies import Scene, bad_uplinks, good_message
from vigil.codec import decode_telemetry
from vigil.harness import scratch_database
from vigil.settings import Settings
from vigil.stack import LocalStack

LAYOUT = Layout("fuzz", {"fuzz-gw0": ["fz-a", "fz-b", "fz-c"], "fuzz-gw1": ["fz-z"]})


def scene(now: float) -> Scene:
    return Scene("fuzz", "fuzz-gw0", ("fz-a", "fz-b", "fz-c"), "fuzz-gw1", "fz-z", now)


@pytest.fixture(scope="module")
def service(
    stack: LocalStack, schema_template: str, settings: Settings
) -> Iterator[tuple[IngestService, str]]:
    """One worker on a database of its own for the whole module."""
    with scratch_database(stack, prefix="t_fuzz", template=schema_template) as dsn:
        yield from _serve(settings, dsn)


def _serve(settings: Settings, dsn: str) -> Iterator[tuple[IngestService, str]]:
    LAYOUT.provision(dsn)
    tuned = settings.model_copy(update={"ingest_batch_deadline_s": 0.05})
    worker = IngestService(
        tuned, IngestOptions(client_prefix=f"fuzz-{uuid.uuid4().hex[:8]}"), dsn=dsn
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    assert all(lane.consumer.wait_subscribed(15) for lane in worker.lanes)
    yield worker, dsn
    stop.set()
    thread.join(30)
    for client_id in worker.client_ids:
        forget_session(settings, client_id)


@examples(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_bad_message_decodes_to_dead_letters_and_good_readings_are_kept(data):
    """The decoding path alone, on many examples: no exception escapes, nothing vanishes."""
    worker = IngestService(Settings(), IngestOptions(), dsn="postgresql://unused")
    worker.registry.apply(
        1,
        [("fuzz-gw0", "fuzz"), ("fuzz-gw1", "fuzz")],
        [(d, "smoke", gw) for gw, ds in LAYOUT.gateways.items() for d in ds],
    )
    topic, payload = data.draw(bad_uplinks(scene(time.time())))
    checked = worker.decode(_delivery(topic, payload))
    assert checked.dead, "a bad message left no dead letter"
    for letter in checked.dead:
        assert isinstance(letter.reason, Reason)
        assert letter.payload == payload[:PAYLOAD_CAP]
        assert letter.detail
    if checked.key is not None:  # decoded: every reading is either kept or dead-lettered
        n = len(decode_telemetry(payload))
        assert len(checked.readings) + sum(d.count for d in checked.dead) == n


def _delivery(topic: str, payload: bytes) -> Delivery:
    return Delivery(topic, payload, 1, 1, False, 1, time.time())


@examples(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
@pytest.mark.stack
def test_bad_messages_through_the_broker_end_as_dead_letters_and_the_service_carries_on(
    service, settings, data
):
    worker, dsn = service
    now = time.time()
    drawn = data.draw(st.lists(bad_uplinks(scene(now)), min_size=1, max_size=8))
    # Ingest subscribes to the contract's two uplink topics only: a message on any other
    # (`up/other`) reaches no one, so it cannot be dead-lettered.
    bad = [(t, p) for t, p in drawn if t.endswith(("/up/telemetry", "/up/event"))]
    good = good_message(scene(now), frames=2, now=now)
    expected = worker.counters.messages_committed + len(bad) + 1
    publisher = Publisher(settings)
    publisher.publish([*bad, (scene(now).topic, msgspec.msgpack.encode(good))])
    publisher.close()
    deadline = time.monotonic() + 30
    while worker.counters.messages_committed < expected:
        assert time.monotonic() < deadline, "the worker stopped taking messages"
        time.sleep(0.02)
    with psycopg.connect(dsn) as conn:
        for _, payload in bad:
            reasons = conn.execute(
                "select reason from dead_letters where payload = %s", (payload[:PAYLOAD_CAP],)
            ).fetchall()
            assert reasons, f"no dead letter for {payload[:80]!r}"
            assert {r[0] for r in reasons} <= {r.value for r in Reason}
        stored = conn.execute(
            "select count(*) from readings where device_id = %s and seq = %s",
            (good["dev"][0], good["seq"][0]),
        ).fetchone()
    assert stored == (3,)
