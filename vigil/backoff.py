"""Retry timing, handed the current time so tests check every delay exactly (like psycopg's
`AttemptWithBackoff`).

One class for every retry in Vigil: a gateway reconnecting to the broker, ingest's sessions and
watchers, the notifier's messages. The delay doubles from `initial` up to `maximum` seconds.
`jitter` moves it by up to that fraction, so a crowd cut off by the same outage does not come
back in the same instant: a stateful caller draws it from `rand` (taking up to `jitter` off), a
caller that keeps its attempts elsewhere (the notifier, in the outbox) passes a fixed `spread`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass
class Backoff:
    initial: float = 0.1
    maximum: float = 5.0
    jitter: float = 0.0
    give_up_after: float = math.inf
    """Seconds from the first attempt after which `retry_at` gives up (a time, not a count: an
    outage of a minute delays messages by about a minute and loses none)."""
    rand: Callable[[], float] = field(default=random.random, repr=False)
    failures: int = field(default=0, init=False)
    next_attempt: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise ValueError(f"need 0 < initial <= maximum, got {self.initial}, {self.maximum}")
        if not 0.0 <= self.jitter < 1.0:
            raise ValueError(f"jitter must be in [0, 1), got {self.jitter}")

    def delay(self, attempts: int, *, spread: float = 0.0) -> float:
        """The wait after the `attempts`-th failed attempt (1-based); `spread` in [-1, 1]."""
        if attempts < 1:
            raise ValueError("attempts counts from 1")
        if not -1.0 <= spread <= 1.0:
            raise ValueError("spread must be in [-1, 1]")
        raw = min(self.initial * float(1 << min(attempts - 1, 60)), self.maximum)
        return raw * (1.0 + self.jitter * spread)

    # A caller that keeps its own state: a connection that fails and succeeds.
    def ready(self, now: float) -> bool:
        return now >= self.next_attempt

    def failed(self, now: float) -> float:
        """Record a failed attempt at `now`; returns when the next one may start."""
        self.failures += 1
        self.next_attempt = now + self.delay(self.failures, spread=-self.rand())
        return self.next_attempt

    def succeeded(self) -> None:
        self.failures = 0
        self.next_attempt = 0.0

    # A caller whose attempts are stored with the work (the notifier's outbox rows).
    def retry_at(
        self, *, attempts: int, first_attempt: datetime, now: datetime, spread: float = 0.0
    ) -> datetime | None:
        """When to try again after the `attempts`-th failure at `now`, or None: give up."""
        if (now - first_attempt).total_seconds() >= self.give_up_after:
            return None
        return now + timedelta(seconds=self.delay(attempts, spread=spread))
