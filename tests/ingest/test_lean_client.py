"""The consumer's lean PUBLISH path gives what paho's own path gives, for the same packets.

`LeanClient` overrides a method of paho's that is not public API: these tests feed packets
through both paths of the installed paho, so an upgrade that changes its internals fails here.
"""

from __future__ import annotations

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.consumer import LeanClient


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


class _Socket:
    """A non-blocking socket whose bytes arrive in the given pieces, one piece a wake-up."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces
        self.arrived = b""
        self.reads = 0

    def arrive(self) -> None:
        self.arrived += self.pieces.pop(0)

    def recv(self, bufsize: int) -> bytes:
        if not self.arrived:
            raise BlockingIOError
        self.reads += 1
        data, self.arrived = self.arrived[:bufsize], self.arrived[bufsize:]
        return data

    def pending(self) -> int:
        return 0

    def close(self) -> None:
        self.arrived = b""


def _stream(count: int) -> bytes:
    """`count` QoS 1 PUBLISH packets, fixed headers included, payloads of growing size."""
    out = b""
    for i in range(count):
        body = _publish(TOPIC, i + 1, PROPERTIES if i % 2 else b"", bytes([i % 256]) * (50 * i))
        out += b"\x32" + _varint(len(body)) + body
    return out


@pytest.mark.parametrize("piece", [1, 7, 1000, 1 << 20])
def test_packets_read_through_the_buffer_arrive_whole_and_in_order(piece: int) -> None:
    stream = _stream(40)
    sock = _Socket([stream[i : i + piece] for i in range(0, len(stream), piece)])
    client = _client()
    client._sock = sock  # type: ignore[assignment]
    got: list[tuple[int, bytes]] = []
    client.on_publish_lean = lambda topic, payload, mid, dup: got.append((mid, payload))
    while sock.pieces:
        sock.arrive()  # what select() reports as readable: one read of the loop each
        assert client.loop_read() == 0
    assert got == [(i + 1, bytes([i % 256]) * (50 * i)) for i in range(40)]
    if piece == 1 << 20:
        assert sock.reads < 40  # a read a chunk, not three or four a message


def test_the_buffer_of_a_lost_connection_is_not_read_on_the_next() -> None:
    stream = _stream(3)
    client = _client()
    got: list[int] = []
    client.on_publish_lean = lambda topic, payload, mid, dup: got.append(mid)
    first = _Socket([stream[:-5]])  # the third packet cut short by the lost connection
    client._sock = first  # type: ignore[assignment]
    first.arrive()
    client.loop_read()
    assert got == [1, 2]
    second = _Socket([_stream(1)])
    client._sock = second  # type: ignore[assignment]
    client._in_packet["command"] = 0  # what paho resets on a new connection
    client._in_packet["have_remaining"] = 0
    client._in_packet["remaining_count"] = []
    client._in_packet["remaining_mult"] = 1
    client._in_packet["remaining_length"] = 0
    client._in_packet["packet"] = bytearray(b"")
    client._in_packet["to_process"] = 0
    client._in_packet["pos"] = 0
    second.arrive()
    client.loop_read()
    assert got == [1, 2, 1]
