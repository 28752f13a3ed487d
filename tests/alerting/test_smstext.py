"""SMS text: codings, long messages with a concatenation UDH, and delivery receipts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerting.errors import SmppError
from alerting.sms.smstext import (
    DC_DEFAULT,
    DC_UCS2,
    ESM_UDHI,
    decode_text,
    parse_receipt,
    receipt_text,
    segments,
)


def test_short_ascii_and_chinese_go_as_one_message() -> None:
    [ascii_part] = segments("Reply 1", reference=1)
    assert (ascii_part.esm_class, ascii_part.data_coding, ascii_part.short_message) == (
        0,
        DC_DEFAULT,
        b"Reply 1",
    )
    [zh] = segments("收到" * 35, reference=1)  # 70 characters: exactly one UCS-2 SMS
    assert zh.data_coding == DC_UCS2
    assert len(zh.short_message) == 140


def test_long_chinese_is_split_with_a_udh() -> None:
    text = "社区正在处理" * 20  # 120 characters
    parts = segments(text, reference=0x2A)
    assert [len(p.short_message) for p in parts] == [6 + 134, 6 + 106]
    assert all(p.esm_class == ESM_UDHI and p.data_coding == DC_UCS2 for p in parts)
    assert parts[0].short_message[:6] == bytes([5, 0, 3, 0x2A, 2, 1])
    assert parts[1].short_message[:6] == bytes([5, 0, 3, 0x2A, 2, 2])
    joined = "".join(
        decode_text(p.short_message, data_coding=p.data_coding, esm_class=p.esm_class)
        for p in parts
    )
    assert joined == text


def test_long_ascii_uses_153_octet_segments() -> None:
    parts = segments("x" * 200, reference=3)
    assert [len(p.short_message) - 6 for p in parts] == [153, 47]


@given(
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=400
    )
)
def test_any_text_survives_segmentation(text: str) -> None:
    parts = segments(text, reference=9)
    assert all(len(p.short_message) <= 160 for p in parts)
    joined = "".join(
        decode_text(p.short_message, data_coding=p.data_coding, esm_class=p.esm_class)
        for p in parts
    )
    assert joined == text


def test_empty_text_is_refused() -> None:
    with pytest.raises(SmppError, match="needs text"):
        segments("", reference=0)


def test_receipts_parse_and_prefer_the_tlv_id() -> None:
    text = receipt_text("ab12", "DELIVRD", submit="2611220800", done="2611220801")
    receipt = parse_receipt(text)
    assert (receipt.message_id, receipt.stat, receipt.delivered) == ("ab12", "DELIVRD", True)
    assert parse_receipt(text, "zz99").message_id == "zz99"
    failed = parse_receipt(
        "id:7 sub:001 dlvrd:000 submit date:2611220800 done date:2611220801 "
        "stat:UNDELIV err:011 text:"
    )
    assert failed.failed
    assert not failed.delivered
    with pytest.raises(SmppError, match="not a delivery receipt"):
        parse_receipt("收到")
