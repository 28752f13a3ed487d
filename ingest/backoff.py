"""Retry timing as a small state machine handed the current time, so tests check it exactly."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Backoff:
    """Doubling delays between `initial` and `maximum` seconds; `succeeded()` starts over."""

    initial: float = 0.2
    maximum: float = 5.0
    _delay: float = 0.0
    failures: int = 0

    def failed(self, now: float) -> float:
        """Record a failure at `now`; returns when to try again."""
        self._delay = self.initial if self.failures == 0 else min(self._delay * 2, self.maximum)
        self.failures += 1
        return now + self._delay

    def succeeded(self) -> None:
        self.failures = 0
        self._delay = 0.0
