"""A batch split between committing connections, by device.

One connection commits a batch of 20 000 readings in 130–150 ms, which caps one worker near
150 000 readings/s however idle the machine (docs/performance.md). So each batch is split
into `count` parts that commit in parallel on connections of their own. A device always falls
in the same part (a hash of its id, stable across restarts), so its rows stay in order, its
replay filter has one writer, and a claim of (message, part) names the same readings after a
restart. The message's dead letters, and a message with nothing else, go to part 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ingest.columns import Readings
from ingest.registry import RegistrySnapshot
from ingest.validate import Checked


@dataclass(frozen=True)
class Part:
    """Part `index` of `count`: the devices whose id hashes to `index` modulo `count`."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"part {self.index} of {self.count} does not exist")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass(frozen=True, slots=True)
class Share:
    """A part's share of a batch: its messages, and their readings as one set of columns (in
    the same order), so the committer's preparation does not gather them a second time."""

    messages: list[Checked]
    readings: Readings


def shares(messages: Sequence[Checked], snapshot: RegistrySnapshot, count: int) -> list[Share]:
    """Each part's share of every message, in arrival order. Every message is in part 0 (which
    claims it, counts it and holds its dead letters), and in each other part where it has
    readings or events."""
    if count == 1:
        return [Share(list(messages), Readings.concat([m.readings for m in messages]))]
    of = snapshot.part_of(count)
    n = len(messages)
    readings = Readings.concat([m.readings for m in messages])
    message = np.repeat(np.arange(n, dtype=np.int64), [len(m.readings) for m in messages])
    # Rows grouped by (part, message), arrival order kept inside: each share is a slice.
    key = of[readings.device].astype(np.int64) * n + message
    order = np.argsort(key, kind="stable")
    grouped = readings.take(order)
    bounds = np.searchsorted(key[order], np.arange(count * n + 1)).tolist()
    # Rows of part k are one slice: those of its messages, in arrival order.
    parts: list[list[Checked]] = [[] for _ in range(count)]
    for i, m in enumerate(messages):
        event_parts = [int(of[e.slot]) for e in m.events]
        present = {k for k in range(1, count) if bounds[k * n + i + 1] > bounds[k * n + i]}
        present.update(event_parts)
        if present <= {0}:
            parts[0].append(m)
            continue
        for k in sorted(present | {0}):
            rows = grouped.slice(bounds[k * n + i], bounds[k * n + i + 1])
            parts[k].append(
                Checked(
                    m.topic,
                    m.payload,
                    m.key,
                    m.gateway_index,
                    rows,
                    [e for e, p in zip(m.events, event_parts, strict=True) if p == k],
                    m.dead if k == 0 else [],
                )
            )
    return [
        Share(share, grouped.slice(bounds[k * n], bounds[(k + 1) * n]))
        for k, share in enumerate(parts)
    ]
