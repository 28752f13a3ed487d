"""The consumer's lean PUBLISH path gives what paho's own path gives, for the same packets.

`LeanClient` overrides a method of paho's that is not public API: these tests feed packets
through both paths of the installed paho, so an upgrade that changes its internals fails here.
"""

from __future__ import annotations

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.consumer import READ_BURST, LeanClient


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _publish(topic: bytes, mid: int, properties: bytes, payload: bytes) -> bytes:
    """A PUBLISH packet's variable header and payload (what follows the fixed header)."""
    return (
        len(topic).to_bytes(2, "big")
        + topic
        + mid.to_bytes(2, "big")
        + _varint(len(properties))
        + properties
        + payload
    )


def _client(*, manual_ack: bool = True) -> LeanClient:
    return LeanClient(
        CallbackAPIVersion.VERSION2, client_id="t", protocol=mqtt.MQTTv5, manual_ack=manual_ack
    )


def _feed(client: LeanClient, header: int, packet: bytes) -> None:
    client._in_packet["command"] = header
    client._in_packet["packet"] = bytearray(packet)
    client._handle_publish()


def _both(header: int, packet: bytes) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """What the lean path and paho's path each deliver for one packet."""
    lean: list[tuple[object, ...]] = []
    paho: list[tuple[object, ...]] = []
    client = _client()
    client.on_publish_lean = lambda *args: lean.append(args)
    client.on_message = lambda c, u, m: lean.append(("paho", m.topic, m.payload, m.mid, m.dup))
    _feed(client, header, packet)
    reference = _client()
    reference.on_message = lambda c, u, m: paho.append((m.topic, m.payload, m.mid, bool(m.dup)))
    _feed(reference, header, packet)
    return lean, paho


# A user property and a message expiry interval, as a broker may pass them on.
PROPERTIES = b"\x26\x00\x01k\x00\x01v" + b"\x02\x00\x00\x00\x3c"
TOPIC = b"vigil/v1/s1/gw-1/up/telemetry"


@pytest.mark.parametrize(
    ("properties", "payload", "dup"),
    [
        (b"", b"\x85\xa1v\x01", False),
        (PROPERTIES, b"x" * 200_000, True),  # a four-byte remaining length; a long payload
        (b"\x26" + b"\x00\x05" + b"k" * 5 + b"\x00\x80" + b"v" * 128, b"", False),  # 2-byte length
    ],
)
def test_a_qos1_publish_arrives_as_paho_would_deliver_it(
    properties: bytes, payload: bytes, dup: bool
) -> None:
    header = 0x32 | (0x08 if dup else 0)
    lean, paho = _both(header, _publish(TOPIC, 4321, properties, payload))
    assert paho == [(TOPIC.decode(), payload, 4321, dup)]
    assert lean == paho


def test_what_the_lean_path_cannot_read_goes_through_paho() -> None:
    """A topic that is not UTF-8 and QoS 0 reach `on_message` as paho made them."""
    got: list[object] = []
    client = _client()
    client.on_publish_lean = lambda *args: got.append("lean")
    client.on_message = lambda c, u, m: got.append((m._topic, m.payload, m.mid))
    _feed(client, 0x32, _publish(b"vigil/\xff", 7, b"", b"p"))
    assert got == [(b"vigil/\xff", b"p", 7)]
    qos0 = len(TOPIC).to_bytes(2, "big") + TOPIC + b"\x00" + b"p"
    lean, paho = _both(0x30, qos0)
    assert lean == [("paho", TOPIC.decode(), b"p", 0, False)]
    assert paho == [(TOPIC.decode(), b"p", 0, False)]


def test_a_client_that_acknowledges_by_itself_keeps_paho_s_path() -> None:
    got: list[object] = []
    client = _client(manual_ack=False)
    client.on_publish_lean = lambda *args: got.append("lean")
    client.on_message = lambda c, u, m: got.append("paho")
    _feed(client, 0x32, _publish(TOPIC, 9, b"", b"p"))
    assert got == ["paho"]


def test_acknowledgements_in_one_write_are_paho_s_pubacks_in_order() -> None:
    mids = [1, 300, 65535, 7]
    batched, single = _client(), _client()
    batched.ack_many(mids)
    for mid in mids:
        single.ack(mid, 1)
    assert [p["packet"] for p in batched._out_packet] == [
        b"".join(p["packet"] for p in single._out_packet)
    ]
    batched.ack_many([])
    assert len(batched._out_packet) == 1


class _Socket:
    """A non-blocking socket holding `data`: recv gives what is left, then would block."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.reads = 0

    def recv(self, bufsize: int) -> bytes:
        if not self.data:
            raise BlockingIOError
        self.reads += 1
        out, self.data = self.data[:bufsize], self.data[bufsize:]
        return out

    def close(self) -> None:
        self.data = b""


def _stream(mids: range, tail: bytes = b"") -> bytes:
    """QoS 1 PUBLISH packets, fixed headers included, then `tail` (a packet cut short)."""
    out = b""
    for mid in mids:
        body = _publish(TOPIC, mid, PROPERTIES if mid % 2 else b"", bytes([mid]) * (60 * mid))
        out += b"\x32" + _varint(len(body)) + body
    return out + tail


def test_one_read_takes_every_whole_packet_the_socket_holds() -> None:
    """Up to `READ_BURST` of them; a packet cut short waits for the rest of its bytes."""
    client = _client()
    got: list[int] = []
    client.on_publish_lean = lambda topic, payload, mid, dup: got.append(mid)
    cut = _stream(range(99, 100))
    client._sock = _Socket(_stream(range(1, 4), cut[:40]))  # type: ignore[assignment]
    assert client.loop_read() == 0
    assert got == [1, 2, 3]
    client._sock = _Socket(cut[40:] + _stream(range(1, READ_BURST + 5)))  # type: ignore[assignment]
    assert client.loop_read() == 0
    assert got == [1, 2, 3, 99, *range(1, READ_BURST)]
    assert client.loop_read() == 0
    assert got[-5:] == list(range(READ_BURST, READ_BURST + 5))
