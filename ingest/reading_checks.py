"""The per-reading checks as one numba pass: a reason code per reading, 0 when it is good.

Checked per message (about a hundred readings) so the detectors get each message at once;
numpy would need some twenty array operations per message, each with its own overhead, where
this is one call.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from ingest.columns import Floats, Int32s

# Reason codes, in order of precedence (ingest.validate maps them to dead-letter reasons).
GOOD, UNKNOWN_DEVICE, WRONG_GATEWAY, UNKNOWN_METRIC, OUT_OF_RANGE, FUTURE, STALE = range(7)

Codes = npt.NDArray[np.int8]


def reading_reasons(
    slot: Int32s,
    metric: Int32s,
    value: Floats,
    ts: Floats,
    rx: Floats,
    *,
    gateway: int,
    device_gateway: Int32s,
    device_type: Int32s,
    allowed: npt.NDArray[np.bool_],
    limits: tuple[Floats, Floats],
    window: tuple[float, float],
) -> tuple[Codes, int]:
    """Reason codes per reading and how many are not GOOD.

    `slot` and `metric` are -1 for names the registry does not know; `device_gateway` and
    `device_type` are indexed by slot (-1: not provisioned, unknown type); `allowed[type,
    metric]`; `limits` the metric's (min, max); `window` the (oldest, newest) timestamps.
    """
    n = len(slot)
    for name, column, dtype in (
        ("slot", slot, np.int32),
        ("metric", metric, np.int32),
        ("value", value, np.float64),
        ("ts", ts, np.float64),
        ("rx", rx, np.float64),
    ):
        if column.dtype != dtype or column.shape != (n,):
            raise TypeError(f"{name} must be {np.dtype(dtype)} of length {n}")
    if device_gateway.shape != device_type.shape:
        raise ValueError("device_gateway and device_type must cover the same slots")
    metrics = (allowed.shape[1],) if allowed.ndim == 2 else None
    if metrics is None or limits[0].shape != metrics or limits[1].shape != metrics:
        raise ValueError("allowed must be types x metrics, limits one per metric")
    if len(slot) and int(slot.max()) >= len(device_gateway):
        raise ValueError("a slot is outside the registry arrays")
    out = np.empty(n, dtype=np.int8)
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
        limits[0],
        limits[1],
        window[0],
        window[1],
        out,
    )
    return out, int(bad)


@njit(cache=True)
def _reasons(  # noqa: PLR0917 (a kernel takes its arrays positionally)
    slot: Int32s,
    metric: Int32s,
    value: Floats,
    ts: Floats,
    rx: Floats,
    gateway: int,
    device_gateway: Int32s,
    device_type: Int32s,
    allowed: npt.NDArray[np.bool_],
    low: Floats,
    high: Floats,
    oldest: float,
    newest: float,
    out: npt.NDArray[np.int8],
) -> int:
    bad = 0
    for i in range(len(slot)):
        s = slot[i]
        m = metric[i]
        code = GOOD
        if s < 0 or device_gateway[s] < 0:
            code = UNKNOWN_DEVICE
        elif device_gateway[s] != gateway:
            code = WRONG_GATEWAY
        elif m < 0 or device_type[s] < 0 or not allowed[device_type[s], m]:
            code = UNKNOWN_METRIC
        elif not low[m] <= value[i] <= high[m]:
            code = OUT_OF_RANGE
        elif not (ts[i] <= newest and rx[i] <= newest):
            code = FUTURE
        elif ts[i] < oldest or rx[i] < oldest:
            code = STALE
        out[i] = code
        if code != GOOD:
            bad += 1
    return bad
