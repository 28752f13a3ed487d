"""A telemetry message's MessagePack read straight into checked columns by one numba pass.

msgspec makes a Python string or float for every value of a message (some 700 for a gateway's
batch of 120 readings), then numpy takes the floats back and a dict lookup per name turns the
strings into registry slots: about half of the decoding thread's time. This pass reads the
bytes once, looks each name up in a hash table of the registry's names, and checks the readings
(`ingest.reading_checks`), with no Python object per value.

It only takes the plain case, and says so rather than guess: a map of the `TelemetryBatch`
fields, each once, of the types the gateways send (integers, float64s, strings), every name
known, every reading good. Anything else (an unknown field or name, another float width, a bad
reading, a malformed message) is `FALLBACK`, and the message takes the msgspec path, which
decides what is dead-lettered and says why.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

from ingest.columns import Floats, Int32s, Int64s
from ingest.reading_checks import _reasons

Bytes = npt.NDArray[np.uint8]

OK, FALLBACK = 0, 1
MAX_NAME_CHARS = 64  # vigil.codec.MAX_NAME_CHARS: a longer name is the msgspec path's to refuse
SCHEMA_VERSION = 1  # vigil.codec.SCHEMA_VERSION

# The fields' order in the kernel, by their names' bytes (`_FIELDS`).
_V, _GW, _GSEQ, _SENT, _DEV, _SEQ, _TS, _RX, _METRIC, _VALUE = range(10)
_FIELD_NAMES = ("v", "gw", "gseq", "sent", "dev", "seq", "ts", "rx", "metric", "value")
_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


@dataclass(frozen=True)
class NameTable:
    """Names (UTF-8, one after another) and an open-addressing hash table of their indexes."""

    data: Bytes
    starts: Int64s  # name i is data[starts[i]:starts[i + 1]]
    table: Int32s  # power of two long; -1 where empty

    @classmethod
    def of(cls, names: list[str]) -> NameTable:
        encoded = [n.encode() for n in names]
        starts = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=starts[1:])
        data = np.frombuffer(b"".join(encoded), dtype=np.uint8) if encoded else _NO_BYTES
        size = 1 << max(4, (2 * len(encoded)).bit_length())
        table = np.full(size, -1, dtype=np.int32)
        _fill(data, starts, table)
        return cls(data, starts, table)


_NO_BYTES = np.zeros(0, dtype=np.uint8)
_LITTLE_ENDIAN = sys.byteorder == "little"


@cache
def _fields() -> NameTable:
    return NameTable.of(list(_FIELD_NAMES))


@dataclass(frozen=True)
class Limits:
    """What each reading is checked against (`ingest.reading_checks.reading_reasons`)."""

    gateway: int
    device_gateway: Int32s
    device_type: Int32s
    allowed: npt.NDArray[np.bool_]
    low: Floats
    high: Floats
    oldest: float
    newest: float


@dataclass(slots=True)
class Columns:
    """A message's header and its readings as registry slots and metric codes."""

    gseq: int
    sent: float
    gateway: tuple[int, int]  # where the `gw` string is in the payload
    slot: Int32s
    metric: Int32s
    seq: Int64s
    ts: Floats
    rx: Floats
    value: Floats


def read(payload: bytes, devices: NameTable, metrics: NameTable, limits: Limits) -> Columns | None:
    """The message's columns, every name known and every reading good; None otherwise."""
    fields = _fields()
    out: tuple[Any, ...] = _read(
        np.frombuffer(payload, dtype=np.uint8),
        fields.data,
        fields.starts,
        fields.table,
        devices.data,
        devices.starts,
        devices.table,
        metrics.data,
        metrics.starts,
        metrics.table,
        limits.gateway,
        limits.device_gateway,
        limits.device_type,
        limits.allowed,
        limits.low,
        limits.high,
        limits.oldest,
        limits.newest,
    )
    status, gseq, sent, gw_start, gw_end, slot, metric, seq, ts, rx, value = out
    if status != OK:
        return None
    return Columns(int(gseq), float(sent), (gw_start, gw_end), slot, metric, seq, ts, rx, value)


@njit(cache=True)
def _hash(data: Bytes, start: int, end: int) -> int:
    """FNV-1a, 32 bits."""
    h = _FNV_OFFSET
    for i in range(start, end):
        h = ((h ^ data[i]) * _FNV_PRIME) & 0xFFFFFFFF
    return h


@njit(cache=True)
def _fill(data: Bytes, starts: Int64s, table: Int32s) -> None:
    mask = len(table) - 1
    for i in range(len(starts) - 1):
        at = _hash(data, starts[i], starts[i + 1]) & mask
        while table[at] >= 0:
            at = (at + 1) & mask
        table[at] = i


@njit(cache=True)
def _find(payload: Bytes, start: int, end: int, data: Bytes, starts: Int64s, table: Int32s) -> int:
    """The index of the name payload[start:end] in a `NameTable`, or -1."""
    mask = len(table) - 1
    at = _hash(payload, start, end) & mask
    size = end - start
    while table[at] >= 0:
        k = table[at]
        s = starts[k]
        if starts[k + 1] - s == size:
            same = True
            for j in range(size):
                if data[s + j] != payload[start + j]:
                    same = False
                    break
            if same:
                return int(k)
        at = (at + 1) & mask
    return -1


@njit(cache=True)
def _uint(p: Bytes, at: int, size: int) -> int:
    """A big-endian unsigned integer of `size` bytes (at most 7, so it fits int64)."""
    v = 0
    for j in range(size):
        v = (v << 8) | p[at + j]
    return v


@njit(cache=True)
def _int(p: Bytes, at: int) -> tuple[int, int, bool]:
    """A MessagePack integer at `at`, not negative and below 2**63: (value, next position, ok).
    (No field the kernel reads may be negative: one is the msgspec path's to refuse.)"""
    n = len(p)
    if at >= n:
        return 0, at, False
    b = p[at]
    if b <= 0x7F:
        return b, at + 1, True
    if 0xCC <= b <= 0xCF or 0xD0 <= b <= 0xD3:  # uint and int of 8, 16, 32, 64 bits
        size = 1 << ((b - 0xCC) if b <= 0xCF else (b - 0xD0))
        if (
            at + 1 + size > n
            or (b >= 0xD0 and p[at + 1] >= 0x80)
            or (size == 8 and p[at + 1] >= 0x80)
        ):
            return 0, at, False
        if size == 8:
            return (_uint(p, at + 1, 1) << 56) | _uint(p, at + 2, 7), at + 9, True
        return _uint(p, at + 1, size), at + 1 + size, True
    return 0, at, False


@njit(cache=True)
def _float64(p: Bytes, at: int, out: Bytes, i: int) -> tuple[int, bool]:
    """A MessagePack float64 at `at` (the only float width the gateways send) into element `i`
    of the float64 array whose bytes are `out` (byte for byte: no rounding anywhere)."""
    if at + 9 > len(p) or p[at] != 0xCB:
        return at, False
    for j in range(8):
        out[8 * i + j] = p[at + 8 - j] if _LITTLE_ENDIAN else p[at + 1 + j]
    return at + 9, True


@njit(cache=True)
def _str(p: Bytes, at: int) -> tuple[int, int, bool]:
    """A MessagePack string at `at`: (start, end, ok)."""
    n = len(p)
    if at >= n:
        return 0, 0, False
    b = p[at]
    if 0xA0 <= b <= 0xBF:
        start, size = at + 1, b - 0xA0
    elif b == 0xD9 and at + 2 <= n:
        start, size = at + 2, p[at + 1]
    elif b == 0xDA and at + 3 <= n:
        start, size = at + 3, _uint(p, at + 1, 2)
    elif b == 0xDB and at + 5 <= n:
        start, size = at + 5, _uint(p, at + 1, 4)
    else:
        return 0, 0, False
    if start + size > n:
        return 0, 0, False
    return start, start + size, True


@njit(cache=True)
def _array(p: Bytes, at: int) -> tuple[int, int, bool]:
    """A MessagePack array header at `at`: (length, first element, ok)."""
    n = len(p)
    if at >= n:
        return 0, at, False
    b = p[at]
    if 0x90 <= b <= 0x9F:
        return b - 0x90, at + 1, True
    if b == 0xDC and at + 3 <= n:
        return _uint(p, at + 1, 2), at + 3, True
    if b == 0xDD and at + 5 <= n:
        return _uint(p, at + 1, 4), at + 5, True
    return 0, at, False


@njit(cache=True)
def _chars(p: Bytes, start: int, end: int) -> int:
    """Characters in UTF-8 bytes (those that do not continue one)."""
    count = 0
    for i in range(start, end):
        if p[i] & 0xC0 != 0x80:
            count += 1
    return count


@njit(cache=True)
def _names(
    p: Bytes, at: int, out: Int32s, data: Bytes, starts: Int64s, table: Int32s
) -> tuple[int, bool]:
    """An array of known names as their indexes; not ok at the first unknown one."""
    for i in range(len(out)):
        start, end, ok = _str(p, at)
        if not ok:
            return at, False
        k = _find(p, start, end, data, starts, table)
        if k < 0 or not 1 <= _chars(p, start, end) <= MAX_NAME_CHARS:
            return at, False
        out[i] = k
        at = end
    return at, True


@njit(cache=True)
def _read(
    p: Bytes,
    field_data: Bytes,
    field_starts: Int64s,
    field_table: Int32s,
    dev_data: Bytes,
    dev_starts: Int64s,
    dev_table: Int32s,
    metric_data: Bytes,
    metric_starts: Int64s,
    metric_table: Int32s,
    gateway: int,
    device_gateway: Int32s,
    device_type: Int32s,
    allowed: npt.NDArray[np.bool_],
    low: Floats,
    high: Floats,
    oldest: float,
    newest: float,
) -> tuple[int, int, float, int, int, Int32s, Int32s, Int64s, Floats, Floats, Floats]:
    header = np.zeros(1, dtype=np.float64)  # `sent`
    slot = np.empty(0, dtype=np.int32)
    metric = np.empty(0, dtype=np.int32)
    seq = np.empty(0, dtype=np.int64)
    ts = np.empty(0, dtype=np.float64)
    rx = np.empty(0, dtype=np.float64)
    value = np.empty(0, dtype=np.float64)
    gseq, sent, gw_start, gw_end = 0, 0.0, 0, 0
    fail = (FALLBACK, gseq, sent, gw_start, gw_end, slot, metric, seq, ts, rx, value)
    n = len(p)
    if n == 0:
        return fail
    b = p[0]
    if 0x80 <= b <= 0x8F:
        keys, at = b - 0x80, 1
    elif b == 0xDE and n >= 3:
        keys, at = _uint(p, 1, 2), 3
    elif b == 0xDF and n >= 5:
        keys, at = _uint(p, 1, 4), 5
    else:
        return fail
    seen = np.zeros(10, dtype=np.bool_)
    rows = -1
    for _ in range(keys):
        start, end, ok = _str(p, at)
        if not ok:
            return fail
        f = _find(p, start, end, field_data, field_starts, field_table)
        if f < 0 or seen[f]:
            return fail
        seen[f] = True
        at = end
        if f in (_V, _GSEQ):
            v, at, ok = _int(p, at)
            if not ok or (f == _V and v != SCHEMA_VERSION) or (f == _GSEQ and v < 1):
                return fail
            if f == _GSEQ:
                gseq = v
        elif f == _GW:
            gw_start, gw_end, ok = _str(p, at)
            if not ok:
                return fail
            at = gw_end
        elif f == _SENT:
            at, ok = _float64(p, at, header.view(np.uint8), 0)
            if not ok:
                return fail
            sent = header[0]
        else:
            length, at, ok = _array(p, at)
            if not ok or (rows >= 0 and length != rows):
                return fail
            if rows < 0:
                rows = length
                slot = np.empty(rows, dtype=np.int32)
                metric = np.empty(rows, dtype=np.int32)
                seq = np.empty(rows, dtype=np.int64)
                ts = np.empty(rows, dtype=np.float64)
                rx = np.empty(rows, dtype=np.float64)
                value = np.empty(rows, dtype=np.float64)
            if f == _DEV:
                at, ok = _names(p, at, slot, dev_data, dev_starts, dev_table)
            elif f == _METRIC:
                at, ok = _names(p, at, metric, metric_data, metric_starts, metric_table)
            elif f == _SEQ:
                for i in range(rows):
                    s, at, ok = _int(p, at)
                    if not ok or s < 0:
                        return fail
                    seq[i] = s
            else:
                column = (ts if f == _TS else rx if f == _RX else value).view(np.uint8)
                for i in range(rows):
                    at, ok = _float64(p, at, column, i)
                    if not ok:
                        return fail
            if not ok:
                return fail
    # Every field but `v` (which has a default), no bytes after the map, at least one reading,
    # and the finite sums TelemetryBatch asks for (summed as Python's `sum` does).
    if at != n or rows < 1 or not seen[1:].all():
        return fail
    total_ts, total_rx, total_value = 0.0, 0.0, 0.0
    for i in range(rows):
        total_ts += ts[i]
        total_rx += rx[i]
        total_value += value[i]
    if not np.isfinite(total_ts + total_rx + total_value):
        return fail
    reasons = np.empty(rows, dtype=np.int8)
    bad = _reasons(
        slot,
        metric,
        value,
        ts,
        rx,
        gateway,
        device_gateway,
        device_type,
        allowed,
        low,
        high,
        oldest,
        newest,
        reasons,
    )
    if bad:
        return fail
    return (OK, gseq, sent, gw_start, gw_end, slot, metric, seq, ts, rx, value)
