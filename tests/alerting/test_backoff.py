"""Retry timing, checked exactly: the class is handed `now`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerting.backoff import Backoff

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def test_delays_double_up_to_the_cap() -> None:
    backoff = Backoff(base=S, cap=30 * S, jitter=0.0)
    assert [backoff.delay(n) for n in range(1, 9)] == [
        S,
        2 * S,
        4 * S,
        8 * S,
        16 * S,
        30 * S,
        30 * S,
        30 * S,
    ]
    assert backoff.delay(10_000) == 30 * S


def test_spread_moves_the_delay_by_the_jitter_fraction() -> None:
    backoff = Backoff(base=S, cap=30 * S, jitter=0.1)
    assert backoff.delay(3, spread=1.0) == timedelta(seconds=4.4)
    assert backoff.delay(3, spread=-1.0) == timedelta(seconds=3.6)
    assert backoff.delay(3) == 4 * S


def test_next_attempt_and_giving_up() -> None:
    backoff = Backoff(base=S, cap=8 * S, give_up_after=timedelta(minutes=1), jitter=0.0)
    assert backoff.next_attempt(attempts=1, first_attempt=T0, now=T0) == T0 + S
    later = T0 + 50 * S
    assert backoff.next_attempt(attempts=6, first_attempt=T0, now=later) == later + 8 * S
    assert backoff.next_attempt(attempts=7, first_attempt=T0, now=T0 + 60 * S) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base": timedelta(0)}, "0 < base <= cap"),
        ({"base": 10 * S, "cap": S}, "0 < base <= cap"),
        ({"jitter": 1.0}, "jitter"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Backoff(**kwargs)  # type: ignore[arg-type]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="attempts counts from 1"):
        Backoff().delay(0)
    with pytest.raises(ValueError, match="spread"):
        Backoff().delay(1, spread=2.0)
