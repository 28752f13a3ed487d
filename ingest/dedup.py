"""Reading-level deduplication without a unique index on `readings`.

A reading's identity is (device, seq, metric); a replayed reading is the same frame again, so
it also carries the same device timestamp. Two cheap steps find every repeat:

1. inside a batch, sort by identity and keep the first of equal rows;
2. across batches, keep per device the newest timestamp committed (`ReplayFilter`). A reading
   newer than that cannot have been stored yet; only the others ("suspects": replays,
   out-of-order readings, devices not seen since start) are looked up in the database, by the
   `(device_id, time)` index.

This is exact as long as one worker owns each device (partitioning by site, docs/ingest.md).
"""

from __future__ import annotations

import numpy as np

from ingest.columns import Floats, Int32s, Mask, Readings


def first_occurrences(readings: Readings) -> Mask:
    """True for the first of each (device, seq, metric, ts) within the batch, in arrival order."""
    n = len(readings)
    keep = np.ones(n, dtype=np.bool_)
    if n < 2:
        return keep
    ts_bits = readings.ts.view(np.int64)
    order = np.lexsort((np.arange(n), ts_bits, readings.metric, readings.seq, readings.device))
    same = (
        (readings.device[order][1:] == readings.device[order][:-1])
        & (readings.seq[order][1:] == readings.seq[order][:-1])
        & (readings.metric[order][1:] == readings.metric[order][:-1])
        & (ts_bits[order][1:] == ts_bits[order][:-1])
    )
    keep[order[1:][same]] = False
    return keep


class ReplayFilter:
    """Per device slot, the newest device timestamp committed by this worker (NaN: unknown)."""

    def __init__(self) -> None:
        self._newest: Floats = np.full(0, np.nan)

    def _grow(self, slots: int) -> None:
        if slots > len(self._newest):
            grown = np.full(max(slots, 2 * len(self._newest)), np.nan)
            grown[: len(self._newest)] = self._newest
            self._newest = grown

    def suspects(self, device: Int32s, ts: Floats) -> Mask:
        """Readings that may already be stored: not newer than their device's newest."""
        if len(device) == 0:
            return np.zeros(0, dtype=np.bool_)
        self._grow(int(device.max()) + 1)
        newest = self._newest[device]
        return np.isnan(newest) | (ts <= newest)

    def committed(self, device: Int32s, ts: Floats) -> None:
        """Record readings now known to be stored: call only after the commit succeeded, with
        every reading of the batch, including those of messages found already ingested."""
        if len(device) == 0:
            return
        self._grow(int(device.max()) + 1)
        np.fmax.at(self._newest, device, ts)
