"""Login rate limiting: failures per username and per client address in a sliding window.

Handed `now` (seconds on any monotonic scale) instead of reading the clock, so tests check the
window exactly. In-process: one console process guards its own door; several processes behind a
balancer each allow the limit, which still bounds guessing to a few tries a minute.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class SlidingWindow:
    """At most `limit` events per `window_s` per key."""

    limit: int
    window_s: float
    max_keys: int = 100_000
    _events: dict[str, deque[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window_s <= 0:
            raise ValueError("limit must be >= 1 and window_s > 0")

    def _recent(self, key: str, now: float) -> deque[float]:
        events = self._events.get(key)
        if events is None:
            return deque()
        while events and events[0] <= now - self.window_s:
            events.popleft()
        if not events:
            del self._events[key]
        return events

    def retry_after(self, key: str, now: float) -> float:
        """Seconds until `key` may try again; 0 when it may try now."""
        events = self._recent(key, now)
        if len(events) < self.limit:
            return 0.0
        return events[-self.limit] + self.window_s - now

    def record(self, key: str, now: float) -> None:
        self._recent(key, now)
        if len(self._events) >= self.max_keys:
            self._sweep(now)
        self._events.setdefault(key, deque()).append(now)

    def _sweep(self, now: float) -> None:
        """Forget keys with nothing inside the window, so many distinct keys cannot grow memory."""
        for key in [k for k, ev in self._events.items() if ev[-1] <= now - self.window_s]:
            del self._events[key]

    def clear(self, key: str) -> None:
        self._events.pop(key, None)


@dataclass
class LoginLimiter:
    """Failed sign-ins: 5 per username per 5 minutes, 20 per address per 5 minutes.

    A success clears the username's count (the owner got in) but not the address's, so one
    address cannot spray many usernames by mixing in a known good login.
    """

    per_user: SlidingWindow = field(default_factory=lambda: SlidingWindow(5, 300.0))
    per_addr: SlidingWindow = field(default_factory=lambda: SlidingWindow(20, 300.0))

    def retry_after(self, *, username: str, addr: str, now: float) -> float:
        return max(
            self.per_user.retry_after(username.casefold(), now),
            self.per_addr.retry_after(addr, now),
        )

    def failed(self, *, username: str, addr: str, now: float) -> None:
        self.per_user.record(username.casefold(), now)
        self.per_addr.record(addr, now)

    def succeeded(self, *, username: str) -> None:
        self.per_user.clear(username.casefold())
