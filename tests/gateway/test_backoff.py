"""Reconnect delays, checked exactly: the backoff is handed the time."""

from __future__ import annotations

import pytest

from gateway.backoff import Backoff


def test_delays_double_up_to_the_cap_without_jitter() -> None:
    b = Backoff(initial=0.1, maximum=1.0, factor=2.0, jitter=0.0)
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


@pytest.mark.parametrize(
    "kwargs",
    [{"initial": 0.0}, {"initial": 2.0, "maximum": 1.0}, {"factor": 0.5}, {"jitter": 1.0}],
)
def test_nonsense_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="invalid backoff"):
        Backoff(**kwargs)  # type: ignore[arg-type]
