"""Slow, obviously correct reference code for the ingest kernels."""

from __future__ import annotations

import struct

from ingest.columns import Readings

PG_EPOCH_S = 946_684_800


def copy_binary(readings: Readings, device_keys: list[int]) -> bytes:
    """PostgreSQL's binary COPY of `readings` as `reading_rows`, one struct.pack at a time."""
    out = bytearray(b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0))
    for i in range(len(readings)):
        ts, rx = float(readings.ts[i]), float(readings.rx[i])
        lag = max(-32767, min(32767, round((rx - ts) * 100)))  # round(): half to even
        out += struct.pack("!h", 6)
        out += struct.pack("!iq", 8, round((ts - PG_EPOCH_S) * 1e6))
        out += struct.pack("!ii", 4, device_keys[readings.device[i]])
        out += struct.pack("!if", 4, float(readings.value[i]))
        out += struct.pack("!iI", 4, int(readings.seq[i]) % 2**32)
        out += struct.pack("!ih", 2, int(readings.metric[i]))
        out += struct.pack("!ih", 2, lag)
    out += struct.pack("!h", -1)
    return bytes(out)


def first_occurrences(readings: Readings) -> list[bool]:
    seen: set[tuple[int, int, int]] = set()
    keep = []
    for i in range(len(readings)):
        key = (int(readings.device[i]), int(readings.seq[i]), int(readings.metric[i]))
        keep.append(key not in seen)
        seen.add(key)
    return keep


def reading_reasons(
    slot, metric, value, ts, rx, *, gateway, device_gateway, device_type, allowed, limits, window
) -> list[int]:
    """The kernel's reason codes, one `if` at a time."""
    low, high = limits
    oldest, newest = window
    codes = []
    for i in range(len(slot)):
        s, m = int(slot[i]), int(metric[i])
        if s < 0 or device_gateway[s] < 0:
            code = 1
        elif device_gateway[s] != gateway:
            code = 2
        elif m < 0 or device_type[s] < 0 or not allowed[device_type[s], m]:
            code = 3
        elif not (low[m] <= value[i] <= high[m]):
            code = 4
        elif not (ts[i] <= newest and rx[i] <= newest):
            code = 5
        elif ts[i] < oldest or rx[i] < oldest:
            code = 6
        else:
            code = 0
        codes.append(code)
    return codes
