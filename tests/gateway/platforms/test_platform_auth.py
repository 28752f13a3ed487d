"""Signatures, tokens and encryption of the platforms' pushes."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest

from gateway.platforms import fake
from gateway.platforms.auth import (
    AuthError,
    aes_key,
    check_onenet,
    decrypt_onenet,
    encrypt_onenet,
    onenet_signature,
    top_level_members,
)
from gateway.platforms.pushes import Kind, MalformedError, OneNetAccount, parse_onenet, url_check
from tests.gateway.platforms.corpus import ONENET_LEGACY_MSG

TOKEN = "5ec78dbca0db5a7e49b603fe"
KEY = aes_key("AAlvB3jc2dlPq2nF")


def test_signature_is_base64_md5_of_token_nonce_msg() -> None:
    # md5("tok" + "abcdefgh" + "hello") computed independently with coreutils' md5sum
    import base64
    import hashlib

    expected = base64.b64encode(hashlib.md5(b"tokabcdefghhello").digest()).decode()
    assert onenet_signature("tok", "abcdefgh", "hello") == expected
    check_onenet("tok", "abcdefgh", "hello", expected)
    with pytest.raises(AuthError):
        check_onenet("other", "abcdefgh", "hello", expected)


def test_url_check_accepts_plus_arriving_as_space_and_punctuated_nonces() -> None:
    for _ in range(200):  # enough draws that signatures with '+' and nonces with '&?(' occur
        query = {k: v[0] for k, v in parse_qs(fake.url_check_query(TOKEN, "hi")).items()}
        assert url_check(query, TOKEN) == "hi"
    bad = {k: v[0] for k, v in parse_qs(fake.url_check_query("wrong-token", "hi")).items()}
    with pytest.raises(AuthError):
        url_check(bad, TOKEN)


def test_aes_roundtrip_uses_key_as_iv() -> None:
    enc = encrypt_onenet(KEY, b'{"a":1}')
    assert decrypt_onenet(KEY, enc) == b'{"a":1}'
    with pytest.raises(AuthError):
        decrypt_onenet(aes_key("BBlvB3jc2dlPq2nF"), enc)


def test_aes_key_forms() -> None:
    assert aes_key("AAlvB3jc2dlPq2nF") == b"AAlvB3jc2dlPq2nF"
    import base64

    assert aes_key(base64.b64encode(b"k" * 32).decode()) == b"k" * 32
    with pytest.raises(ValueError, match="16, 24 or 32"):
        aes_key("short")


def test_top_level_members_keep_text_as_sent() -> None:
    body = '{ "msg" : {"b": 1,  "a": [1, 2]}, "nonce":"x&?(y"}'
    members = top_level_members(body)
    assert members["msg"].text == '{"b": 1,  "a": [1, 2]}'
    assert members["nonce"].value == "x&?(y"
    with pytest.raises(ValueError, match="expected"):
        top_level_members('{"a": 1} trailing')


def test_legacy_signature_covers_the_msg_text_in_its_own_key_order() -> None:
    n = "ab&?(cd+"
    sig = onenet_signature(TOKEN, n, ONENET_LEGACY_MSG)
    body = f'{{"msg":{ONENET_LEGACY_MSG},"msg_signature":"{sig}","nonce":"{n}"}}'.encode()
    (push,) = parse_onenet(body, OneNetAccount(TOKEN), 0.0)
    assert push.kind is Kind.DATA
    assert push.device == "2016617"
    assert push.fields == {"datastream_id": 42}
    # The same object re-serialised with sorted keys is not what was signed.
    resorted = json.dumps(json.loads(ONENET_LEGACY_MSG), sort_keys=True)
    tampered = f'{{"msg":{resorted},"msg_signature":"{sig}","nonce":"{n}"}}'.encode()
    with pytest.raises(AuthError):
        parse_onenet(tampered, OneNetAccount(TOKEN), 0.0)


def test_legacy_spaced_separators_are_verified_as_sent() -> None:
    items = [fake.legacy_point(7, "smoke_state", 1), fake.legacy_status(7, online=False)]
    body = fake.onenet_legacy_body(items, TOKEN, separators=(", ", ": "))
    pushes = parse_onenet(body, OneNetAccount(TOKEN), 0.0)
    assert [p.kind for p in pushes] == [Kind.DATA, Kind.OFFLINE]


def test_current_format_plain_and_encrypted() -> None:
    inner = fake.onenet_property("p1", "dev-1", {"smoke_sensor_state": 1})
    (plain,) = parse_onenet(fake.onenet_body(inner, TOKEN, message_id="m1"),
                            OneNetAccount(TOKEN), 0.0)  # fmt: skip
    assert plain.key == "onenet:id:m1"
    assert plain.fields == {"smoke_sensor_state": 1}
    (enc,) = parse_onenet(fake.onenet_body(inner, TOKEN, key=KEY), OneNetAccount(TOKEN, KEY), 0.0)
    assert enc.fields == {"smoke_sensor_state": 1}
    assert enc.device == "dev-1"


def test_tampered_msg_is_refused() -> None:
    inner = fake.onenet_property("p1", "dev-1", {"smoke_sensor_state": 0})
    body = json.loads(fake.onenet_body(inner, TOKEN))
    body["msg"] = body["msg"].replace('"value":0', '"value":1')
    with pytest.raises(AuthError):
        parse_onenet(json.dumps(body).encode(), OneNetAccount(TOKEN), 0.0)


def test_unsigned_or_garbage_bodies() -> None:
    with pytest.raises(AuthError):
        parse_onenet(b'{"msg": "{}"}', OneNetAccount(TOKEN), 0.0)
    with pytest.raises(MalformedError):
        parse_onenet(b"\xff\xfe not json", OneNetAccount(TOKEN), 0.0)


def test_legacy_msg_sent_as_a_string_is_signed_over_its_text() -> None:
    n = "q(w&e?r+"
    text = json.dumps(fake.legacy_point(9, "smoke_sensor_state", 1))
    body = json.dumps({"msg": text, "msg_signature": onenet_signature(TOKEN, n, text),
                       "nonce": n}).encode()  # fmt: skip
    (push,) = parse_onenet(body, OneNetAccount(TOKEN), 0.0)
    assert push.fields == {"smoke_sensor_state": 1}
    assert push.device == "9"


def test_legacy_encrypted() -> None:
    items = [fake.legacy_point(9, "smoke_sensor_state", 1)]
    body = fake.onenet_legacy_body(items, TOKEN, key=KEY)
    (push,) = parse_onenet(body, OneNetAccount(TOKEN, KEY), 0.0)
    assert push.fields == {"smoke_sensor_state": 1}
    with pytest.raises(MalformedError, match="no AES key"):
        parse_onenet(body, OneNetAccount(TOKEN), 0.0)


def test_msg_object_under_signature_is_verified_over_its_text() -> None:
    n = "zz(&?yy+"
    inner = fake.onenet_property("p1", "dev-1", {"smoke_sensor_state": 1})
    text = json.dumps(inner, separators=(",", ":"))
    body = (f'{{"msg":{text},"signature":"{onenet_signature(TOKEN, n, text)}",'
            f'"nonce":"{n}"}}').encode()  # fmt: skip
    (push,) = parse_onenet(body, OneNetAccount(TOKEN), 0.0)
    assert push.fields == {"smoke_sensor_state": 1}
    with pytest.raises(AuthError):
        parse_onenet(body.replace(b'"value":1', b'"value":0'), OneNetAccount(TOKEN), 0.0)
