"""PostgreSQL's binary COPY format for `reading_rows`, written from columns by one numba kernel.

psycopg's `write_row` builds each row from Python objects (about 400k rows/s at best); here
the rows are laid out straight from the arrays, with no Python object per reading. The row is
the narrow one of migration 0021 (docs/performance.md, "The narrow row"): the device as its
registry key, the metric as its code, the value as a 4-byte float, the sequence number's low 32
bits, and the gateway's receive time as a saturated offset from the device's time.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from ingest.columns import Floats, Int32s, Int64s, Readings
from ingest.registry import NO_KEY

TABLE = "reading_rows"
COLUMNS = "time, device, value, seq, metric, rx_cs"
SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8  # signature, flags, header extension length
TRAILER = b"\xff\xff"
PG_EPOCH_S = 946_684_800  # 2000-01-01T00:00:00Z, where PostgreSQL timestamps count from
_ROW_BYTES = 2 + 6 * 4 + 8 + 4 + 4 + 4 + 2 + 2  # field count, six lengths, the values
# The receive-time offset is kept in units of 10 ms within +-RX_LIMIT (327.67 s); a gateway
# clock further from the device's reads as the bound (as `reading_rx_cs` in migration 0021).
RX_UNITS_PER_S = 100
RX_LIMIT = 32767

Bytes = npt.NDArray[np.uint8]


def pg_micros(epoch_s: Floats) -> Int64s:
    """Epoch seconds to PostgreSQL's microseconds since 2000, rounded to the microsecond."""
    return np.rint((epoch_s - PG_EPOCH_S) * 1e6).astype(np.int64)


def rx_offset(ts: Floats, rx: Floats) -> npt.NDArray[np.int16]:
    """The gateway's receive time as stored: 10 ms units after the device's time, rounded half
    to even, saturated at +-RX_LIMIT."""
    return np.clip(np.rint((rx - ts) * RX_UNITS_PER_S), -RX_LIMIT, RX_LIMIT).astype(np.int16)


def seq32(seq: Int64s) -> Int32s:
    """A sequence number as stored: its low 32 bits, as a signed integer."""
    return seq.astype(np.uint32).view(np.int32)


def encode_readings(readings: Readings, device_key: Int32s) -> Bytes:
    """The whole COPY payload (signature, rows, trailer) for `readings`.

    `device_key[slot]` is the registry key (`devices.key`) of device slot `slot`.
    """
    readings.check()
    if device_key.dtype != np.int32:
        raise TypeError(f"device keys are {device_key.dtype}, want int32")
    if len(readings):
        if readings.device.min() < 0 or readings.device.max() >= len(device_key):
            raise ValueError("a device slot is outside the key table")
        if np.any(device_key[readings.device] == NO_KEY):
            raise ValueError("a device slot has no registry key")
    out = np.empty(len(SIGNATURE) + len(TRAILER) + _ROW_BYTES * len(readings), dtype=np.uint8)
    out[: len(SIGNATURE)] = np.frombuffer(SIGNATURE, dtype=np.uint8)
    end = _write_rows(
        out,
        len(SIGNATURE),
        pg_micros(readings.ts),
        device_key[readings.device],
        readings.value.astype(np.float32).view(np.int32),
        seq32(readings.seq),
        readings.metric,
        rx_offset(readings.ts, readings.rx),
    )
    out[end:] = np.frombuffer(TRAILER, dtype=np.uint8)
    return out


@njit(cache=True)
def _put(out: Bytes, pos: int, value: int, width: int) -> int:
    for k in range(width):
        out[pos + k] = (value >> (8 * (width - 1 - k))) & 0xFF
    return pos + width


@njit(cache=True)
def _write_rows(  # noqa: PLR0917 (a kernel takes its columns positionally)
    out: Bytes,
    pos: int,
    time_us: Int64s,
    device: Int32s,
    value_bits: Int32s,
    seq: Int32s,
    metric: Int32s,
    rx_cs: npt.NDArray[np.int16],
) -> int:
    for i in range(len(time_us)):
        pos = _put(out, pos, 6, 2)
        pos = _put(out, pos, 8, 4)
        pos = _put(out, pos, time_us[i], 8)
        pos = _put(out, pos, 4, 4)
        pos = _put(out, pos, device[i], 4)
        pos = _put(out, pos, 4, 4)
        pos = _put(out, pos, value_bits[i], 4)
        pos = _put(out, pos, 4, 4)
        pos = _put(out, pos, seq[i], 4)
        pos = _put(out, pos, 2, 4)
        pos = _put(out, pos, metric[i], 2)
        pos = _put(out, pos, 2, 4)
        pos = _put(out, pos, rx_cs[i], 2)
    return pos
