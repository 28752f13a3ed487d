"""What the detectors hand on: one alert with its evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Alert:
    """An alert raised by a rule.

    ts is when the condition began (the triggering reading's device time, or the deadline of a
    silence); received_at is when the triggering reading reached the platform (or when a tick
    discovered the silence), so alert latency can be measured per alert.
    """

    ts: float
    device_id: str
    household_id: str | None
    kind: str
    signal: str
    severity: int
    score: float
    reason: str
    rule: str
    evidence: dict[str, Any] = field(default_factory=dict)
    received_at: float = float("nan")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (replay output line, alerting input); no NaN, rounded figures."""
        return {
            "ts": round(self.ts, 3),
            "device_id": self.device_id,
            "household_id": self.household_id,
            "kind": self.kind,
            "signal": self.signal,
            "severity": self.severity,
            "score": round(self.score, 3),
            "reason": self.reason,
            "rule": self.rule,
            "evidence": self.evidence,
            "received_at": None if self.received_at != self.received_at else self.received_at,
        }
