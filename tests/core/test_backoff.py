"""Retry delays, checked exactly: the backoff is handed the time (gateways, ingest, notifier)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vigil.backoff import Backoff


def test_delays_double_up_to_the_cap_without_jitter() -> None:
    b = Backoff(initial=0.1, maximum=1.0, jitter=0.0)
    now = 100.0
    assert b.ready(now)
    attempts = [b.failed(now) - now for _ in range(6)]
    assert attempts == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_not_ready_until_the_delay_has_passed() -> None:
    b = Backoff(initial=0.5, jitter=0.0)
    nxt = b.failed(10.0)
    assert nxt == 10.5
    assert not b.ready(10.49)
    assert b.ready(10.5)


def test_success_starts_over() -> None:
    b = Backoff(initial=0.1, maximum=5.0, jitter=0.0)
    for _ in range(5):
        b.failed(0.0)
    b.succeeded()
    assert b.ready(0.0)
    assert b.failed(0.0) == pytest.approx(0.1)


def test_jitter_shortens_each_delay_by_up_to_its_fraction() -> None:
    b = Backoff(initial=1.0, maximum=8.0, jitter=0.5, rand=lambda: 1.0)
    assert b.failed(0.0) == pytest.approx(0.5)
    assert b.failed(0.0) == pytest.approx(1.0)  # 2.0 less half
    b = Backoff(initial=1.0, jitter=0.5, rand=lambda: 0.0)
    assert b.failed(0.0) == pytest.approx(1.0)


# Connections that fail and succeed (ingest's sessions and watchers): no jitter, exact times.
def test_a_session_doubles_its_wait_up_to_the_maximum_and_restarts_after_success() -> None:
    b = Backoff(initial=0.5, maximum=3.0)
    assert [b.failed(100.0) - 100.0 for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert b.failures == 5
    b.succeeded()
    assert b.failed(7.0) == 7.5


# Retries stored with the work (the notifier's outbox): a fixed spread, giving up after a time.
T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def test_delays_double_up_to_the_maximum_for_any_count_of_attempts() -> None:
    b = Backoff(initial=1.0, maximum=30.0)
    assert [b.delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 30, 30, 30]
    assert b.delay(10_000) == 30.0


def test_spread_moves_the_delay_by_the_jitter_fraction() -> None:
    b = Backoff(initial=1.0, maximum=30.0, jitter=0.1)
    assert b.delay(3, spread=1.0) == pytest.approx(4.4)
    assert b.delay(3, spread=-1.0) == pytest.approx(3.6)
    assert b.delay(3) == 4.0


def test_retry_at_and_giving_up() -> None:
    b = Backoff(initial=1.0, maximum=8.0, give_up_after=60.0)
    assert b.retry_at(attempts=1, first_attempt=T0, now=T0) == T0 + S
    later = T0 + 50 * S
    assert b.retry_at(attempts=6, first_attempt=T0, now=later) == later + 8 * S
    assert b.retry_at(attempts=7, first_attempt=T0, now=T0 + 60 * S) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial": 0.0}, "0 < initial <= maximum"),
        ({"initial": 10.0, "maximum": 1.0}, "0 < initial <= maximum"),
        ({"jitter": 1.0}, "jitter"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Backoff(**kwargs)  # type: ignore[arg-type]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="attempts counts from 1"):
        Backoff().delay(0)
    with pytest.raises(ValueError, match="spread"):
        Backoff().delay(1, spread=2.0)
