"""The login limiter, handed the time: exact windows, no clock."""

from __future__ import annotations

import pytest

from console.api.ratelimit import LoginLimiter, SlidingWindow


def test_allows_the_limit_then_says_how_long_to_wait() -> None:
    window = SlidingWindow(limit=3, window_s=60.0)
    for t in (0.0, 10.0, 20.0):
        assert window.retry_after("k", t) == 0.0
        window.record("k", t)
    # The oldest of the last three (t=0) leaves the window at t=60.
    assert window.retry_after("k", 30.0) == pytest.approx(30.0)
    assert window.retry_after("k", 59.9) == pytest.approx(0.1)
    assert window.retry_after("k", 60.0) == 0.0


def test_the_window_slides_one_event_at_a_time() -> None:
    window = SlidingWindow(limit=2, window_s=10.0)
    window.record("k", 0.0)
    window.record("k", 5.0)
    assert window.retry_after("k", 9.0) == pytest.approx(1.0)
    window.record("k", 10.0)  # t=0 expired; now 5 and 10 are inside
    assert window.retry_after("k", 12.0) == pytest.approx(3.0)


def test_keys_are_independent() -> None:
    window = SlidingWindow(limit=1, window_s=10.0)
    window.record("a", 0.0)
    assert window.retry_after("a", 1.0) > 0
    assert window.retry_after("b", 1.0) == 0.0


@pytest.mark.parametrize(("limit", "window_s"), [(0, 10.0), (1, 0.0), (3, -1.0)])
def test_rejects_nonsense_limits(limit: int, window_s: float) -> None:
    with pytest.raises(ValueError, match="limit"):
        SlidingWindow(limit=limit, window_s=window_s)


def test_many_distinct_keys_do_not_grow_memory_without_bound() -> None:
    window = SlidingWindow(limit=5, window_s=10.0, max_keys=100)
    for i in range(1000):
        window.record(f"user{i}", float(i))  # one new key per second: old ones expire
    assert len(window._events) <= 100


def test_login_limiter_blocks_a_username_after_five_failures() -> None:
    limiter = LoginLimiter()
    for i in range(5):
        assert limiter.retry_after(username="wang", addr="10.0.0.1", now=float(i)) == 0.0
        limiter.failed(username="wang", addr="10.0.0.1", now=float(i))
    assert limiter.retry_after(username="wang", addr="10.0.0.1", now=5.0) == pytest.approx(295.0)
    # The same name from elsewhere, in other letter case, is blocked too.
    assert limiter.retry_after(username="WANG", addr="10.0.0.2", now=5.0) > 0
    assert limiter.retry_after(username="li", addr="10.0.0.2", now=5.0) == 0.0
    assert limiter.retry_after(username="wang", addr="10.0.0.1", now=300.0) == 0.0


def test_login_limiter_blocks_an_address_spraying_usernames() -> None:
    limiter = LoginLimiter()
    for i in range(20):
        limiter.failed(username=f"user{i}", addr="10.0.0.9", now=float(i))
    assert limiter.retry_after(username="fresh", addr="10.0.0.9", now=20.0) > 0
    assert limiter.retry_after(username="fresh", addr="10.0.0.8", now=20.0) == 0.0


def test_success_clears_the_username_but_not_the_address() -> None:
    limiter = LoginLimiter()
    for i in range(4):
        limiter.failed(username="wang", addr="10.0.0.1", now=float(i))
    limiter.succeeded(username="wang")
    limiter.failed(username="wang", addr="10.0.0.1", now=5.0)
    assert limiter.retry_after(username="wang", addr="10.0.0.1", now=6.0) == 0.0
    assert len(limiter.per_addr._events["10.0.0.1"]) == 5
