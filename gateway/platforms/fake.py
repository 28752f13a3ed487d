"""A fake carrier platform: builds pushes in the documented formats, signed as the platform
signs them, and sends them over HTTP like the platform does (tests, benchmark, a demo).

The platforms cannot run here; this client is their stand-in on loopback. Bodies follow the
CTWing AEP subscription push and the OneNET (current and legacy) data push formats.
"""

from __future__ import annotations

import base64
import json
import secrets
import string
import time
from typing import Any
from urllib.parse import quote

from gateway.platforms.auth import encrypt_onenet, onenet_signature

# Real nonces carry punctuation that a careless receiver mangles.
_NONCE_CHARS = string.ascii_letters + string.digits + "&?(+=/"


def nonce() -> str:
    return "".join(secrets.choice(_NONCE_CHARS) for _ in range(8))


def ms(t: float | None = None) -> int:
    return int((time.time() if t is None else t) * 1000)


# ---- CTWing ----------------------------------------------------------------------------------
def ctwing_data(
    imei: str, device_id: str, product: str, service_data: dict[str, Any], *,
    t: float | None = None, service_id: str = "notification", tenant: str = "10461180",
) -> dict[str, Any]:  # fmt: skip
    """A `dataReport` as CTWing pushes it for an LwM2M product (no message id)."""
    return {
        "upPacketSN": -1, "upDataSN": -1, "topic": "v1/up/ad19prof", "timestamp": ms(t),
        "tenantId": tenant, "serviceId": "", "protocol": "lwm2m", "productId": product,
        "payload": {"serviceId": service_id, "serviceData": service_data},
        "messageType": "dataReport", "deviceType": "", "deviceId": device_id,
        "assocAssetId": "", "IMSI": "undefined", "IMEI": imei,
    }  # fmt: skip


def ctwing_appdata(imei: str, device_id: str, product: str, frame: bytes, *,
                   t: float | None = None) -> dict[str, Any]:  # fmt: skip
    """A transparent product's `dataReport`: the device's own frame in base64 APPdata."""
    body = ctwing_data(imei, device_id, product, {}, t=t)
    body["payload"] = {"APPdata": base64.b64encode(frame).decode()}
    body["protocol"] = "tcp"
    return body


def ctwing_online(device_id: str, product: str, online: bool, *,
                  t: float | None = None) -> dict[str, Any]:  # fmt: skip
    """`deviceOnlineOfflineReport`: deviceId and no IMEI."""
    return {
        "timestamp": ms(t), "tenantId": "2000033827", "protocol": "lwm2m", "productId": product,
        "messageType": "deviceOnlineOfflineReport", "iccid": "undefined",
        "eventType": 1 if online else 0, "deviceId": device_id,
    }  # fmt: skip


def ctwing_event(imei: str, device_id: str, product: str, content: dict[str, Any], *,
                 event_type: int = 2, t: float | None = None) -> dict[str, Any]:  # fmt: skip
    return {
        "timestamp": ms(t), "tenantId": "2000033827", "serviceId": 1002, "protocol": "lwm2m",
        "productId": product, "messageType": "eventReport", "eventType": event_type,
        "eventContent": content, "deviceSn": "", "deviceId": device_id, "IMSI": "undefined",
        "IMEI": imei,
    }  # fmt: skip


def ctwing_body(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


# ---- OneNET ----------------------------------------------------------------------------------
def onenet_property(product: str, device: str, params: dict[str, Any], *,
                    t: float | None = None, imei: str | None = None) -> dict[str, Any]:  # fmt: skip
    stamp = ms(t)
    inner: dict[str, Any] = {
        "productId": product, "deviceName": device, "messageType": "notify",
        "notifyType": "property",
        "data": {"id": str(secrets.randbelow(10**9)),
                 "params": {k: {"value": v, "time": stamp} for k, v in params.items()}},
    }  # fmt: skip
    if imei:
        inner["imei"] = imei
    return inner


def onenet_lifecycle(product: str, device: str, online: bool, *,
                     t: float | None = None) -> dict[str, Any]:  # fmt: skip
    return {"productId": product, "deviceName": device, "messageType": "lifeCycle",
            "data": {"status": "online" if online else "offline", "time": ms(t)}}  # fmt: skip


def onenet_body(inner: dict[str, Any], token: str, *, key: bytes | None = None,
                message_id: str | None = None, n: str | None = None) -> bytes:  # fmt: skip
    """The current format: msg is the JSON text (or its AES encryption), signed."""
    msg = json.dumps(inner, separators=(",", ":"), ensure_ascii=False)
    if key is not None:
        msg = encrypt_onenet(key, msg.encode())
    n = n or nonce()
    body = {"msg": msg, "signature": onenet_signature(token, n, msg), "time": ms(),
            "id": message_id or secrets.token_hex(16), "nonce": n}  # fmt: skip
    return json.dumps(body, ensure_ascii=False).encode()


def onenet_legacy_body(items: list[dict[str, Any]] | dict[str, Any], token: str, *,
                       n: str | None = None, separators: tuple[str, str] = (",", ":"),
                       key: bytes | None = None) -> bytes:  # fmt: skip
    """The legacy format: msg is an object (or a list), signed over its JSON text as written."""
    n = n or nonce()
    msg_text = json.dumps(items, separators=separators, ensure_ascii=False)
    if key is not None:
        enc = encrypt_onenet(key, msg_text.encode())
        sig = onenet_signature(token, n, enc)
        return json.dumps({"enc_msg": enc, "msg_signature": sig, "nonce": n}).encode()
    sig = onenet_signature(token, n, msg_text)
    sig_text = json.dumps(sig)
    n_text = json.dumps(n)
    return f'{{"msg":{msg_text},"msg_signature":{sig_text},"nonce":{n_text}}}'.encode()


def legacy_point(
    dev_id: int | str, ds_id: str, value: Any, *, t: float | None = None
) -> dict[str, Any]:
    return {"type": 1, "dev_id": dev_id, "ds_id": ds_id, "at": ms(t), "value": value}


def legacy_status(dev_id: int | str, online: bool, *, t: float | None = None) -> dict[str, Any]:
    return {"type": 2, "dev_id": dev_id, "status": 1 if online else 0, "login_type": 7,
            "at": ms(t)}  # fmt: skip


def url_check_query(token: str, msg: str | None = None) -> str:
    """The query of OneNET's URL check. The platform leaves the signature's `+` unencoded, so
    it arrives as a space once the query is decoded."""
    msg = msg or secrets.token_hex(6)
    n = nonce()
    sig = onenet_signature(token, n, msg)
    return f"msg={quote(msg)}&nonce={quote(n, safe='')}&signature={quote(sig, safe='+=/')}"
