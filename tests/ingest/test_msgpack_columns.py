"""The one-pass MessagePack reader (`ingest.validate.check_plain`) against the msgspec path
(`check(parse(...))`), its reference: where it takes a message, it must make what the msgspec
path makes; every message the msgspec path would refuse or trim it must leave to that path."""

from __future__ import annotations

import struct
import time
from typing import Any

import msgspec
import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples

from bench.loadgen import Layout, streams
from ingest.columns import Readings
from ingest.msgpack_columns import NameTable, _find
from ingest.registry import Registry, RegistrySnapshot
from ingest.validate import Checked, Window, check, check_plain
from ingest.wire import RejectedError, parse
from tests.ingest.strategies import Scene, bad_uplinks, good_message

WINDOW = Window(max_future_s=300.0, max_age_s=7 * 86400.0)
LONG = "d" * 65  # provisioned, but longer than a name on the wire may be
SCENE = Scene("mp", "mp-gw0", ("mp-a", "mp-b", "mp-c", "设备-丁"), "mp-gw1", "mp-z", time.time())


def _registry(gateways: dict[str, list[str]], site: str) -> RegistrySnapshot:
    devices = [(d, "smoke", g, i + 1) for g, ds in gateways.items() for i, d in enumerate(ds)]
    return Registry().apply(1, [(g, site) for g in gateways], devices)


REGISTRY = _registry(
    {SCENE.gateway: [*SCENE.devices, LONG], SCENE.other_gateway: [SCENE.other_device]}, SCENE.site
)


def _reference(topic: str, payload: bytes, registry: RegistrySnapshot, now: float) -> Checked:
    try:
        return check(parse(topic, payload), payload, registry, WINDOW, now)
    except RejectedError:
        return Checked(topic, payload, None, -1, Readings.concat([]), [], [])


def _same_readings(a: Readings, b: Readings) -> bool:
    fields = ("device", "metric", "seq", "ts", "rx", "value")
    return all(
        getattr(a, f).dtype == getattr(b, f).dtype and np.array_equal(getattr(a, f), getattr(b, f))
        for f in fields
    )


def _assert_as_reference(
    topic: str, payload: bytes, registry: RegistrySnapshot, now: float
) -> bool:
    """True if the kernel took the message (and made what the reference makes)."""
    got = check_plain(topic, payload, registry, WINDOW, now)
    if got is None:
        return False
    want = _reference(topic, payload, registry, now)
    assert want.dead == []
    assert want.events == []
    assert want.key is not None
    assert got.key == want.key
    assert isinstance(got.key.gseq, int)
    assert got.gateway_index == want.gateway_index
    assert got.topic == want.topic
    assert got.dead == []
    assert got.events == []
    assert _same_readings(got.readings, want.readings)
    return True


def _message(**changes: Any) -> dict[str, Any]:
    msg = good_message(SCENE, 4, SCENE.now)
    msg.update(changes)
    return msg


def test_the_load_generators_messages_are_read_as_the_msgspec_path_reads_them() -> None:
    layout = Layout.make("mpl", 3, 50)
    registry = _registry(layout.gateways, layout.site)
    now = time.time()
    gens = streams(layout)
    for i in range(60):
        topic, payload, _ = gens[i % len(gens)].message(40, now - 1 + i * 0.001)
        assert _assert_as_reference(topic, payload, registry, now)


def test_good_messages_of_every_integer_width_and_non_ascii_names_are_read() -> None:
    assert _assert_as_reference(
        SCENE.topic, msgspec.msgpack.encode(_message()), REGISTRY, SCENE.now
    )
    for seq in (0, 200, 70_000, 2**33, 2**63 - 1):  # fixint, uint16, uint32, uint64
        msg = _message(dev=["设备-丁"] * 12, gseq=seq or 1)
        msg["seq"] = [seq] * 12
        payload = msgspec.msgpack.encode(msg)
        assert _assert_as_reference(SCENE.topic, payload, REGISTRY, SCENE.now), seq


def _packed(msg: dict[str, Any], field: str, packed: bytes) -> bytes:
    """The message with `field`'s first value as the given MessagePack bytes."""
    marker = {"seq": 987_654_321, "value": 0.123456789}[field]
    msg[field][0] = marker
    payload = msgspec.msgpack.encode(msg)
    plain = msgspec.msgpack.encode(marker)
    assert payload.count(plain) == 1
    return payload.replace(plain, packed)


NOT_PLAIN = [
    ("an unknown device", msgspec.msgpack.encode(_message(dev=["nobody"] * 12))),
    ("a device behind another gateway", msgspec.msgpack.encode(_message(dev=["mp-z"] * 12))),
    ("an unknown metric", msgspec.msgpack.encode(_message(metric=["co"] * 12))),
    ("a value out of range", msgspec.msgpack.encode(_message(value=[1e9] * 12))),
    ("a NaN", msgspec.msgpack.encode(_message(value=[float("nan")] * 12))),
    ("sums past the largest float", msgspec.msgpack.encode(_message(ts=[1.7e308] * 12))),
    ("a name too long for the wire", msgspec.msgpack.encode(_message(dev=[LONG] * 12))),
    ("another schema version", msgspec.msgpack.encode(_message(v=2))),
    ("a field msgspec ignores", msgspec.msgpack.encode(_message(extra=1))),
    (
        "no readings",
        msgspec.msgpack.encode(_message(dev=[], seq=[], ts=[], rx=[], metric=[], value=[])),
    ),
    ("columns of two lengths", msgspec.msgpack.encode(_message(seq=[1]))),
    ("the gateway of another topic", msgspec.msgpack.encode(_message(gw="mp-gw1"))),
    ("a clock running ahead", msgspec.msgpack.encode(_message(sent=SCENE.now + 120))),
    ("a stale message", msgspec.msgpack.encode(_message(sent=SCENE.now - 30 * 86400))),
    ("an integer send time", msgspec.msgpack.encode(_message(sent=int(SCENE.now)))),
    ("bytes after the map", msgspec.msgpack.encode(_message()) + b"\x00"),
    ("a float32", _packed(_message(), "value", b"\xca" + struct.pack(">f", 0.5))),
    ("a negative seq", _packed(_message(), "seq", b"\xd0\xff")),
    ("a seq past int64", _packed(_message(), "seq", b"\xcf" + (2**63).to_bytes(8, "big"))),
    ("a key twice", b"\x8b\xa1v\x01" + msgspec.msgpack.encode(_message())[1:]),
    ("JSON", msgspec.json.encode(_message())),
]


# Named by what, not by payload: one payload holds the time of collection, and pytest-xdist's
# workers must collect the same test names.
@pytest.mark.parametrize(("what", "payload"), NOT_PLAIN, ids=[what for what, _ in NOT_PLAIN])
def test_what_is_not_the_plain_case_is_left_to_the_msgspec_path(what: str, payload: bytes) -> None:
    assert check_plain(SCENE.topic, payload, REGISTRY, WINDOW, SCENE.now) is None, what


@examples(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bad_uplinks(SCENE))
def test_a_bad_message_is_never_taken_as_good(uplink: tuple[str, bytes]) -> None:
    topic, payload = uplink
    _assert_as_reference(topic, payload, REGISTRY, SCENE.now)  # if taken, as the reference


def test_the_name_table_finds_every_name_and_nothing_else() -> None:
    names = [f"n{i}" for i in range(500)] + ["", "é", "a" * 64]
    table = NameTable.of(names)
    assert len(table.table) >= 2 * len(names)

    def find(name: str) -> int:
        data = np.frombuffer(name.encode(), dtype=np.uint8)
        return int(_find(data, 0, len(data), table.data, table.starts, table.table))

    assert [find(name) for name in names] == list(range(len(names)))
    assert [find(other) for other in ("n500", "n", "n1 ", "a" * 63, "e")] == [-1] * 5
