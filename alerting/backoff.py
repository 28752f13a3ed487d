"""Retry timing for notifications, handed `now` so tests check every delay exactly.

Like psycopg's `AttemptWithBackoff`: the delay doubles from `base` up to `cap`; a seeded jitter
(a fraction of the delay, drawn by the caller) keeps a crowd of retries from moving in step.
A notification is given up after `give_up_after` from its first attempt, not after a count, so
a provider that is down for a minute delays messages by about a minute and loses none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Backoff:
    base: timedelta = timedelta(seconds=1)
    cap: timedelta = timedelta(seconds=30)
    give_up_after: timedelta = timedelta(hours=6)
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.base <= timedelta(0) or self.cap < self.base:
            raise ValueError("need 0 < base <= cap")
        if not 0.0 <= self.jitter < 1.0:
            raise ValueError("jitter must be in [0, 1)")

    def delay(self, attempts: int, *, spread: float = 0.0) -> timedelta:
        """The wait after the `attempts`-th failed attempt (1-based); `spread` in [-1, 1]."""
        if attempts < 1:
            raise ValueError("attempts counts from 1")
        if not -1.0 <= spread <= 1.0:
            raise ValueError("spread must be in [-1, 1]")
        raw: timedelta = min(self.base * (1 << min(attempts - 1, 30)), self.cap)
        return raw * (1.0 + self.jitter * spread)

    def next_attempt(
        self, *, attempts: int, first_attempt: datetime, now: datetime, spread: float = 0.0
    ) -> datetime | None:
        """When to try again after a failure at `now`, or None when it is time to give up."""
        if now - first_attempt >= self.give_up_after:
            return None
        return now + self.delay(attempts, spread=spread)
