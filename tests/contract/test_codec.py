"""The codec: both encodings round-trip every message; bad input is refused with a reason."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.contract.strategies import (
    commands,
    event_batches,
    statuses,
    telemetry_batches,
)
from vigil.codec import (
    MAX_MESSAGE_BYTES,
    CodecError,
    Command,
    Encoding,
    Event,
    EventBatch,
    GatewayStatus,
    TelemetryBatch,
    decode,
    decode_command,
    decode_events,
    decode_status,
    decode_telemetry,
    decode_uplink,
    encode,
    sniff,
)
from vigil.topics import Topic

encodings = st.sampled_from(list(Encoding))


def telemetry(n: int = 3, gw: str = "gw-0001", **overrides: object) -> TelemetryBatch:
    fields: dict[str, object] = {
        "gw": gw,
        "gseq": 42,
        "sent": 1763780000.25,
        "dev": [f"sd-{i}" for i in range(n)],
        "seq": list(range(n)),
        "ts": [1763780000.1] * n,
        "rx": [1763780000.12] * n,
        "metric": ["temperature"] * n,
        "value": [21.5] * n,
    }
    fields.update(overrides)
    return TelemetryBatch(**fields)  # type: ignore[arg-type]


def events(gw: str = "gw-0001") -> EventBatch:
    press = Event(dev="pb-3", seq=5, ts=1763780000.0, rx=1763780000.01, kind="button")
    return EventBatch(gw=gw, gseq=43, sent=1763780000.02, events=[press])


@settings(max_examples=150)
@given(batch=telemetry_batches(), encoding=encodings)
def test_telemetry_round_trips(batch: TelemetryBatch, encoding: Encoding) -> None:
    payload = encode(batch, encoding)
    assert sniff(payload) is encoding
    assert decode_telemetry(payload) == batch
    assert decode_uplink(payload) == batch


@settings(max_examples=150)
@given(batch=event_batches, encoding=encodings)
def test_event_batches_round_trip(batch: EventBatch, encoding: Encoding) -> None:
    payload = encode(batch, encoding)
    assert decode_events(payload) == batch
    assert decode_uplink(payload) == batch


@given(status=statuses, encoding=encodings)
def test_status_round_trips(status: GatewayStatus, encoding: Encoding) -> None:
    assert decode_status(encode(status, encoding)) == status


@given(command=commands, encoding=encodings)
def test_commands_round_trip(command: Command, encoding: Encoding) -> None:
    assert decode_command(encode(command, encoding)) == command


def test_json_matches_the_documented_layout() -> None:
    doc = json.loads(encode(telemetry(2), Encoding.JSON))
    assert doc == {
        "v": 1,
        "gw": "gw-0001",
        "gseq": 42,
        "sent": 1763780000.25,
        "dev": ["sd-0", "sd-1"],
        "seq": [0, 1],
        "ts": [1763780000.1, 1763780000.1],
        "rx": [1763780000.12, 1763780000.12],
        "metric": ["temperature", "temperature"],
        "value": [21.5, 21.5],
    }
    event_doc = json.loads(encode(events(), Encoding.JSON))
    assert event_doc["events"] == [
        {
            "dev": "pb-3",
            "seq": 5,
            "ts": 1763780000.0,
            "rx": 1763780000.01,
            "kind": "button",
            "value": 1.0,
            "detail": {},
        }
    ]


def test_hand_written_json_with_whitespace_and_integers_decodes() -> None:
    payload = (
        b' \n\t{"v":1,"gw":"gw-9","gseq":1,"sent":1,"dev":["d"],"seq":[0],"ts":[2],"rx":[3],'
        b'"metric":["door"],"value":[1]}'
    )
    batch = decode_uplink(payload)
    assert isinstance(batch, TelemetryBatch)
    assert batch.value == [1.0]
    assert isinstance(batch.value[0], float)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty message"),
        (b"[1,2]", r"neither a JSON object nor a MessagePack map \(first byte 0x5b\)"),
        (b"   ", "neither a JSON object"),
        (msgspec.msgpack.encode([1, 2]), "first byte 0x92"),
        (b"{not json", "malformed json"),
        (b"\x81\xa1", "malformed msgpack"),
    ],
)
def test_garbage_is_refused_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(CodecError, match=reason):
        decode_uplink(payload)


def _raw(**fields: object) -> dict[str, object]:
    return msgspec.to_builtins(telemetry(3)) | fields  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (_raw(v=2), "unsupported schema version 2"),
        (_raw(value=[1.0, 2.0]), r"column lengths differ: dev has 3, but \{'value': 2\}"),
        (_raw(dev=[], seq=[], ts=[], rx=[], metric=[], value=[]), "at least one reading"),
        (_raw(gseq=0), r"`\$.gseq`"),
        (_raw(seq=[0, -1, 2]), r"`\$.seq\[1\]`"),
        (_raw(gw="gw/1"), r"`\$.gw`"),
        (_raw(dev=["d", "x" * 65, "d"]), r"`\$.dev\[1\]`"),
        (_raw(value=["hot", 1, 2]), r"Expected `float`, got `str` - at `\$.value\[0\]`"),
        ({"v": 1, "gw": "g", "gseq": 1}, "missing required field `sent`"),
    ],
)
@pytest.mark.parametrize("encoding", list(Encoding))
def test_invalid_telemetry_is_refused_with_a_reason(
    doc: dict[str, object], reason: str, encoding: Encoding
) -> None:
    payload = (
        msgspec.msgpack.encode(doc) if encoding is Encoding.MSGPACK else json.dumps(doc).encode()
    )
    with pytest.raises(CodecError, match=reason):
        decode_telemetry(payload)
    with pytest.raises(CodecError, match=reason):
        decode_uplink(payload)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("column", ["ts", "rx", "value"])
def test_non_finite_numbers_are_refused(bad: float, column: str) -> None:
    payload = msgspec.msgpack.encode(_raw(**{column: [1.0, bad, 2.0]}))
    with pytest.raises(CodecError, match=f"column '{column}' holds a NaN or infinite"):
        decode_telemetry(payload)
    fields = msgspec.structs.asdict(telemetry(3))
    fields[column] = [1.0, bad, 2.0]
    with pytest.raises(ValueError, match="NaN or infinite"):
        TelemetryBatch(**fields)


def test_a_nan_event_value_is_refused() -> None:
    doc = msgspec.to_builtins(events())
    doc["events"][0]["value"] = float("nan")
    with pytest.raises(CodecError, match="NaN or infinity"):
        decode_events(msgspec.msgpack.encode(doc))


def test_an_uplink_is_telemetry_or_events_never_both_nor_neither() -> None:
    both = _raw(events=msgspec.to_builtins(events())["events"])
    neither = {"v": 1, "gw": "g", "gseq": 1, "sent": 1.0}
    for doc in (both, neither):
        with pytest.raises(CodecError, match="either reading columns"):
            decode_uplink(msgspec.msgpack.encode(doc))
    with pytest.raises(CodecError, match="at least one event"):
        decode_uplink(msgspec.msgpack.encode(neither | {"events": []}))


def test_topic_and_payload_must_agree() -> None:
    payload = encode(telemetry(gw="gw-a"))
    assert decode_uplink(payload, Topic.telemetry("s", "gw-a")) == telemetry(gw="gw-a")
    with pytest.raises(CodecError, match="message from gateway 'gw-a' on vigil/v1/s/gw-b"):
        decode_uplink(payload, Topic.telemetry("s", "gw-b"))
    with pytest.raises(CodecError, match="missing required field `events`"):
        decode_uplink(payload, Topic.event("s", "gw-a"))
    with pytest.raises(CodecError, match="not an uplink topic"):
        decode_uplink(payload, Topic.status("s", "gw-a"))


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    payload = msgspec.msgpack.encode(_raw(firmware="2.1"))
    assert decode_telemetry(payload) == telemetry(3)


@pytest.mark.parametrize("encoding", list(Encoding))
def test_messages_over_the_size_limit_are_refused_both_ways(encoding: Encoding) -> None:
    n = 6000  # about 50 bytes a reading in MessagePack, more in JSON: over 256 KiB either way
    big = telemetry(n)
    with pytest.raises(CodecError, match=f"over the {MAX_MESSAGE_BYTES} byte limit"):
        encode(big, encoding)
    payload = encode(big, encoding, limit=10 * MAX_MESSAGE_BYTES)
    assert len(payload) > MAX_MESSAGE_BYTES
    with pytest.raises(CodecError, match=f"message is {len(payload)} bytes, over the"):
        decode_telemetry(payload)


def test_a_message_just_under_the_limit_passes() -> None:
    n = 1
    while len(encode(telemetry(n * 2), limit=2**30)) <= MAX_MESSAGE_BYTES:
        n *= 2
    payload = encode(telemetry(n))
    assert len(decode_telemetry(payload)) == n


def test_status_and_command_values_are_checked() -> None:
    status = msgspec.to_builtins(GatewayStatus(gw="g", state="online", ts=1.0))
    with pytest.raises(CodecError, match=r"Invalid enum value 'lost' - at `\$.state`"):
        decode_status(msgspec.msgpack.encode(status | {"state": "lost"}))
    with pytest.raises(CodecError, match=r"`\$.queue_depth`"):
        decode_status(msgspec.msgpack.encode(status | {"queue_depth": -1}))
    command = {"v": 1, "cmd": "reboot", "dev": None, "id": "x", "args": {}}
    with pytest.raises(CodecError, match=r"Invalid enum value 'reboot' - at `\$.cmd`"):
        decode_command(json.dumps(command).encode())


def test_generic_decode_names_the_type_it_wanted() -> None:
    with pytest.raises(CodecError, match=r"invalid GatewayStatus \(msgpack\)"):
        decode(encode(telemetry()), GatewayStatus)
