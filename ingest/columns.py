"""Readings as columns: one numpy array per field, no Python object per reading."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Int32s = npt.NDArray[np.int32]
Int64s = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]


# Made several times per message, never changed: not `frozen`, whose __init__ costs ~6x more.
@dataclass(slots=True)
class Readings:
    """Readings of one message or one batch; all arrays have the same length.

    `device` holds registry slots and `metric` codes (`registry.METRICS`); times are
    epoch seconds as the gateways send them.
    """

    device: Int32s
    metric: Int32s
    seq: Int64s
    ts: Floats
    rx: Floats
    value: Floats

    def __len__(self) -> int:
        return len(self.device)

    def take(self, index: Mask | Int64s) -> Readings:
        """The readings a boolean mask or an index array selects."""
        return Readings(
            self.device[index],
            self.metric[index],
            self.seq[index],
            self.ts[index],
            self.rx[index],
            self.value[index],
        )

    def slice(self, start: int, stop: int) -> Readings:
        """Readings start to stop, as views (no copy)."""
        return Readings(
            self.device[start:stop],
            self.metric[start:stop],
            self.seq[start:stop],
            self.ts[start:stop],
            self.rx[start:stop],
            self.value[start:stop],
        )

    @staticmethod
    def concat(parts: Sequence[Readings]) -> Readings:
        if not parts:
            return EMPTY
        if len(parts) == 1:
            return parts[0]
        return Readings(*(np.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS))

    def check(self) -> None:
        """Refuse columns of different lengths or dtypes before they reach a kernel."""
        n = len(self.device)
        for name, dtype in _DTYPES.items():
            column: npt.NDArray[Any] = getattr(self, name)
            if column.dtype != dtype:
                raise TypeError(f"readings.{name} is {column.dtype}, want {dtype}")
            if column.shape != (n,):
                raise ValueError(f"readings.{name} has shape {column.shape}, want ({n},)")


_DTYPES = {
    "device": np.dtype(np.int32),
    "metric": np.dtype(np.int32),
    "seq": np.dtype(np.int64),
    "ts": np.dtype(np.float64),
    "rx": np.dtype(np.float64),
    "value": np.dtype(np.float64),
}
_FIELDS = tuple(_DTYPES)

EMPTY = Readings(
    np.zeros(0, np.int32),
    np.zeros(0, np.int32),
    np.zeros(0, np.int64),
    np.zeros(0, np.float64),
    np.zeros(0, np.float64),
    np.zeros(0, np.float64),
)
