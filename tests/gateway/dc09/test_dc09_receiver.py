"""The receiver over real TCP and UDP sockets, with an in-process sink whose acceptance the test
controls: ACK only after acceptance, repeats not raised twice, refusals answered, supervision."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.bridge import Reading
from gateway.dc09 import frame as f
from gateway.dc09.accounts import Account, AccountBook
from gateway.dc09.receiver import Receiver, ReceiverConfig
from tests.gateway.dc09.frames import siadc09_frame
from vigil.codec import Event

KEY = bytes(range(32))
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Sink:
    """Accepts at once, or holds acceptance until `release()` (`hold=True`)."""

    def __init__(self, hold: bool = False) -> None:
        self.hold = hold
        self.emitted: list[list[Event]] = []
        self.held: list[concurrent.futures.Future[None]] = []
        self.readings: list[Reading] = []
        self.rejected = 0

    def emit(self, events: list[Event]) -> concurrent.futures.Future[None]:
        self.emitted.append(events)
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        if self.hold:
            self.held.append(future)
        else:
            future.set_result(None)
        return future

    def read(self, readings: list[Reading]) -> None:
        self.readings.extend(readings)

    def count_rejected(self, n: int = 1) -> None:
        self.rejected += n

    def release(self) -> None:
        for future in self.held:
            future.set_result(None)
        self.held.clear()

    def events(self, kind: str | None = None) -> list[Event]:
        return [e for batch in self.emitted for e in batch if kind is None or e.kind == kind]


def accounts() -> AccountBook:
    return AccountBook(
        {
            "1234": Account("1234", "dc09-1234", zones={"15": "厨房 kitchen"}),
            "5678": Account("5678", "dc09-5678", key=KEY),
            "0777": Account("0777", "dc09-0777", poll_s=1.0),
        }
    )


@pytest.fixture
async def receiver(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    made: list[Receiver] = []

    async def make(sink: Sink, **kw: Any) -> Receiver:
        config = ReceiverConfig(state_path=tmp_path / "seen.sqlite", tick_s=0.05, **kw)
        r = Receiver(config, accounts(), sink)
        await r.start("127.0.0.1", 0, 0)
        made.append(r)
        return r

    yield make
    for r in made:
        await r.close()


def tcp_send(port: int, raw: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"\n" + raw + b"\r")
        return _read_frame(s)


def _read_frame(s: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r"):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def udp_send(port: int, raw: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(b"\n" + raw + b"\r", ("127.0.0.1", port))
        return s.recv(4096)


def answer_of(reply: bytes) -> str:
    return reply[9:].split(b'"')[1].decode().lstrip("*")


async def call(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


async def test_fire_then_restore_over_tcp_and_udp(receiver: Callable[..., Any]) -> None:
    sink = Sink()
    r = await receiver(sink)
    tcp, udp = r.ports()
    fire = siadc09_frame("ADM-CID", b"1110 01 015", seq=1)
    restore = siadc09_frame("ADM-CID", b"3110 01 015", seq=2)
    assert answer_of(await call(tcp_send, tcp, fire)) == "ACK"
    assert answer_of(await call(udp_send, udp, restore)) == "ACK"
    alarms = sink.events("smoke_alarm")
    assert [e.value for e in alarms] == [1.0, 0.0]
    assert alarms[0].dev == "dc09-1234"
    assert alarms[0].detail["room"] == "厨房 kitchen"
    assert alarms[0].detail["zone"] == "015"
    assert alarms[0].detail["code"] == "110"
    assert alarms[0].detail["source"] == "dc09"
    assert alarms[0].detail["account"] == "1234"
    assert alarms[0].seq != alarms[1].seq


async def test_ack_waits_for_durable_acceptance(receiver: Callable[..., Any]) -> None:
    sink = Sink(hold=True)
    r = await receiver(sink)
    tcp, _ = r.ports()
    raw = siadc09_frame("SIA-DCS", b"Nri1/PA001", key=KEY, account="5678", seq=3)
    pending = asyncio.ensure_future(call(tcp_send, tcp, raw))
    await asyncio.sleep(0.3)
    assert not pending.done(), "ACK sent before the sink accepted the event"
    assert len(sink.events("button")) == 1
    sink.release()
    reply = await pending
    assert answer_of(reply) == "ACK"
    assert reply[9:11] == b'"*'  # encrypted message, encrypted ACK


async def test_repeat_is_acked_and_not_raised_twice(receiver: Callable[..., Any]) -> None:
    sink = Sink()
    r = await receiver(sink)
    tcp, udp = r.ports()
    first = siadc09_frame("SIA-DCS", b"Nri1/FA001", key=KEY, account="5678", seq=7)
    time.sleep(1.1)  # the repeat carries a new timestamp (and new pad)
    again = siadc09_frame("SIA-DCS", b"Nri1/FA001", key=KEY, account="5678", seq=7)
    assert first != again
    assert answer_of(await call(tcp_send, tcp, first)) == "ACK"
    assert answer_of(await call(udp_send, udp, again)) == "ACK"
    assert len(sink.events("smoke_alarm")) == 1
    assert r.counts["repeats"] == 1


async def test_sender_dropping_before_the_ack_then_repeating(
    receiver: Callable[..., Any],
) -> None:
    sink = Sink(hold=True)
    r = await receiver(sink)
    tcp, _ = r.ports()
    raw = siadc09_frame("ADM-CID", b"1120 01 001", seq=11)

    def send_and_drop() -> None:
        with socket.create_connection(("127.0.0.1", tcp)) as s:
            s.sendall(b"\n" + raw + b"\r")

    await call(send_and_drop)
    await asyncio.sleep(0.2)
    repeat = asyncio.ensure_future(call(tcp_send, tcp, raw))
    await asyncio.sleep(0.2)
    sink.release()
    assert answer_of(await repeat) == "ACK"
    assert len(sink.events("button")) == 1
    assert sink.events("button")[0].detail["reason"] == "panic"


async def test_no_ack_when_not_accepted_in_time(receiver: Callable[..., Any]) -> None:
    sink = Sink(hold=True)
    r = await receiver(sink, accept_timeout_s=0.3)
    tcp, _ = r.ports()
    raw = siadc09_frame("ADM-CID", b"1100 01 001", seq=12)

    def send_expecting_silence() -> bytes:
        with socket.create_connection(("127.0.0.1", tcp), timeout=1.0) as s:
            s.sendall(b"\n" + raw + b"\r")
            try:
                return s.recv(100)
            except TimeoutError:
                return b""

    assert await call(send_expecting_silence) == b""
    sink.release()  # the broker acknowledges after all; the panel repeats
    await asyncio.sleep(0.05)
    assert answer_of(await call(tcp_send, tcp, raw)) == "ACK"
    assert len(sink.emitted) == 1


async def test_failed_acceptance_is_sent_again_identically(receiver: Callable[..., Any]) -> None:
    sink = Sink(hold=True)
    r = await receiver(sink, accept_timeout_s=2.0)
    tcp, _ = r.ports()
    raw = siadc09_frame("ADM-CID", b"1100 01 001", seq=13)
    pending = asyncio.ensure_future(call(tcp_send, tcp, raw, 1.0))
    await asyncio.sleep(0.3)
    sink.held.pop().set_exception(RuntimeError("broker refused"))
    with pytest.raises(TimeoutError):
        await pending  # no answer at all: the panel repeats
    sink.hold = False
    assert answer_of(await call(tcp_send, tcp, raw)) == "ACK"
    first, second = sink.emitted
    # The same events again: ingest recognises them if the first copy did arrive.
    assert [(e.seq, e.ts, e.kind) for e in first] == [(e.seq, e.ts, e.kind) for e in second]


async def test_refusals_keep_the_receiver_up(receiver: Callable[..., Any]) -> None:
    sink = Sink()
    r = await receiver(sink)
    tcp, udp = r.ports()
    good = siadc09_frame("SIA-DCS", b"Nri1/TA003", seq=20)
    cases = [
        (b"0000" + good[4:], "NAK"),
        (siadc09_frame("SIA-DCS", b"Nri1/FA001", account="4321"), "DUH"),
        (siadc09_frame("SIA-DCS", b"Nri1/FA001", key=bytes(16), account="5678"), "DUH"),
        (b"\x00\xff garbage \x01", "NAK"),
    ]
    for raw, want in cases:
        assert answer_of(await call(tcp_send, tcp, raw)) == want
        assert answer_of(await call(udp_send, udp, raw)) == want
    with socket.create_connection(("127.0.0.1", tcp), timeout=5) as s:  # no CR for 4 kB
        s.sendall(b"x" * 5000)
        assert answer_of(await call(_read_frame, s)) == "DUH"
    assert answer_of(await call(tcp_send, tcp, good)) == "ACK"
    assert [e.kind for e in sink.events()] == ["tamper"]
    assert sink.rejected == 2 * len(cases) + 1  # shown in the gateway's status


async def test_stale_timestamp_gets_nak_with_the_receiver_time(
    receiver: Callable[..., Any],
) -> None:
    from datetime import UTC, datetime

    r = await receiver(Sink())
    tcp, _ = r.ports()
    old = datetime.fromtimestamp(time.time() - 120, UTC)
    reply = await call(tcp_send, tcp, siadc09_frame("SIA-DCS", b"Nri1/FA001", when=old))
    assert answer_of(reply) == "NAK"
    stamp = f.parse_time(reply.decode().rsplit("_", 1)[1].rstrip("\r"))
    assert abs(stamp - time.time()) < 3


async def test_unknown_code_is_kept_as_panel_event(receiver: Callable[..., Any]) -> None:
    sink = Sink()
    r = await receiver(sink)
    tcp, _ = r.ports()
    assert answer_of(await call(tcp_send, tcp, siadc09_frame("SIA-DCS", b"Nri1/ZZ009"))) == "ACK"
    cid = siadc09_frame("ADM-CID", b"1999 01 009", seq=2)
    assert answer_of(await call(tcp_send, tcp, cid)) == "ACK"
    kept = sink.events("panel_event")
    assert [(e.detail["code"], e.detail["known"]) for e in kept] == [("ZZ", False), ("999", False)]


async def test_null_polls_then_silence_raise_link_down_once(receiver: Callable[..., Any]) -> None:
    sink = Sink()
    r = await receiver(sink)
    tcp, udp = r.ports()
    for seq in range(3):
        null = siadc09_frame("NULL", b"", account="777", seq=seq)  # siadc09 drops the 0
        raw = f.frame_of(null[8:].replace(b"#777", b"#0777"))[1:-1]
        assert answer_of(await call(udp_send if seq % 2 else tcp_send,
                                    udp if seq % 2 else tcp, raw)) == "ACK"  # fmt: skip
        await asyncio.sleep(0.3)
    assert sink.events("availability") == []
    # Signs of life for the core's supervision, at most every half interval (not every poll).
    assert {(x.dev, x.metric, x.value) for x in sink.readings} == {
        ("dc09-0777", "availability", 1.0)
    }
    assert 1 <= len(sink.readings) < 3
    await asyncio.sleep(1.0 + 2.0 + 0.5)  # interval + grace
    down = sink.events("availability")
    assert [e.value for e in down] == [0.0]
    assert down[0].dev == "dc09-0777"
    await asyncio.sleep(0.5)
    assert len(sink.events("availability")) == 1  # raised once, not every tick
    assert answer_of(await call(tcp_send, tcp, raw)) == "ACK"
    assert [e.value for e in sink.events("availability")] == [0.0, 1.0]


async def test_many_connections_at_once(receiver: Callable[..., Any]) -> None:
    sink = Sink()
    r = await receiver(sink)
    tcp, _ = r.ports()
    frames = [siadc09_frame("ADM-CID", b"1602 00 000", seq=i) for i in range(1, 41)]
    replies: list[bytes] = []
    lock = threading.Lock()

    def one(raw: bytes) -> None:
        reply = tcp_send(tcp, raw)
        with lock:
            replies.append(reply)

    await asyncio.gather(*(call(one, raw) for raw in frames))
    assert sorted(answer_of(x) for x in replies) == ["ACK"] * 40
    assert len(sink.events("self_test")) == 40


def test_account_registered_without_its_leading_zeros() -> None:
    book = AccountBook({"777": Account("777", "dc09-777"), "12": Account("012", "dc09-012")})
    assert book.lookup("0777") == (True, None)
    assert book.get("0777") is not None
    ambiguous = AccountBook({"0777": Account("0777", "a"), "00777": Account("00777", "b")})
    assert ambiguous.get("777") is None  # two accounts would fit: neither is guessed
    assert ambiguous.get("0777") is not None  # as sent, it is exact


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.binary(max_size=200)
    | st.text(alphabet='0123456789ABCDEF"#[]|/^_:,-NRLriFA*', max_size=80).map(
        lambda body: f.frame_of(b'"ADM-CID"0001L0#1234[' + body.encode())[1:-1]
    )
)
def test_any_frame_gets_an_answer_and_never_raises(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    state = tmp_path_factory.mktemp("fuzz") / "seen.sqlite"
    r = Receiver(ReceiverConfig(state_path=state), accounts(), Sink())
    try:
        reply = asyncio.run(r.answer(raw))
    finally:
        r.seen.close()
    assert reply is not None
    assert answer_of(reply) in ("ACK", "NAK", "DUH")


@pytest.mark.parametrize("transport", ["TCP", "UDP"])
async def test_my_dc09_spt_dialler(receiver: Callable[..., Any], transport: str) -> None:
    from my_dc09_spt import dc09_spt

    sink = Sink()
    r = await receiver(sink)
    tcp, udp = r.ports()
    panel = dc09_spt.dc09_spt("5678", receiver=0x12, line=3)
    panel.set_path("main", "primary", "127.0.0.1", tcp if transport == "TCP" else udp,
                   account="5678", key=KEY, type=transport)  # fmt: skip
    # send_msg waits for its sending thread: off the event loop the receiver runs on.
    await call(panel.send_msg, "ADM-CID", {"code": 111, "q": 1, "zone": 4, "area": 1})
    await call(panel.send_msg, "ADM-CID", {"code": 111, "q": 3, "zone": 4, "area": 1})
    await call(panel.send_msg, "SIA-DCS", {"code": "MA", "zone": 2})
    deadline = time.monotonic() + 20
    while panel.notSent() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert panel.notSent() == 0
    assert [(e.kind, e.value) for e in sink.events()] == [
        ("smoke_alarm", 1.0), ("smoke_alarm", 0.0), ("button", 1.0)]  # fmt: skip
    assert sink.events("button")[0].detail["reason"] == "medical"
