"""The platforms' push bodies, read into one shape (`Push`) after their signature is checked.

CTWing (AEP subscription push): one JSON object per request, `messageType` saying what it is;
no message id (`upPacketSN`/`upDataSN` are often -1 or empty), so a retry is known by its
content. OneNET: the current format signs a `msg` string (a JSON document, or the encrypted
text of one) and carries an `id`; the legacy format signs the JSON text of a `msg` object (or a
list of them) under `msg_signature`, `enc_msg` when encrypted. Every function here is pure.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gateway.platforms.auth import (
    AuthError,
    check_onenet,
    decrypt_onenet,
    onenet_signature,
    top_level_members,
)


class Source(StrEnum):
    CTWING = "ctwing"
    ONENET = "onenet"


class Kind(StrEnum):
    DATA = "data"  # a data report: fields to read with the product's profile
    EVENT = "event"  # a device event report (CTWing eventReport): fields too
    ONLINE = "online"  # the platform says the device is online
    OFFLINE = "offline"  # ... or offline
    OTHER = "other"  # acknowledged and not forwarded (command responses, device changes)


class MalformedError(ValueError):
    """The body is not a push of the platform's documented formats; the text says why."""


@dataclass(frozen=True)
class Push:
    """One device message of a push (a OneNET legacy push may carry several)."""

    source: Source
    kind: Kind
    key: str  # identity for deduplication: the platform's message id or a content hash
    device: str  # the platform's device id (CTWing deviceId, OneNET dev_id / deviceName)
    imei: str | None
    product: str
    ts: float  # the platform's timestamp, seconds
    fields: Mapping[str, Any] = field(default_factory=dict)
    service: str | None = None  # CTWing serviceId / OneNET ds_id
    appdata: bytes | None = None  # a transparent product's raw frame
    message_type: str = ""


def _content_key(source: Source, obj: Any) -> str:
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{source}:sha256:{hashlib.sha256(canonical.encode()).hexdigest()}"


def _seconds(value: Any, default: float) -> float:
    """A platform timestamp (ms since the epoch, sometimes a string; seconds on some) in s."""
    try:
        t = float(value)
    except (TypeError, ValueError):
        return default
    if t <= 0:
        return default
    return t / 1000.0 if t > 1e11 else t


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _imei(value: Any) -> str | None:
    text = _text(value)
    return text if text and text.lower() not in ("undefined", "null", "none") else None


# ---- CTWing ----------------------------------------------------------------------------------
_CTWING_DATA = {"dataReport", "dataReportTupUnion"}
_CTWING_IGNORED = {
    "commandResponse", "deviceDataChangeReport", "deviceCommandResponse",
    "deviceAdded", "deviceDeleted", "deviceInfoChange", "deviceStatusChange",
}  # fmt: skip


def parse_ctwing(body: bytes, now: float) -> Push:
    """A CTWing push; MalformedError names what is missing or wrong."""
    try:
        obj = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedError(f"not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise MalformedError("a CTWing push is a JSON object")
    message_type = _text(obj.get("messageType"))
    device = _text(obj.get("deviceId"))
    if not message_type:
        raise MalformedError("no messageType")
    if not device:
        raise MalformedError("no deviceId")
    key = _content_key(Source.CTWING, obj)
    ts = _seconds(obj.get("timestamp"), now)
    base = {
        "source": Source.CTWING, "key": key, "device": device, "ts": ts,
        "imei": _imei(obj.get("IMEI", obj.get("imei"))), "product": _text(obj.get("productId")),
        "message_type": message_type,
    }  # fmt: skip
    if message_type == "deviceOnlineOfflineReport":
        event_type = obj.get("eventType")
        if _text(event_type) not in ("0", "1"):
            raise MalformedError(f"deviceOnlineOfflineReport with eventType {event_type!r}")
        kind = Kind.ONLINE if _text(event_type) == "1" else Kind.OFFLINE
        return Push(kind=kind, **base)  # type: ignore[arg-type]
    if message_type == "eventReport":
        content = obj.get("eventContent")
        if not isinstance(content, dict):
            raise MalformedError("eventReport without an eventContent object")
        service = _text(obj.get("serviceId")) or None
        return Push(kind=Kind.EVENT, fields=content, service=service, **base)  # type: ignore[arg-type]
    if message_type in _CTWING_DATA:
        return _ctwing_data(obj, base)
    if message_type in _CTWING_IGNORED:
        return Push(kind=Kind.OTHER, **base)  # type: ignore[arg-type]
    raise MalformedError(f"unknown messageType {message_type!r}")


def _ctwing_data(obj: dict[str, Any], base: dict[str, Any]) -> Push:
    payload = obj.get("payload")
    if not isinstance(payload, dict):
        raise MalformedError("dataReport without a payload object")
    service = _text(payload.get("serviceId") or obj.get("serviceId")) or None
    if "APPdata" in payload:
        try:
            raw = base64.b64decode(_text(payload["APPdata"]), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedError(f"APPdata is not base64: {exc}") from exc
        return Push(kind=Kind.DATA, appdata=raw, service=service, **base)
    data = payload.get("serviceData", payload)
    if not isinstance(data, dict):
        raise MalformedError("payload.serviceData is not an object")
    fields = {k: v for k, v in data.items() if k != "serviceId" or data is not payload}
    return Push(kind=Kind.DATA, fields=fields, service=service, **base)


# ---- OneNET ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class OneNetAccount:
    token: str
    aes_key: bytes | None = None


def parse_onenet(body: bytes, account: OneNetAccount, now: float) -> list[Push]:
    """The device messages of a OneNET push after checking its signature (AuthError if bad)."""
    try:
        text = body.decode("utf-8")
        members = top_level_members(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedError(f"not a JSON object: {exc}") from exc
    nonce = members.get("nonce")
    if nonce is None or not isinstance(nonce.value, str):
        raise AuthError("no nonce")
    if "msg_signature" in members:
        return _onenet_legacy(members, nonce.value, account, now)
    signature = members.get("signature")
    msg = members.get("msg")
    if signature is None or not isinstance(signature.value, str):
        raise AuthError("no signature")
    if msg is None:
        raise MalformedError("no msg")
    if not isinstance(msg.value, str):
        # msg sent as an object under `signature`: signed over its JSON text, as the legacy
        # format is; a legacy data point (with `type`) or a current message.
        _check_legacy_text(account.token, nonce.value, msg, signature.value)
        items = msg.value if isinstance(msg.value, list) else [msg.value]
        if all(isinstance(i, dict) and "type" in i and "dev_id" in i for i in items):
            return [_onenet_legacy_item(i, now) for i in items]
        if not isinstance(msg.value, dict):
            raise MalformedError("msg is neither a string nor an object")
        return [_onenet_current(msg.value, _content_key(Source.ONENET, msg.value), now)]
    check_onenet(account.token, nonce.value, msg.value, signature.value)
    plain = msg.value
    if account.aes_key is not None and not plain.lstrip().startswith("{"):
        plain = decrypt_onenet(account.aes_key, plain).decode("utf-8", "replace")
    try:
        inner = json.loads(plain)
    except json.JSONDecodeError as exc:
        raise MalformedError(f"msg is not JSON: {exc}") from exc
    if not isinstance(inner, dict):
        raise MalformedError("msg is not a JSON object")
    mid = members.get("id")
    key = (
        f"onenet:id:{mid.value}"
        if mid is not None and _text(mid.value)
        else _content_key(Source.ONENET, inner)
    )
    return [_onenet_current(inner, key, now)]


def _onenet_legacy(
    members: dict[str, Any], nonce: str, account: OneNetAccount, now: float
) -> list[Push]:
    signature = members["msg_signature"].value
    if not isinstance(signature, str):
        raise AuthError("msg_signature is not a string")
    if "enc_msg" in members:
        enc = members["enc_msg"]
        if not isinstance(enc.value, str):
            raise MalformedError("enc_msg is not a string")
        check_onenet(account.token, nonce, enc.value, signature)
        if account.aes_key is None:
            raise MalformedError("an encrypted push, and no AES key configured for the account")
        try:
            msg_value: Any = json.loads(decrypt_onenet(account.aes_key, enc.value))
        except json.JSONDecodeError as exc:
            raise MalformedError(f"enc_msg decrypts to no JSON: {exc}") from exc
    else:
        msg = members.get("msg")
        if msg is None:
            raise MalformedError("no msg")
        _check_legacy_text(account.token, nonce, msg, signature)
        msg_value = msg.value
        if isinstance(msg_value, str):  # the JSON text itself, sent as a string
            try:
                msg_value = json.loads(msg_value)
            except json.JSONDecodeError as exc:
                raise MalformedError(f"msg is not JSON: {exc}") from exc
    items = msg_value if isinstance(msg_value, list) else [msg_value]
    return [_onenet_legacy_item(item, now) for item in items]


def _check_legacy_text(token: str, nonce: str, msg: Any, signature: str) -> None:
    """The legacy signature covers the JSON text of `msg` as the platform wrote it; a proxy
    may have re-formatted the body, so the compact text in the same key order is accepted too
    (both need the token)."""
    compact = json.dumps(msg.value, separators=(",", ":"), ensure_ascii=False)
    given = signature.replace(" ", "+")
    texts = [msg.text, compact] + ([msg.value] if isinstance(msg.value, str) else [])
    for text in texts:
        if onenet_signature(token, nonce, text) == given:
            return
    check_onenet(token, nonce, msg.text, signature)  # raises with the usual message


def _onenet_legacy_item(item: Any, now: float) -> Push:
    if not isinstance(item, dict):
        raise MalformedError("a legacy msg is an object")
    kind_code = _text(item.get("type"))
    device = _text(item.get("dev_id"))
    if not device:
        raise MalformedError("legacy msg without dev_id")
    ts = _seconds(item.get("at"), now)
    key = _content_key(Source.ONENET, item)
    base = {"source": Source.ONENET, "key": key, "device": device, "ts": ts,
            "imei": _imei(item.get("imei")), "product": _text(item.get("product_id")),
            "message_type": f"legacy type {kind_code}"}  # fmt: skip
    if kind_code == "1":
        ds_id = _text(item.get("ds_id"))
        if not ds_id:
            raise MalformedError("legacy data point without ds_id")
        value = item.get("value")
        fields = value if isinstance(value, dict) else {ds_id: value}
        return Push(kind=Kind.DATA, fields=fields, service=ds_id, **base)  # type: ignore[arg-type]
    if kind_code == "2":
        status = _text(item.get("status"))
        if status not in ("0", "1"):
            raise MalformedError(f"legacy online/offline message with status {status!r}")
        return Push(kind=Kind.ONLINE if status == "1" else Kind.OFFLINE, **base)  # type: ignore[arg-type]
    if kind_code in ("7",):  # cache command replies and the like: acknowledged only
        return Push(kind=Kind.OTHER, **base)  # type: ignore[arg-type]
    raise MalformedError(f"legacy msg of unknown type {kind_code!r}")


def _onenet_current(inner: dict[str, Any], key: str, now: float) -> Push:
    """OneNET Studio's data push: `notify` property/event messages and `lifeCycle` ones."""
    message_type = _text(inner.get("messageType"))
    device = _text(inner.get("deviceName") or inner.get("deviceId") or inner.get("dev_id"))
    if not device:
        raise MalformedError("msg without deviceName")
    raw_data = inner.get("data")
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    ts = _seconds(inner.get("time") or inner.get("timestamp"), now)
    base = {"source": Source.ONENET, "key": key, "device": device, "ts": ts,
            "imei": _imei(inner.get("imei") or data.get("imei")),
            "product": _text(inner.get("productId")), "message_type": message_type}  # fmt: skip
    if message_type == "lifeCycle":
        status = _text(inner.get("status") or data.get("status")).lower()
        if status in ("online", "1"):
            return Push(kind=Kind.ONLINE, **base)  # type: ignore[arg-type]
        if status in ("offline", "0"):
            return Push(kind=Kind.OFFLINE, **base)  # type: ignore[arg-type]
        raise MalformedError(f"lifeCycle message with status {status!r}")
    if message_type == "notify":
        params = data.get("params")
        if not isinstance(params, dict):
            raise MalformedError("notify message without data.params")
        fields, latest = _params(params, ts)
        notify = _text(inner.get("notifyType"))
        kind = Kind.EVENT if notify == "event" else Kind.DATA
        return Push(kind=kind, fields=fields, service=notify or None,
                    **{**base, "ts": latest})  # type: ignore[arg-type]  # fmt: skip
    if message_type in ("deviceInfo", "reply", "command", "sceneLog", "lbsAndWifi"):
        return Push(kind=Kind.OTHER, **base)  # type: ignore[arg-type]
    raise MalformedError(f"unknown messageType {message_type!r}")


def _params(params: dict[str, Any], ts: float) -> tuple[dict[str, Any], float]:
    """Thing-model params `{name: {value, time}}` (an event's value may be an object of its
    own fields, which are read as fields too); the newest time among them."""
    fields: dict[str, Any] = {}
    latest = 0.0
    for name, item in params.items():
        if isinstance(item, dict) and "value" in item:
            value = item["value"]
            latest = max(latest, _seconds(item.get("time"), 0.0))
        else:
            value = item
        if isinstance(value, dict):
            fields[name] = 1
            fields.update(value)
        else:
            fields[name] = value
    return fields, latest or ts


def url_check(query: Mapping[str, str], token: str) -> str:
    """OneNET's URL check: the `msg` to echo when the signature is the account's."""
    msg, nonce, signature = (query.get(k) for k in ("msg", "nonce", "signature"))
    if msg is None or nonce is None or signature is None:
        raise AuthError("the URL check needs msg, nonce and signature")
    check_onenet(token, nonce, msg, signature)
    return msg
