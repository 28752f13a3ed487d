"""Telemetry batching: a batch goes out when it is full or when its first reading has waited
`max_delay_s`, whichever comes first. Handed the time; does no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field

from vigil.frames import Frame


@dataclass
class Columns:
    """A batch's readings in the columnar layout of `TelemetryBatch`."""

    dev: list[str] = field(default_factory=list)
    seq: list[int] = field(default_factory=list)
    ts: list[float] = field(default_factory=list)
    rx: list[float] = field(default_factory=list)
    metric: list[str] = field(default_factory=list)
    value: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.dev)


class TelemetryBatcher:
    def __init__(self, max_readings: int = 500, max_delay_s: float = 0.025) -> None:
        if max_readings < 1 or max_delay_s < 0:
            raise ValueError("a batch holds at least one reading and waits no negative time")
        self.max_readings = max_readings
        self.max_delay_s = max_delay_s
        self._columns = Columns()
        self.deadline: float | None = None

    def __len__(self) -> int:
        return len(self._columns)

    def add(self, frame: Frame, rx: float, now: float) -> None:
        """Add a report frame's readings (an empty heartbeat adds none)."""
        if not frame.r:
            return
        c = self._columns
        for metric, value in frame.r.items():
            c.dev.append(frame.dev)
            c.seq.append(frame.seq)
            c.ts.append(frame.ts)
            c.rx.append(rx)
            c.metric.append(metric)
            c.value.append(value)
        if self.deadline is None:
            self.deadline = now + self.max_delay_s

    def due(self, now: float) -> bool:
        return self.deadline is not None and (
            len(self._columns) >= self.max_readings or now >= self.deadline
        )

    def take(self) -> Columns:
        """The readings gathered so far; the batcher starts afresh."""
        taken, self._columns, self.deadline = self._columns, Columns(), None
        return taken
