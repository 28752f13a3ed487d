"""The DC-09 frame codec against frames made by others: pysiaalarm's recorded real-world frames,
siadc09's encoder and my-dc09-spt's dialler, and against random damage."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.dc09 import frame as f
from tests.gateway.dc09.frames import (
    PYSIAALARM_KEY,
    recorded,
    recorded_time,
    reframed,
    siadc09_frame,
)

KEY128 = bytes(range(16))
KEY192 = bytes(range(24))
KEY256 = bytes(range(32))
ACCOUNTS = {"1234": None, "AAA": None, "AAAB": PYSIAALARM_KEY, "123456": None, "12345A": None,
            "4F39": None, "006969": None, "1111": None, "3080": None}  # fmt: skip


def lookup(accounts: dict[str, bytes | None]) -> f.KeyLookup:
    return lambda a: (a in accounts, accounts.get(a))


def test_crc_is_crc16_arc() -> None:
    assert f.crc16(b"123456789") == 0xBB3D  # the catalogue's check value of CRC-16/ARC


# ---- pysiaalarm's recorded frames ---------------------------------------------------------
RECORDED_EVENTS = {
    # name: (account, code, zone, area)
    "issue11_closing": ("123456", "CL", "0", "1"),
    "issue42_heat_restoral": ("123456", "KR", "1", "0"),
    "adm_fire_receiver_line": ("12345A", "110", "129", "00"),
    "adm_closing": ("4F39", "401", "057", "01"),
    "sia_jc": ("AAA", "JC", "12", "2"),
    "sia_cl_mac": ("AAA", "CL", "501", "1"),
    "sia_cl": ("AAA", "CL", "501", "1"),
    "sia_op_no_header_account": ("006969", "OP", "001", "04"),
    "sia_panic_xy": ("1111", "PA", "501", "1"),
    "sia_rp_ti_id": ("3080", "RP", None, "4"),
}


@pytest.mark.parametrize("name", sorted(RECORDED_EVENTS))
def test_recorded_frame_bodies_read_as_their_panels_meant(name: str) -> None:
    raw = reframed(recorded()[name])
    now = recorded_time(raw) or time.time()
    message = f.decode(raw, lookup(ACCOUNTS), now)
    account, code, zone, area = RECORDED_EVENTS[name]
    assert message.account == account
    (event,) = message.events
    assert (event.code, event.zone, event.area) == (code, zone, area)


def test_recorded_extended_data_and_text() -> None:
    frames = recorded()
    xy = f.decode(reframed(frames["sia_panic_xy"]), lookup(ACCOUNTS),
                  recorded_time(frames["sia_panic_xy"]) or 0)  # fmt: skip
    assert xy.xdata == {"X": "006E07.7777777", "Y": "49N06.6666666"}
    mac = f.decode(reframed(frames["sia_cl_mac"]), lookup(ACCOUNTS),
                   recorded_time(frames["sia_cl_mac"]) or 0)  # fmt: skip
    assert mac.xdata == {"M": "0026B9E4268B"}
    text = f.decode(reframed(frames["issue11_closing"]), lookup(ACCOUNTS),
                    recorded_time(frames["issue11_closing"]) or 0)  # fmt: skip
    assert text.events[0].text == "VX FRONTE"
    receiver = f.decode(reframed(frames["adm_fire_receiver_line"]), lookup(ACCOUNTS),
                        recorded_time(frames["adm_fire_receiver_line"]) or 0)  # fmt: skip
    assert (receiver.header.receiver, receiver.header.line) == ("579BDF", "789ABC")


@pytest.mark.parametrize("name", sorted(RECORDED_EVENTS))
def test_recorded_frames_as_sent_are_refused_where_crc_or_length_is_wrong(name: str) -> None:
    raw = recorded()[name]
    with pytest.raises(f.FrameError) as caught:
        f.decode(raw, lookup(ACCOUNTS), recorded_time(raw) or time.time())
    assert caught.value.answer is f.Answer.NAK
    assert "CRC" in caught.value.reason or "length" in caught.value.reason


def test_recorded_encrypted_null_with_the_key() -> None:
    raw = recorded()["encrypted_null"]
    when = f.parse_time("18:24:52,07-05-2020")
    message = f.decode(raw, lookup(ACCOUNTS), when + 5)
    assert message.is_null
    assert message.header.encrypted
    assert message.timestamp == when
    assert message.header.receiver == "0"
    # The receiver's ACK, decrypted with the same key, carries its time.
    ack = f.ack(message.header, message.account, when + 5, PYSIAALARM_KEY)
    assert ack.startswith(b"\n")
    assert b'"*ACK"0000R0L0#AAAB[' in ack
    hexed = ack[ack.index(b"[") + 1 : -1]
    clear = f.decrypt(PYSIAALARM_KEY, bytes.fromhex(hexed.decode()))
    assert clear.endswith(b"]_" + f.format_time(when + 5).encode())


@pytest.mark.parametrize(
    "name", ["encrypted_sia_unknown_key", "encrypted_adm_unknown_key", "encrypted_sia_unknown_key2"]
)
def test_recorded_encrypted_frames_with_a_key_we_do_not_have(name: str) -> None:
    raw = reframed(recorded()[name])
    account = f.header_of(raw).account  # type: ignore[union-attr]
    assert account is not None
    with pytest.raises(f.FrameError) as caught:
        f.decode(raw, lookup({account: PYSIAALARM_KEY}), time.time())
    assert caught.value.answer is f.Answer.DUH
    assert "wrong key" in caught.value.reason


def test_stale_recorded_frame_gets_nak_with_receiver_time() -> None:
    raw = reframed(recorded()["sia_cl"])
    now = time.time()
    with pytest.raises(f.FrameError) as caught:
        f.decode(raw, lookup(ACCOUNTS), now)
    assert caught.value.answer is f.Answer.NAK
    nak = f.nak(now)
    assert nak[9:] == b'"NAK"0000R0L0A0[]_' + f.format_time(now).encode() + b"\r"
    assert int(nak[1:5], 16) == f.crc16(nak[9:-1])
    assert int(nak[5:9], 16) == len(nak) - 10


# ---- siadc09 as the sender ----------------------------------------------------------------
@pytest.mark.parametrize("key", [None, KEY128, KEY192, KEY256], ids=["plain", "aes128", "aes192",
                                                                     "aes256"])  # fmt: skip
@pytest.mark.parametrize(
    ("token", "data", "code", "zone"),
    [
        ("ADM-CID", b"1110 01 015", "110", "015"),
        ("ADM-CID", b"3110 01 015", "110", "015"),
        ("ADM-CID", b"1100 00 003", "100", "003"),
        ("SIA-DCS", b"Nri1/FA001", "FA", "001"),
        ("SIA-DCS", b"Nri1/PA002", "PA", "002"),
    ],
)
def test_siadc09_frames(key: bytes | None, token: str, data: bytes, code: str, zone: str) -> None:
    raw = siadc09_frame(token, data, key=key, seq=42, receiver=0x12, line=3)
    message = f.decode(raw, lookup({"1234": key}), time.time())
    assert message.header.encrypted == (key is not None)
    assert (message.header.seq, message.header.receiver, message.header.line) == ("0042", "12", "3")
    (event,) = message.events
    assert (event.code, event.zone) == (code, zone)


def test_siadc09_null_and_extended_data() -> None:
    null = f.decode(siadc09_frame("NULL", b"", key=KEY256), lookup({"1234": KEY256}), time.time())
    assert null.is_null
    raw = siadc09_frame("SIA-DCS", b"Nri1/MA001", xdata=(b"X093W23.456", b"Y45N23.456",
                                                          b"Vhttp://cam/1"))  # fmt: skip
    message = f.decode(raw, lookup({"1234": None}), time.time())
    assert message.xdata == {"X": "093W23.456", "Y": "45N23.456", "V": "http://cam/1"}


def test_ack_echoes_the_header_as_sent() -> None:
    raw = siadc09_frame("ADM-CID", b"1110 01 015", seq=9, line=1)
    message = f.decode(raw, lookup({"1234": None}), time.time())
    ack = f.ack(message.header, message.account, time.time(), None)
    assert ack[9:] == b'"ACK"0009L1#1234[]\r'  # no receiver sent: none in the ACK (not "None")
    assert int(ack[1:5], 16) == f.crc16(ack[9:-1])
    assert int(ack[5:9], 16) == len(ack) - 10


@pytest.mark.parametrize(
    ("skew", "answer"), [(-41, f.Answer.NAK), (-35, None), (15, None), (21, f.Answer.NAK)]
)
def test_timestamp_window(skew: float, answer: f.Answer | None) -> None:
    from datetime import UTC, datetime

    now = time.time()
    when = datetime.fromtimestamp(now + skew, UTC)
    raw = siadc09_frame("SIA-DCS", b"Nri1/FA001", key=KEY128, when=when)
    if answer is None:
        assert f.decode(raw, lookup({"1234": KEY128}), now).events
        return
    with pytest.raises(f.FrameError) as caught:
        f.decode(raw, lookup({"1234": KEY128}), now)
    assert caught.value.answer is answer


def test_refusals() -> None:
    now = time.time()
    good = siadc09_frame("SIA-DCS", b"Nri1/FA001")
    cases = {
        "bad crc": (b"0000" + good[4:], f.Answer.NAK),
        "bad length": (good[:4] + b"%04X" % (len(good) - 7) + good[8:], f.Answer.NAK),
        "unknown account": (siadc09_frame("SIA-DCS", b"Nri1/FA001", account="9999"),
                            f.Answer.DUH),
        "wrong key": (siadc09_frame("SIA-DCS", b"Nri1/FA001", key=KEY128), f.Answer.DUH),
        "clear text for a keyed account": (good, f.Answer.DUH),
        "unknown token": (f.frame_of(b'"XYZ-ABC"0001L0#1234[]')[1:-1], f.Answer.DUH),
        "garbage": (b"hello world", f.Answer.NAK),
    }  # fmt: skip
    keys: dict[str, bytes | None] = {"1234": None}
    for name, (raw, answer) in cases.items():
        accounts = dict(keys)
        if name == "wrong key":
            accounts["1234"] = KEY256
        if name == "clear text for a keyed account":
            accounts["1234"] = KEY128
        with pytest.raises(f.FrameError) as caught:
            f.decode(raw, lookup(accounts), now)
        assert caught.value.answer is answer, name


def test_keys_are_configured_explicitly() -> None:
    assert f.parse_key("AAAAAAAAAAAAAAAA", "raw") == b"A" * 16
    assert f.parse_key("41" * 16, "hex") == b"A" * 16
    assert len(f.parse_key("00" * 24, "hex")) == 24
    with pytest.raises(ValueError, match="16, 24 or 32"):
        f.parse_key("AAAAAAAAAAAAAAAA", "hex")  # 8 bytes as hex
    with pytest.raises(ValueError, match="not hex"):
        f.parse_key("zz" * 16, "hex")


# ---- my-dc09-spt as the sender ------------------------------------------------------------
@pytest.mark.parametrize("key", [None, KEY128, KEY256], ids=["plain", "aes128", "aes256"])
def test_my_dc09_spt_blocks(key: bytes | None) -> None:
    from my_dc09_spt.msg.dc05_msg import dc05_msg
    from my_dc09_spt.msg.dc09_msg import dc09_msg

    sender = dc09_msg("5678", key, receiver=1, line=2)
    cid = dc05_msg.dc05event("5678", {"code": 111, "zone": 7, "area": 1})
    block = sender.dc09block(17, "ADM-CID", cid)
    message = f.decode(block.encode()[1:-1], lookup({"5678": key}), time.time())
    (event,) = message.events
    assert (event.code, event.qualifier, event.zone) == ("111", "1", "007")
    poll = f.decode(sender.dc09poll().encode()[1:-1], lookup({"5678": key}), time.time())
    assert poll.is_null
    # The dialler accepts the receiver's ACK.
    ack = f.ack(message.header, message.account, time.time(), key).decode()
    assert sender.dc09answer(17, ack)[0] == "ACK"


# ---- nothing crashes ----------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_only_ever_refused(raw: bytes) -> None:
    try:
        f.decode(raw, lookup({"1234": KEY128}), time.time())
        answer = None
    except f.FrameError as exc:
        answer = exc.answer
    assert answer in (f.Answer.NAK, f.Answer.DUH, None)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='0123456789ABCDEF"#[]|/^_:,-NRLX riFAC*', max_size=80))
def test_random_bodies_with_right_crc_only_ever_refused_or_read(body: str) -> None:
    raw = f.frame_of(b'"SIA-DCS"0001L0#1234[' + body.encode())[1:-1]
    try:
        f.decode(raw, lookup({"1234": None}), time.time())
        answer = None
    except f.FrameError as exc:
        answer = exc.answer
    assert answer in (f.Answer.NAK, f.Answer.DUH, None)


@pytest.mark.parametrize("key", [None, KEY256], ids=["plain", "aes256"])
def test_siadc09_reads_the_receivers_answers(key: bytes | None) -> None:
    from siadc09.message import AckMessage, DuhMessage, parse_frame

    raw = siadc09_frame("SIA-DCS", b"Nri1/FA001", key=key, seq=42, receiver=0x12, line=3)
    message = f.decode(raw, lookup({"1234": key}), time.time())
    ack = parse_frame(f.ack(message.header, message.account, time.time(), key), {None: KEY256})
    assert isinstance(ack, AckMessage)
    assert (ack.seq, ack.account.acct, ack.account.rcvr, ack.account.pref) == (42, 0x1234, 0x12, 3)
    if key is not None:
        assert abs(ack.timestamp.timestamp() - time.time()) < 5  # the receiver's time inside
    duh = parse_frame(f.duh(message.header))
    assert isinstance(duh, DuhMessage)
    assert duh.seq == 42
