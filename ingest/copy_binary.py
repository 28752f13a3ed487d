"""PostgreSQL's binary COPY format for `readings`, written from columns by one numba kernel.

psycopg's `write_row` builds each row from Python objects (about 400k rows/s at best); here
the rows are laid out straight from the arrays, and the strings come from per-batch tables of
device ids and metric names, so no Python object is made per reading.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from ingest.columns import Floats, Int64s, Readings

COLUMNS = "time, device_id, metric, value, seq, gateway_ts"
SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8  # signature, flags, header extension length
TRAILER = b"\xff\xff"
PG_EPOCH_S = 946_684_800  # 2000-01-01T00:00:00Z, where PostgreSQL timestamps count from
_FIXED_ROW_BYTES = 2 + 6 * 4 + 4 * 8  # field count, six lengths, four 8-byte values

Bytes = npt.NDArray[np.uint8]


def pg_micros(epoch_s: Floats) -> Int64s:
    """Epoch seconds to PostgreSQL's microseconds since 2000, rounded to the microsecond."""
    return np.rint((epoch_s - PG_EPOCH_S) * 1e6).astype(np.int64)


def encode_readings(
    readings: Readings,
    device_bytes: Bytes,
    device_offsets: Int64s,
    metric_bytes: Bytes,
    metric_offsets: Int64s,
) -> Bytes:
    """The whole COPY payload (signature, rows, trailer) for `readings`.

    `device_bytes[device_offsets[s]:device_offsets[s + 1]]` is the UTF-8 id of device slot s;
    the same for metric codes.
    """
    readings.check()
    for name, data, offsets, codes in (
        ("device", device_bytes, device_offsets, readings.device),
        ("metric", metric_bytes, metric_offsets, readings.metric),
    ):
        if data.dtype != np.uint8 or offsets.dtype != np.int64:
            raise TypeError(f"{name} table must be uint8 bytes and int64 offsets")
        if len(offsets) == 0 or offsets[-1] != len(data) or np.any(np.diff(offsets) < 0):
            raise ValueError(f"{name} offsets do not describe the {name} bytes")
        if len(codes) and (codes.min() < 0 or codes.max() >= len(offsets) - 1):
            raise ValueError(f"a {name} code is outside the {name} table")
    device_len = np.diff(device_offsets)[readings.device]
    metric_len = np.diff(metric_offsets)[readings.metric]
    size = len(SIGNATURE) + len(TRAILER) + _FIXED_ROW_BYTES * len(readings)
    size += int(device_len.sum()) + int(metric_len.sum())
    out = np.empty(size, dtype=np.uint8)
    out[: len(SIGNATURE)] = np.frombuffer(SIGNATURE, dtype=np.uint8)
    end = _write_rows(
        out,
        len(SIGNATURE),
        pg_micros(readings.ts),
        readings.device,
        readings.metric,
        readings.value.view(np.int64),
        readings.seq,
        pg_micros(readings.rx),
        device_bytes,
        device_offsets,
        metric_bytes,
        metric_offsets,
    )
    out[end:] = np.frombuffer(TRAILER, dtype=np.uint8)
    return out


@njit(cache=True)
def _put(out: Bytes, pos: int, value: int, width: int) -> int:
    for k in range(width):
        out[pos + k] = (value >> (8 * (width - 1 - k))) & 0xFF
    return pos + width


@njit(cache=True)
def _put_text(out: Bytes, pos: int, table: Bytes, offsets: Int64s, code: int) -> int:
    start = int(offsets[code])
    length = int(offsets[code + 1]) - start
    pos = _put(out, pos, length, 4)
    out[pos : pos + length] = table[start : start + length]
    return pos + length


@njit(cache=True)
def _write_rows(  # noqa: PLR0917 (a kernel takes its columns positionally)
    out: Bytes,
    pos: int,
    time_us: Int64s,
    device: npt.NDArray[np.int32],
    metric: npt.NDArray[np.int32],
    value_bits: Int64s,
    seq: Int64s,
    rx_us: Int64s,
    device_bytes: Bytes,
    device_offsets: Int64s,
    metric_bytes: Bytes,
    metric_offsets: Int64s,
) -> int:
    for i in range(len(time_us)):
        pos = _put(out, pos, 6, 2)
        pos = _put(out, pos, 8, 4)
        pos = _put(out, pos, time_us[i], 8)
        pos = _put_text(out, pos, device_bytes, device_offsets, device[i])
        pos = _put_text(out, pos, metric_bytes, metric_offsets, metric[i])
        pos = _put(out, pos, 8, 4)
        pos = _put(out, pos, value_bits[i], 8)
        pos = _put(out, pos, 8, 4)
        pos = _put(out, pos, seq[i], 8)
        pos = _put(out, pos, 8, 4)
        pos = _put(out, pos, rx_us[i], 8)
    return pos
