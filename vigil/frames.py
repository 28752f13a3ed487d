"""Device frames: what a device sends its gateway, one per SOCK_SEQPACKET packet.

A frame is either a report (`r`: readings by metric; a heartbeat has only `battery` or nothing)
or an event (`e`: its kind, `x`: its value). `Frame.problem()` checks a frame against
`vigil/device_types.py`; the gateway forwards only frames without a problem.
"""

from __future__ import annotations

import math
import re
from functools import cache
from typing import Annotated

import msgspec

from vigil.codec import Encoding, Payload, decode, encode
from vigil.device_types import DeviceType, DeviceTypeError, device_type, metrics

MAX_FRAME_BYTES = 4096
DEVICE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")

DeviceId = Annotated[str, msgspec.Meta(pattern=f"^{DEVICE_ID_PATTERN.pattern}$")]
ShortName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class Frame(msgspec.Struct, kw_only=True, omit_defaults=True):
    dev: DeviceId
    type: ShortName
    seq: Annotated[int, msgspec.Meta(ge=0)]
    ts: float
    r: dict[ShortName, float] | None = None
    e: ShortName | None = None
    x: float | None = None

    def __post_init__(self) -> None:
        if (self.r is None) == (self.e is None):
            raise ValueError("a frame is either a report (`r`) or an event (`e`): exactly one")
        if self.x is not None and self.e is None:
            raise ValueError("`x` is an event's value; a report carries none")

    @property
    def is_event(self) -> bool:
        return self.e is not None

    @property
    def event_value(self) -> float:
        """An event's value; 1.0 when the device sent none (an alarm is simply on)."""
        return 1.0 if self.x is None else self.x

    def problem(self) -> str | None:
        """Why this frame must not be forwarded, or None when it fits its device type."""
        if not math.isfinite(self.ts):
            return f"{self.dev}: timestamp {self.ts} is not a number"
        try:
            kind = device_type(self.type)
        except DeviceTypeError as exc:
            return f"{self.dev}: {exc}"
        reason = self._report_problem(kind) if self.e is None else self._event_problem(kind)
        return None if reason is None else f"{self.dev}: {reason}"

    def _report_problem(self, kind: DeviceType) -> str | None:
        ranges = _ranges(kind.name)
        for metric, value in (self.r or {}).items():
            # The hot path of a gateway: a plain range test (NaN fails it too); the device
            # type is asked only for the reason of a reading that fails.
            limits = ranges.get(metric)
            if limits is None or not limits[0] <= value <= limits[1]:
                return kind.check_reading(metric, value)
        return None

    def _event_problem(self, kind: DeviceType) -> str | None:
        if self.e not in kind.events:
            return f"unknown event {self.e!r} for device type {kind.name!r}"
        # Events named after a metric (button, tamper, self_test) share its value range.
        same_name = metrics().get(self.e)
        if same_name is not None:
            return same_name.check(self.event_value)
        if not math.isfinite(self.event_value):
            return f"{self.e}: value {self.event_value} is not a number"
        return None


@cache
def _ranges(type_name: str) -> dict[str, tuple[float, float]]:
    table = metrics()
    return {m: (table[m].min, table[m].max) for m in device_type(type_name).metrics}


def encode_frame(frame: Frame, encoding: Encoding = Encoding.MSGPACK) -> bytes:
    return encode(frame, encoding, limit=MAX_FRAME_BYTES)


def decode_frame(payload: Payload) -> Frame:
    """A frame (MessagePack, or JSON for hand-made ones); CodecError says what is wrong."""
    return decode(payload, Frame, limit=MAX_FRAME_BYTES)
