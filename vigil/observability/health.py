"""A service's health: named checks, each saying why it fails or nothing when it passes.

Checks run on every `/healthz` request (Docker polls it every few seconds), so they should read
state the service keeps anyway (a connected flag, the time of the last loop turn) rather than do
I/O of their own; a slow check delays the answer and the container's health check times out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vigil.observability.metrics import HEALTH_CHECK_UP

# None when healthy, else a short reason an operator can act on.
Check = Callable[[], str | None]


@dataclass(frozen=True)
class HealthReport:
    """The outcome of every check at one moment."""

    service: str
    failures: dict[str, str]
    passed: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def http_status(self) -> int:
        return 200 if self.ok else 503

    def as_json(self) -> dict[str, Any]:
        checks: dict[str, dict[str, Any]] = {name: {"ok": True} for name in self.passed}
        checks.update({name: {"ok": False, "error": why} for name, why in self.failures.items()})
        return {
            "status": "ok" if self.ok else "failing",
            "service": self.service,
            "checks": dict(sorted(checks.items())),
        }


@dataclass
class Health:
    """The checks of one service; `report()` runs them all."""

    service: str
    checks: dict[str, Check] = field(default_factory=dict)

    def add(self, name: str, check: Check) -> None:
        if name in self.checks:
            raise ValueError(f"health check {name!r} is already registered")
        self.checks[name] = check

    def report(self) -> HealthReport:
        failures: dict[str, str] = {}
        passed: list[str] = []
        for name, check in self.checks.items():
            try:
                why = check()
            except Exception as exc:
                why = f"check raised {type(exc).__name__}: {exc}"
            HEALTH_CHECK_UP.labels(check=name).set(0 if why else 1)
            if why:
                failures[name] = why
            else:
                passed.append(name)
        return HealthReport(self.service, failures, tuple(passed))


@dataclass
class Heartbeat:
    """Fails when a loop has not turned for `max_age_s`: catches a wedged, not just a dead, loop.

    The loop calls `beat()` each turn; `check` is a health check. `clock` is monotonic time,
    handed in so tests need not sleep.
    """

    what: str
    max_age_s: float
    clock: Callable[[], float] = time.monotonic
    last: float | None = None

    def beat(self) -> None:
        self.last = self.clock()

    def check(self) -> str | None:
        if self.last is None:
            return f"{self.what} has not started"
        age = self.clock() - self.last
        if age > self.max_age_s:
            return f"{self.what} last turned {age:.1f} s ago (limit {self.max_age_s:g} s)"
        return None


def flag(state: Callable[[], bool], why: str) -> Check:
    """A check passing while `state()` is true: `flag(lambda: c.broker_up, "no broker")`."""

    def check() -> str | None:
        return None if state() else why

    return check
