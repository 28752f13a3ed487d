"""CTWing bodies read into pushes: captured and documented examples."""

from __future__ import annotations

import json

import pytest

from gateway.platforms import fake
from gateway.platforms.pushes import Kind, MalformedError, parse_ctwing
from tests.gateway.platforms.corpus import (
    CTWING_EVENT,
    CTWING_ONLINE,
    CTWING_TRANSPARENT,
    LIAN_SMOKE,
)


def test_captured_lian_data_report() -> None:
    push = parse_ctwing(LIAN_SMOKE, 0.0)
    assert push.kind is Kind.DATA
    assert push.imei == "860374051096202"
    assert push.product == "15014772"
    assert push.fields["Alarm_Status"] == 2
    assert push.fields["RSRP"] == 114
    assert push.ts == pytest.approx(1606982320.277)


def test_transparent_appdata_is_decoded_from_base64_not_url() -> None:
    push = parse_ctwing(CTWING_TRANSPARENT, 0.0)
    assert push.appdata is not None
    assert push.appdata[:2] == b"PU"


def test_online_report_has_device_id_and_no_imei() -> None:
    push = parse_ctwing(CTWING_ONLINE, 0.0)
    assert push.kind is Kind.ONLINE
    assert push.imei is None
    assert push.device == "d01308047f864601a821e02dc328eab4"


def test_event_report_fields() -> None:
    push = parse_ctwing(CTWING_EVENT, 0.0)
    assert push.kind is Kind.EVENT
    assert push.fields == {"battery_voltage": 1, "battery_state": 1}


def test_retry_has_the_same_key_whatever_the_key_order() -> None:
    obj = json.loads(LIAN_SMOKE)
    reordered = json.dumps(dict(reversed(list(obj.items())))).encode()
    assert parse_ctwing(reordered, 0.0).key == parse_ctwing(LIAN_SMOKE, 0.0).key
    obj["timestamp"] += 1
    assert parse_ctwing(json.dumps(obj).encode(), 0.0).key != parse_ctwing(LIAN_SMOKE, 0.0).key


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[1,2]", b'{"messageType":"dataReport"}',
     b'{"messageType":"dataReport","deviceId":"x","payload":"str"}',
     b'{"messageType":"dataReport","deviceId":"x","payload":{"APPdata":"%%%"}}',
     b'{"messageType":"deviceOnlineOfflineReport","deviceId":"x","eventType":7}',
     b'{"messageType":"somethingNew","deviceId":"x"}'],
)  # fmt: skip
def test_malformed_bodies_say_why(body: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_ctwing(body, 0.0)


def test_fake_platform_builds_what_the_parser_reads() -> None:
    body = fake.ctwing_body(fake.ctwing_data("861234567890123", "d1", "p", {"Alarm_Status": 1}))
    push = parse_ctwing(body, 0.0)
    assert push.fields == {"Alarm_Status": 1}
    assert push.imei == "861234567890123"
