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
import numpy.typing as npt

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


# Made several times per message, never changed: not `frozen`, whose __init__ costs ~6x more.
@dataclass(slots=True)
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
    bounds = np.searchsorted(key[order], np.arange(count * n + 1))
    # Which parts each message has rows in, for all messages at once: (message, part) lists.
    present = (bounds[1:] > bounds[:-1]).reshape(count, n).T.tolist()
    starts = bounds.tolist()
    parts: list[list[Checked]] = [[] for _ in range(count)]
    for i, m in enumerate(messages):
        where = present[i]
        if m.events:
            for k in {int(of[e.slot]) for e in m.events}:
                where[k] = True
        if not any(where[1:]):  # all of it in part 0
            parts[0].append(m)
            continue
        where[0] = True
        for k in range(count):
            if where[k]:
                at = k * n + i
                parts[k].append(_share_of(m, k, of, grouped.slice(starts[at], starts[at + 1])))
    return [
        Share(share, grouped.slice(starts[k * n], starts[(k + 1) * n]))
        for k, share in enumerate(parts)
    ]


def _share_of(m: Checked, k: int, of: npt.NDArray[np.int32], rows: Readings) -> Checked:
    """Part `k`'s share of message `m`: `rows`, its events of that part, and (part 0) its
    dead letters."""
    events = [e for e in m.events if of[e.slot] == k] if m.events else []
    return Checked(
        m.topic, m.payload, m.key, m.gateway_index, rows, events, m.dead if k == 0 else []
    )
