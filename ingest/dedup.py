"""Reading-level deduplication without a unique index on `readings`.

A reading's identity is (device, seq, metric) (docs/protocol.md), whatever its timestamp: a
frame replayed with another time (a gateway that re-stamped it, or one that lies) is still the
same reading and is stored once. The database lookup matches it within `REPEAT_WINDOW_S` of its
time, so a device whose counter restarted long ago is not taken for a repeat. Two cheap steps
find every repeat:

1. inside a batch, sort by identity and keep the first of equal rows;
2. across batches, keep per device the newest timestamp and the highest seq committed
   (`ReplayFilter`). A reading newer than both cannot have been stored yet; only the others
   ("suspects": replays, out-of-order readings, devices not seen since start) are looked up in
   the database, by the `device` B-tree of `reading_rows` and its BRIN on time.

This is exact as long as one worker owns each device (partitioning by site, docs/ingest.md).
"""

from __future__ import annotations

import numpy as np

from ingest.columns import Floats, Int32s, Int64s, Mask, Readings

# How far apart in time two readings with one identity may be and still be one reading.
REPEAT_WINDOW_S = 86_400.0


def first_occurrences(readings: Readings) -> Mask:
    """True for the first of each (device, seq, metric) within the batch, in arrival order."""
    n = len(readings)
    keep = np.ones(n, dtype=np.bool_)
    if n < 2:
        return keep
    order = np.lexsort((np.arange(n), readings.metric, readings.seq, readings.device))
    same = (
        (readings.device[order][1:] == readings.device[order][:-1])
        & (readings.seq[order][1:] == readings.seq[order][:-1])
        & (readings.metric[order][1:] == readings.metric[order][:-1])
    )
    keep[order[1:][same]] = False
    return keep


class ReplayFilter:
    """Per device slot, the newest device timestamp (NaN: unknown) and the highest seq
    committed by this worker."""

    def __init__(self) -> None:
        self._newest: Floats = np.full(0, np.nan)
        self._top_seq: Int64s = np.full(0, -1, dtype=np.int64)

    def _grow(self, slots: int) -> None:
        if slots > len(self._newest):
            size = max(slots, 2 * len(self._newest))
            grown = np.full(size, np.nan)
            grown[: len(self._newest)] = self._newest
            self._newest = grown
            seqs = np.full(size, -1, dtype=np.int64)
            seqs[: len(self._top_seq)] = self._top_seq
            self._top_seq = seqs

    def suspects(self, device: Int32s, ts: Floats, seq: Int64s | None = None) -> Mask:
        """Readings that may already be stored: not newer than their device's newest, or (a
        repeat with another time) a seq not above its device's highest."""
        if len(device) == 0:
            return np.zeros(0, dtype=np.bool_)
        self._grow(int(device.max()) + 1)
        newest = self._newest[device]
        suspect = np.isnan(newest) | (ts <= newest)
        if seq is not None:
            suspect |= seq <= self._top_seq[device]
        return suspect

    def committed(self, device: Int32s, ts: Floats, seq: Int64s | None = None) -> None:
        """Record readings now known to be stored: call only after the commit succeeded, with
        every reading of the batch, including those of messages found already ingested."""
        if len(device) == 0:
            return
        self._grow(int(device.max()) + 1)
        np.fmax.at(self._newest, device, ts)
        if seq is not None:
            np.maximum.at(self._top_seq, device, seq.astype(np.int64))
