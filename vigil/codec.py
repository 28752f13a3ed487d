"""The message codec of the wire contract: JSON and MessagePack behind one set of functions.

Messages are msgspec Structs that check themselves in `__post_init__`, both when a gateway
builds them and when a decoder makes them, so nothing invalid is encoded or handed on.
The decoder tells the encodings apart by the first byte (docs/protocol.md, "Encodings").
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from vigil.errors import VigilError
from vigil.topics import GATEWAY_ID_PATTERN, CommandName, Topic, TopicKind

SCHEMA_VERSION = 1
MAX_MESSAGE_BYTES = 256 * 1024
MAX_NAME_CHARS = 64

_JSON_WHITESPACE = b" \t\r\n"
_MSGPACK_MAP_FIRST_BYTES = frozenset([*range(0x80, 0x90), 0xDE, 0xDF])

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME_CHARS)]
GatewayId = Annotated[str, msgspec.Meta(pattern=f"^{GATEWAY_ID_PATTERN.pattern}$")]
Seq = Annotated[int, msgspec.Meta(ge=0)]
GatewaySeq = Annotated[int, msgspec.Meta(ge=1)]
Count = Annotated[int, msgspec.Meta(ge=0)]


class CodecError(VigilError, ValueError):
    """A message cannot be encoded or decoded; the text says why."""


class Encoding(StrEnum):
    JSON = "json"
    MSGPACK = "msgpack"


def _check_version(v: int) -> None:
    if v != SCHEMA_VERSION:
        raise ValueError(f"unsupported schema version {v} (this build knows {SCHEMA_VERSION})")


def _check_finite(name: str, column: list[float]) -> None:
    # One C-level sum instead of a Python loop: a NaN or infinity anywhere makes the sum
    # non-finite. Finite values near 1e308 could overflow it, but no sensor reports those.
    if not math.isfinite(sum(column)):
        raise ValueError(f"column {name!r} holds a NaN or infinite number")


class TelemetryBatch(msgspec.Struct, kw_only=True):
    """Readings in columns (one list per field, all the same length) so ingest can make arrays."""

    v: int = SCHEMA_VERSION
    gw: GatewayId
    gseq: GatewaySeq
    sent: float
    dev: list[Name]
    seq: list[Seq]
    ts: list[float]
    rx: list[float]
    metric: list[Name]
    value: list[float]

    def __post_init__(self) -> None:
        # Runs for every message ingest decodes: the common case is a few comparisons and
        # one sum, the names of what is wrong are worked out only when something is.
        if self.v != SCHEMA_VERSION:
            _check_version(self.v)
        n = len(self.dev)
        columns = (self.seq, self.ts, self.rx, self.metric, self.value)
        if any(len(c) != n for c in columns):
            self._lengths_differ(n)
        if n == 0:
            raise ValueError("a telemetry batch holds at least one reading")
        if not math.isfinite(sum(self.ts) + sum(self.rx) + sum(self.value)):
            for name in ("ts", "rx", "value"):  # which one (or none: finite sums, summed over)
                _check_finite(name, getattr(self, name))

    def _lengths_differ(self, n: int) -> None:
        lengths = {c: len(getattr(self, c)) for c in ("seq", "ts", "rx", "metric", "value")}
        wrong = {c: k for c, k in lengths.items() if k != n}
        raise ValueError(f"column lengths differ: dev has {n}, but {wrong}")

    def __len__(self) -> int:
        return len(self.dev)


class Event(msgspec.Struct, kw_only=True):
    """One device event: an alarm, a button press, a tamper, a self-test result, a fault."""

    dev: Name
    seq: Seq
    ts: float
    rx: float
    kind: Name
    value: float = 1.0
    detail: dict[str, Any] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not all(map(math.isfinite, (self.ts, self.rx, self.value))):
            raise ValueError(f"event {self.kind!r} of {self.dev!r} holds a NaN or infinity")


class EventBatch(msgspec.Struct, kw_only=True):
    """Events sent at once, never queued behind telemetry."""

    v: int = SCHEMA_VERSION
    gw: GatewayId
    gseq: GatewaySeq
    sent: float
    events: list[Event]

    def __post_init__(self) -> None:
        _check_version(self.v)
        if not self.events:
            raise ValueError("an event batch holds at least one event")

    def __len__(self) -> int:
        return len(self.events)


class GatewayStatus(msgspec.Struct, kw_only=True):
    """Retained on the status topic; the gateway's last will is the same with state offline."""

    v: int = SCHEMA_VERSION
    gw: GatewayId
    state: Literal["online", "offline"]
    ts: float
    queue_depth: Count = 0
    dropped_telemetry: Count = 0
    devices: Count = 0
    rejected_frames: Count = 0

    def __post_init__(self) -> None:
        _check_version(self.v)


class Command(msgspec.Struct, kw_only=True):
    """A downlink command to a gateway, or through it to one device (`dev`)."""

    v: int = SCHEMA_VERSION
    cmd: CommandName
    dev: Name | None = None
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    args: dict[str, Any] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_version(self.v)


class _Uplink(msgspec.Struct, kw_only=True):
    """Either uplink message, for when the topic is not at hand to say which."""

    v: int
    gw: GatewayId
    gseq: GatewaySeq
    sent: float
    dev: list[Name] | None = None
    seq: list[Seq] | None = None
    ts: list[float] | None = None
    rx: list[float] | None = None
    metric: list[Name] | None = None
    value: list[float] | None = None
    events: list[Event] | None = None


M = TypeVar("M")
Payload = bytes | bytearray  # what sockets and paho hand over

_json_encoder = msgspec.json.Encoder()
_msgpack_encoder = msgspec.msgpack.Encoder()
_decoders: dict[tuple[Encoding, type[Any]], Any] = {}


def sniff(payload: Payload) -> Encoding:
    """JSON objects start with `{` (after whitespace), MessagePack maps with 0x80-0x8f/0xde/0xdf."""
    if not payload:
        raise CodecError("empty message")
    first = payload[0]
    if first in _MSGPACK_MAP_FIRST_BYTES:
        return Encoding.MSGPACK
    if payload.lstrip(_JSON_WHITESPACE)[:1] == b"{":
        return Encoding.JSON
    raise CodecError(f"neither a JSON object nor a MessagePack map (first byte 0x{first:02x})")


def encode(
    message: msgspec.Struct,
    encoding: Encoding = Encoding.MSGPACK,
    *,
    limit: int = MAX_MESSAGE_BYTES,
) -> bytes:
    """The message's bytes; refuses one larger than `limit` so the sender splits it instead."""
    encoder = _msgpack_encoder if encoding is Encoding.MSGPACK else _json_encoder
    try:
        data = encoder.encode(message)
    except (TypeError, ValueError) as exc:
        raise CodecError(f"cannot encode {type(message).__name__}: {exc}") from exc
    if len(data) > limit:
        raise CodecError(
            f"{type(message).__name__} is {len(data)} bytes encoded, over the {limit} byte limit"
        )
    return data


def _decoder(encoding: Encoding, type_: type[M]) -> Any:
    key = (encoding, type_)
    decoder = _decoders.get(key)
    if decoder is None:
        module = msgspec.msgpack if encoding is Encoding.MSGPACK else msgspec.json
        decoder = _decoders[key] = module.Decoder(type_)
    return decoder


def decode(payload: Payload, type_: type[M], *, limit: int = MAX_MESSAGE_BYTES) -> M:
    """A `type_` from either encoding, or CodecError naming what is wrong and where."""
    if len(payload) > limit:
        raise CodecError(f"message is {len(payload)} bytes, over the {limit} byte limit")
    encoding = sniff(payload)
    try:
        result: M = _decoder(encoding, type_).decode(payload)
    except msgspec.ValidationError as exc:
        raise CodecError(f"invalid {type_.__name__} ({encoding}): {exc}") from exc
    except msgspec.DecodeError as exc:
        raise CodecError(f"malformed {encoding}: {exc}") from exc
    return result


def decode_telemetry(payload: Payload) -> TelemetryBatch:
    return decode(payload, TelemetryBatch)


def decode_events(payload: Payload) -> EventBatch:
    return decode(payload, EventBatch)


def decode_status(payload: Payload) -> GatewayStatus:
    return decode(payload, GatewayStatus)


def decode_command(payload: Payload) -> Command:
    return decode(payload, Command)


def decode_uplink(payload: Payload, topic: Topic | None = None) -> TelemetryBatch | EventBatch:
    """An uplink message; with its topic, also checks that the kind and gateway id agree."""
    if topic is None:
        return _from_untyped(decode(payload, _Uplink))
    if topic.kind is TopicKind.TELEMETRY:
        batch: TelemetryBatch | EventBatch = decode_telemetry(payload)
    elif topic.kind is TopicKind.EVENT:
        batch = decode_events(payload)
    else:
        raise CodecError(f"{topic} is not an uplink topic")
    if batch.gw != topic.gateway_id:
        raise CodecError(f"message from gateway {batch.gw!r} on {topic}")
    return batch


def _from_untyped(up: _Uplink) -> TelemetryBatch | EventBatch:
    columns = (up.dev, up.seq, up.ts, up.rx, up.metric, up.value)
    has_columns = any(c is not None for c in columns)
    if has_columns == (up.events is not None):
        raise CodecError("an uplink holds either reading columns (telemetry) or `events`: one")
    try:
        if up.events is not None:
            return EventBatch(v=up.v, gw=up.gw, gseq=up.gseq, sent=up.sent, events=up.events)
        return TelemetryBatch(
            v=up.v,
            gw=up.gw,
            gseq=up.gseq,
            sent=up.sent,
            dev=up.dev or [],
            seq=up.seq or [],
            ts=up.ts or [],
            rx=up.rx or [],
            metric=up.metric or [],
            value=up.value or [],
        )
    except ValueError as exc:
        raise CodecError(f"invalid uplink: {exc}") from exc
