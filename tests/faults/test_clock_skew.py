"""A gateway whose clock is 10 minutes off, ahead or behind (its devices take their time from
it). Every reading and alarm lands once. Ahead: ingest moves the message's times back onto its
own clock in whole minutes (ingest.validate.on_ingest_clock), so they are the true times, not
dead letters 10 minutes in the future. Behind: the times are kept as the gateway stamped them;
a message cannot tell an old clock from a backlog (docs/ingest.md, "Clocks")."""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import Pipeline
from vigil.harness import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.faults]


def _skewed(offset: float) -> list[str]:
    """Run the gateway with its wall clock `offset` seconds off (its monotonic clock is not)."""
    code = (
        "import time; _t = time.time; "
        f"time.time = lambda: _t() + {offset!r}; "
        "from vigil.cli import app; app()"
    )
    return ["-c", code]


@pytest.mark.parametrize("offset", [600.0, -600.0], ids=["ahead", "behind"])
def test_a_gateway_clock_10_minutes_off_loses_nothing(
    pipeline_parts: Pipeline, offset: float
) -> None:
    pipe = pipeline_parts
    pipe.gateway.launcher = _skewed(offset)
    pipe.feeder.clock = lambda: time.time() + offset
    pipe.start()
    began = time.time()
    feeder = pipe.feeder.start()
    feeder.press()
    wait_for(lambda: pipe.books().readings > 0, 60, "the first readings")
    feeder.press()
    time.sleep(2)
    feeder.stop()
    ended = time.time()
    books = pipe.settle()
    assert books.panic_incidents == 2
    assert pipe.one("select count(*) from dead_letters") == 0
    first, last = (
        float(pipe.one(f"select extract(epoch from {f}(time)) from readings"))
        for f in ("min", "max")
    )
    expected = 0.0 if offset > 0 else offset  # ahead: corrected; behind: as stamped
    assert began + expected - 1 <= first <= last <= ended + expected + 1, (first, last, began)
    alert_ts = float(
        pipe.one("select extract(epoch from max(ts)) from alerts where kind = 'panic'")
    )
    assert began + expected - 1 <= alert_ts <= ended + expected + 1
