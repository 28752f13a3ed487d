"""Reconnect timing, handed the current time so tests can check the delays exactly."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Doubling delays between failed attempts, capped, with optional jitter.

    Jitter takes up to `jitter` (a fraction) off each delay so that many gateways cut off by
    the same broker restart do not all reconnect in the same instant.
    """

    initial: float = 0.1
    maximum: float = 5.0
    factor: float = 2.0
    jitter: float = 0.2
    rand: Callable[[], float] = field(default=random.random, repr=False)
    delay: float = field(default=0.0, init=False)
    next_attempt: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum or self.factor < 1 or not 0 <= self.jitter < 1:
            raise ValueError(f"invalid backoff {self!r}")

    def ready(self, now: float) -> bool:
        return now >= self.next_attempt

    def failed(self, now: float) -> float:
        """Record a failed attempt at `now`; returns when the next one may start."""
        self.delay = (
            self.initial if self.delay == 0 else min(self.delay * self.factor, self.maximum)
        )
        self.next_attempt = now + self.delay * (1 - self.jitter * self.rand())
        return self.next_attempt

    def succeeded(self) -> None:
        self.delay = 0.0
        self.next_attempt = 0.0
