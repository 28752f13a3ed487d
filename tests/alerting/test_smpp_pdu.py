"""The SMPP 3.4 codec against PDUs captured from real SMSCs and ESMEs.

The hex vectors are those published in cloudhopper-smpp's decoder tests (Apache-2.0) and the
python `smpp.pdu` examples; each was checked by hand against the field layout of SMPP 3.4
§4 (bind §4.1, submit_sm §4.4, deliver_sm §4.6, enquire_link §4.11, receipts Appendix B).
Every vector must decode to the expected fields and encode back to the same bytes.
"""

from __future__ import annotations

import pytest
import smpplib.client
import smpplib.smpp

from alerting.errors import SmppError
from tests.alerting import smsc_codec as pdu
from tests.alerting.smsc_codec import (
    Bind,
    BindResp,
    Command,
    MessageIdResp,
    Pdu,
    ShortMessage,
    Status,
    Tag,
    decode,
    encode,
    frame_length,
    response_to,
)

VECTORS: list[tuple[str, Pdu]] = [
    ("0000001000000015000000000a342ee7", Pdu(Command.ENQUIRE_LINK, 171192039)),
    ("0000001080000015000000000a342eed", Pdu(Command.ENQUIRE_LINK_RESP, 171192045)),
    (
        "0000001c80000004000000000a342ee1393432353834333135393400",
        Pdu(Command.SUBMIT_SM_RESP, 171192033, body=MessageIdResp("94258431594")),
    ),
    (
        "0000001080000004000000000a342ee1",
        Pdu(Command.SUBMIT_SM_RESP, 171192033, body=MessageIdResp(None)),
    ),
    (
        "0000001c800000050000000000116ac7393432353834333135393400",
        Pdu(Command.DELIVER_SM_RESP, 1141447, body=MessageIdResp("94258431594")),
    ),
    (
        "00000023000000090000000000039951414c4c5f545700414c4c5f5457000034010200",
        Pdu(
            Command.BIND_TRANSCEIVER,
            235857,
            body=Bind("ALL_TW", "ALL_TW", "", 0x34, addr_ton=1, addr_npi=2),
        ),
    ),
    (
        "0000001f800000090000000000039951536d73632053696d756c61746f7200",
        Pdu(Command.BIND_TRANSCEIVER_RESP, 235857, body=BindResp("Smsc Simulator")),
    ),
    (
        "0000001d800000090000000000039943536d7363204757000210000134",
        Pdu(
            Command.BIND_TRANSCEIVER_RESP,
            235843,
            body=BindResp("Smsc GW", ((Tag.SC_INTERFACE_VERSION, b"\x34"),)),
        ),
    ),
    (
        "00000015800000090000000e00004db3534d534300",
        Pdu(Command.BIND_TRANSCEIVER_RESP, 19891, Status.RINVPASWD, BindResp("SMSC")),
    ),
    (
        "0000002500000002000000000003995f747769747465720074776974746572000034000000",
        Pdu(Command.BIND_TRANSMITTER, 235871, body=Bind("twitter", "twitter")),
    ),
    (
        "000000400000000500000000000000030002013837363534333231000409343034303400000000000000"
        "000000084024232125262F3A000E0001010006000101",
        Pdu(
            Command.DELIVER_SM,
            3,
            body=ShortMessage(
                source_addr="87654321",
                source_addr_ton=2,
                source_addr_npi=1,
                destination_addr="40404",
                dest_addr_ton=4,
                dest_addr_npi=9,
                short_message=bytes.fromhex("4024232125262f3a"),
                tlvs=((0x000E, b"\x01"), (0x0006, b"\x01")),
            ),
        ),
    ),
    (
        "0000004d00000005000000009f88f124415753424400010131363530353535313233340001013137373335"
        "3535343037300000000000000000030011746865726520697320"
        "6e6f2073706f6f6e",
        Pdu(
            Command.DELIVER_SM,
            0x9F88F124,
            body=ShortMessage(
                service_type="AWSBD",
                source_addr="16505551234",
                source_addr_ton=1,
                source_addr_npi=1,
                destination_addr="17735554070",
                dest_addr_ton=1,
                dest_addr_npi=1,
                data_coding=3,
                short_message=b"there is no spoon",
            ),
        ),
    ),
]


@pytest.mark.parametrize(("hexstr", "expected"), VECTORS)
def test_vectors_decode_and_encode_back(hexstr: str, expected: Pdu) -> None:
    data = bytes.fromhex(hexstr)
    assert decode(data) == expected
    assert encode(expected) == data


RECEIPT = (
    "000000BA00000005000000000000000200010134343935313336313932300001013430343034000400000000"
    "000000006E69643A30303539313133393738207375623A30303120646C7672643A303031207375626D697420"
    "646174653A3130303231303137333020646F6E6520646174653A3130303231303137333120737461743A4445"
    "4C49565244206572723A30303020746578743A4024232125262F3A000E0001010006000101001E0008333836"
    "30316661000427000102"
)


def test_a_captured_delivery_receipt() -> None:
    frame = decode(bytes.fromhex(RECEIPT))
    body = frame.body
    assert isinstance(body, ShortMessage)
    assert body.esm_class == pdu.ESM_DELIVERY_RECEIPT
    assert body.short_message.startswith(b"id:0059113978 sub:001 dlvrd:001")
    assert body.tlv(Tag.RECEIPTED_MESSAGE_ID) == b"38601fa\x00"
    assert body.tlv(Tag.MESSAGE_STATE) == b"\x02"
    assert encode(frame) == bytes.fromhex(RECEIPT)


def test_submit_sm_layout_field_by_field() -> None:
    sm = ShortMessage(
        source_addr="10690000",
        destination_addr="8613800000001",
        dest_addr_ton=1,
        dest_addr_npi=1,
        registered_delivery=1,
        data_coding=pdu.DC_UCS2,
        short_message="收到".encode("utf-16-be"),
        tlvs=((Tag.USER_MESSAGE_REFERENCE, b"\x00\x07"),),
    )
    data = encode(Pdu(Command.SUBMIT_SM, 2, body=sm))
    expected = (
        "00000040"
        "00000004"
        "00000000"
        "00000002"  # header: length 64, submit_sm, ok, seq 2
        "00"
        "00"
        "00"
        "3130363930303030"
        "00"  # service_type, src ton/npi, source_addr
        "01"
        "01"
        "38363133383030303030303031"
        "00"  # dest ton/npi, destination_addr
        "00"
        "00"
        "00"
        "00"
        "00"  # esm, pid, priority, schedule, validity
        "01"
        "00"
        "08"
        "00"
        "04"
        "65365230"  # reg. delivery, replace, UCS-2, id, len
        "0204"
        "0002"
        "0007"  # user_message_reference TLV
    )
    assert data.hex() == expected
    assert decode(data).body == sm


def test_response_to_keeps_the_sequence() -> None:
    request = Pdu(Command.SUBMIT_SM, 77, body=ShortMessage("a", "b"))
    assert response_to(request, body=MessageIdResp("x")) == Pdu(
        Command.SUBMIT_SM_RESP, 77, Status.ROK, MessageIdResp("x")
    )


@pytest.mark.parametrize(
    ("hexstr", "message"),
    [
        ("000000", "at least 16 octets"),
        ("0000001100000015000000000a342ee7", "command_length says 17"),
        ("0000001000000110000000000a342ee7", "unsupported command_id 0x00000110"),
        ("0000001180000004000000000a342ee139", "no terminating NUL"),
        ("0000001400000015000000000a342ee700000000", "unexpected body"),
        ("0000001400000009000000000000000141000000", "ends inside a mandatory parameter"),
    ],
)
def test_malformed_pdus_are_refused(hexstr: str, message: str) -> None:
    with pytest.raises(SmppError, match=message):
        decode(bytes.fromhex(hexstr))


def test_frame_length_refuses_a_broken_stream() -> None:
    assert frame_length(bytes.fromhex("00000010")) == 16
    with pytest.raises(SmppError, match="out of range"):
        frame_length(bytes.fromhex("F0000011"))
    with pytest.raises(SmppError, match="out of range"):
        frame_length(bytes.fromhex("00000004"))


def test_encoding_refuses_fields_that_do_not_fit() -> None:
    with pytest.raises(SmppError, match="password"):
        encode(Pdu(Command.BIND_TRANSCEIVER, 1, body=Bind("vigil", "much-too-long")))
    with pytest.raises(SmppError, match="254 octets"):
        encode(Pdu(Command.SUBMIT_SM, 1, body=ShortMessage("a", "b", short_message=b"x" * 255)))


def test_smpplib_reads_the_captured_receipt_as_our_smsc_does() -> None:
    """The client library against a PDU captured from a real SMSC."""
    client = smpplib.client.Client("127.0.0.1", 1, allow_unknown_opt_params=True)
    parsed = smpplib.smpp.parse_pdu(
        bytes.fromhex(RECEIPT), client=client, allow_unknown_opt_params=True
    )
    assert parsed.command == "deliver_sm"
    assert parsed.esm_class == pdu.ESM_DELIVERY_RECEIPT
    assert parsed.short_message.startswith(b"id:0059113978 sub:001 dlvrd:001")
    assert parsed.receipted_message_id.rstrip(b"\0") == b"38601fa"
