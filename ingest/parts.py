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

from ingest.columns import Int64s, Readings
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


# Made once per part of a batch: not `frozen`, whose __init__ costs ~6x more.
@dataclass(slots=True)
class Share:
    """A part's share of a batch: the messages it has a share in, and their readings of this
    part as one set of columns (in the same order), `counts[i]` of them from `messages[i]`.

    A message with events or dead letters is its part's copy of it (its events of this part,
    its dead letters in part 0 only); any other is the batch's own object, whose `readings`
    are every part's: what is this part's is in `readings` (`own` cuts a message down).
    """

    messages: list[Checked]
    readings: Readings
    counts: Int64s


def shares(messages: Sequence[Checked], snapshot: RegistrySnapshot, count: int) -> list[Share]:
    """Each part's share of every message, in arrival order. Every message is in part 0 (which
    claims it, counts it and holds its dead letters), and in each other part where it has
    readings or events."""
    n = len(messages)
    lengths = np.fromiter((len(m.readings) for m in messages), dtype=np.int64, count=n)
    readings = Readings.concat([m.readings for m in messages])
    if count == 1:
        return [Share(list(messages), readings, lengths)]
    of = snapshot.part_of(count)
    part = of[readings.device].astype(np.int8)  # at most 16 parts: a radix sort, below
    message = np.repeat(np.arange(n, dtype=np.int64), lengths)
    counts = np.bincount(part.astype(np.int64) * n + message, minlength=count * n).reshape(count, n)
    # Rows grouped by part, arrival order kept inside: by (part, message), each share a slice.
    grouped = readings.take(np.argsort(part, kind="stable"))
    present = counts > 0
    present[0] = True
    special = [i for i, m in enumerate(messages) if m.events or m.dead]
    for i in special:
        for e in messages[i].events:
            present[of[e.slot], i] = True
    # Where each (part, message)'s rows start in `grouped`.
    starts = np.cumsum(counts.ravel()) - counts.ravel()
    out = []
    for k in range(count):
        chosen = np.flatnonzero(present[k])
        share = [messages[i] for i in chosen.tolist()]
        for i in special:
            if present[k, i] and present[1:, i].any():  # a message all in part 0 stays whole
                at, rows = int(starts[k * n + i]), int(counts[k, i])
                j = int(np.searchsorted(chosen, i))
                share[j] = _share_of(messages[i], k, of, grouped.slice(at, at + rows))
        first = int(starts[k * n])
        out.append(
            Share(share, grouped.slice(first, first + int(counts[k].sum())), counts[k, chosen])
        )
    return out


def own(message: Checked, part: Part, snapshot: RegistrySnapshot) -> Checked:
    """Part `part`'s share of `message` (`message` itself when there is one part): what a
    `Store` commits of a message it is handed whole."""
    if part.count == 1:
        return message
    of = snapshot.part_of(part.count)
    rows = message.readings.take(of[message.readings.device] == part.index)
    return _share_of(message, part.index, of, rows)


def _share_of(m: Checked, k: int, of: npt.NDArray[np.int32], rows: Readings) -> Checked:
    """Part `k`'s share of message `m`: `rows`, its events of that part, and (part 0) its
    dead letters."""
    events = [e for e in m.events if of[e.slot] == k] if m.events else []
    return Checked(
        m.topic, m.payload, m.key, m.gateway_index, rows, events, m.dead if k == 0 else []
    )
