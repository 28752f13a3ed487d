"""Loopback stand-ins for Alibaba Cloud (SMS and voice) and Tencent Cloud SMS.

Each is a real HTTP server that the providers' own SDKs talk to. It checks every request's
signature the way the provider documents it — Alibaba Cloud's RPC signature (HMAC-SHA1 over the
sorted, RFC 3986-encoded parameters, key = secret + "&"; timestamp within 15 minutes, nonce
never reused), Tencent Cloud's TC3-HMAC-SHA256 (canonical request, credential scope, derived
key) — and answers as the provider does, error codes included: throttling, a bad number, an
unapproved template or signature, over-long variables, being down. It pushes receipts to a
callback URL in the provider's documented format, and for a call, the key press.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

ALI_KEY_ID = "LTAItestkey0001"
ALI_SECRET = "ali-test-secret-0001"
TC_SECRET_ID = "AKIDtestsecretid0001"
TC_SECRET_KEY = "tc-test-secret-key-0001"
TC_APP_ID = "1400000001"
SIGN_NAME = "幸福社区"

# The templates the district registered and the provider approved: code -> variable names.
ALI_TEMPLATES = {
    "SMS_100000001": ("place", "what"),
    "SMS_100000002": ("place", "what"),
    "SMS_100000003": ("place", "what", "result"),
    "SMS_100000004": ("place", "what", "result"),
    "SMS_100000005": ("no", "what", "level", "place", "why"),
    "SMS_100000006": ("no", "what", "level", "place", "why"),
}
ALI_TEMPLATE_SETTINGS = {
    "family_alarm.zh": "SMS_100000001",
    "family_alarm.en": "SMS_100000002",
    "family_closed.zh": "SMS_100000003",
    "family_closed.en": "SMS_100000004",
    "responder.zh": "SMS_100000005",
    "responder.en": "SMS_100000006",
}
TC_TEMPLATES = {"200001": 2, "200002": 2, "200003": 3, "200004": 3, "200005": 5, "200006": 5}
TC_TEMPLATE_SETTINGS = dict(
    zip(
        ALI_TEMPLATE_SETTINGS,
        ["200001", "200002", "200003", "200004", "200005", "200006"],
        strict=False,
    )
)
TTS_CODE = "TTS_200000001"
SHOW_NUMBER = "057100000000"


def percent(value: str) -> str:
    """RFC 3986 encoding as Alibaba Cloud's signature documents it (space %20, * %2A, ~ kept)."""
    return urllib.parse.quote(value, safe="-_.~")


def rpc_signature(params: dict[str, str], method: str, secret: str) -> str:
    canonical = "&".join(f"{percent(k)}={percent(params[k])}" for k in sorted(params))
    to_sign = f"{method}&{percent('/')}&{percent(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def tc3_signature(
    *, secret_key: str, host: str, content_type: str, payload: bytes, timestamp: int, service: str
) -> str:
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:{content_type}\nhost:{host}\n",
            "content-type;host",
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    scope = f"{date}/{service}/tc3_request"
    to_sign = "\n".join(
        [
            "TC3-HMAC-SHA256",
            str(timestamp),
            scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )

    def mac(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    key = mac(mac(mac(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def post_json(url: str, payload: Any) -> tuple[int, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


@dataclass
class Sent:
    provider_id: str
    phone: str
    sign: str
    template: str
    params: Any
    ref: str  # OutId / SessionContext


@dataclass
class Call:
    call_id: str
    phone: str
    tts_code: str
    params: dict[str, str]
    out_id: str
    at: float = field(default_factory=time.monotonic)


class _Server:
    def __init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                owner.handle(self)

        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.down = False
        self.throttle_until = 0.0
        self.clock: Callable[[], float] = time.monotonic  # a test may hand simulated time
        self.refused_signatures = 0
        self.requests = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.endpoint = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def throttle_for(self, seconds: float) -> None:
        self.throttle_until = self.clock() + seconds

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    content_type = "application/json;charset=utf-8"

    def answer(self, h: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        h.send_response(status)
        h.send_header("Content-Type", self.content_type)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)


class FakeAliyun(_Server):
    """dysmsapi (SendSms, QuerySendDetails) and dyvmsapi (IvrCall) on one loopback port."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.calls: list[Call] = []
        self.bad_numbers: set[str] = set()
        self.limited_numbers: set[str] = set()  # isv.BUSINESS_LIMIT_CONTROL for these
        self.lose_answer_to: set[str] = set()  # take the next message, never answer (once each)
        self.voice_down = False  # dyvmsapi answers 503 while SMS works
        self.push_before_answer: str | None = None  # the call's receipts beat its answer here
        self._nonces: set[str] = set()
        super().__init__()

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urllib.parse.urlsplit(h.path)
        params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        length = int(h.headers.get("Content-Length") or 0)
        if length:
            body = h.rfile.read(length).decode()
            params.update(urllib.parse.parse_qsl(body, keep_blank_values=True))
        with self.lock:
            self.requests += 1
        if self.down:
            self.answer(h, 503, {"Code": "ServiceUnavailable", "Message": "down", "RequestId": "r"})
            return
        problem = self._check_signature(params, h.command)
        if problem is not None:
            with self.lock:
                self.refused_signatures += 1
            self.answer(h, 400, {"Code": problem, "Message": problem, "RequestId": "r"})
            return
        if self.clock() < self.throttle_until:
            self.answer(
                h,
                400,
                {
                    "Code": "Throttling.User",
                    "Message": "Request was denied due to user flow control.",
                    "RequestId": "r",
                },
            )
            return
        action = params.get("Action")
        if action == "SendSms":
            self._send_sms(h, params)
        elif action == "QuerySendDetails":
            self._query(h, params)
        elif action == "IvrCall" and self.voice_down:
            self.answer(h, 503, {"Code": "ServiceUnavailable", "Message": "down", "RequestId": "r"})
        elif action == "IvrCall":
            self._ivr_call(h, params)
        else:
            self.answer(h, 404, {"Code": "InvalidAction.NotFound", "Message": str(action)})

    def _check_signature(self, params: dict[str, str], method: str) -> str | None:
        given = params.pop("Signature", "")
        if params.get("AccessKeyId") != ALI_KEY_ID:
            return "InvalidAccessKeyId.NotFound"
        if params.get("SignatureMethod") != "HMAC-SHA1" or params.get("SignatureVersion") != "1.0":
            return "IncompleteSignature"
        try:
            stamp = datetime.strptime(params.get("Timestamp", ""), "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            return "MissingTimestamp"
        if abs((datetime.now(UTC) - stamp.replace(tzinfo=UTC)).total_seconds()) > 900:
            return "InvalidTimeStamp.Expired"
        nonce = params.get("SignatureNonce", "")
        with self.lock:
            if not nonce or nonce in self._nonces:
                return "SignatureNonceUsed"
            self._nonces.add(nonce)
        if not hmac.compare_digest(rpc_signature(params, method, ALI_SECRET), given):
            return "SignatureDoesNotMatch"
        return None

    def _send_sms(self, h: BaseHTTPRequestHandler, p: dict[str, str]) -> None:
        phone = p.get("PhoneNumbers", "")
        code = p.get("TemplateCode", "")
        if p.get("SignName") != SIGN_NAME:
            self.answer(h, 200, {"Code": "isv.SMS_SIGNATURE_ILLEGAL", "Message": "签名不合法"})
            return
        if code not in ALI_TEMPLATES:
            self.answer(h, 200, {"Code": "isv.SMS_TEMPLATE_ILLEGAL", "Message": "模板不合法"})
            return
        if phone in self.bad_numbers or not phone.isdigit():
            self.answer(h, 200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号"})
            return
        if phone in self.limited_numbers:
            self.answer(h, 200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "业务限流"})
            return
        try:
            values = json.loads(p.get("TemplateParam", "{}"))
        except json.JSONDecodeError:
            self.answer(h, 200, {"Code": "isv.INVALID_JSON_PARAM", "Message": "JSON参数不合法"})
            return
        if set(values) != set(ALI_TEMPLATES[code]):
            self.answer(h, 200, {"Code": "isv.TEMPLATE_MISSING_PARAMETERS", "Message": "缺参数"})
            return
        if any(not str(v) or len(str(v)) > 35 for v in values.values()):
            self.answer(h, 200, {"Code": "isv.PARAM_LENGTH_LIMIT", "Message": "参数超出长度限制"})
            return
        with self.lock:
            biz_id = f"{next(self.ids):06d}^0"
            self.sent.append(Sent(biz_id, phone, SIGN_NAME, code, values, p.get("OutId", "")))
            lose = phone in self.lose_answer_to
            self.lose_answer_to.discard(phone)
        if lose:
            h.close_connection = True
            h.connection.shutdown(2)  # the message is taken; its answer never arrives
            return
        self.answer(h, 200, {"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": "r"})

    def _query(self, h: BaseHTTPRequestHandler, p: dict[str, str]) -> None:
        phone = p.get("PhoneNumber", "")
        with self.lock:
            found = [s for s in self.sent if s.phone == phone]
        details = [
            {"PhoneNum": s.phone, "SendStatus": 3, "TemplateCode": s.template, "OutId": s.ref}
            for s in found
        ]
        self.answer(
            h,
            200,
            {
                "Code": "OK",
                "Message": "OK",
                "TotalCount": len(details),
                "SmsSendDetailDTOs": {"SmsSendDetailDTO": details},
            },
        )

    def _ivr_call(self, h: BaseHTTPRequestHandler, p: dict[str, str]) -> None:
        if p.get("CalledShowNumber") != SHOW_NUMBER or p.get("StartCode") != TTS_CODE:
            self.answer(h, 200, {"Code": "isv.TTS_TEMPLATE_ILLEGAL", "Message": "模板不合法"})
            return
        # RPC style flattens the list: MenuKeyMap.1.Key, MenuKeyMap.1.Code, ...
        keys = {v for k, v in p.items() if k.startswith("MenuKeyMap.") and k.endswith(".Key")}
        if "1" not in keys:
            self.answer(h, 200, {"Code": "isv.INVALID_PARAMETERS", "Message": "MenuKeyMap"})
            return
        with self.lock:
            call_id = f"1169{next(self.ids):08d}^1{next(self.ids):08d}"
            self.calls.append(
                Call(
                    call_id,
                    p.get("CalledNumber", ""),
                    p.get("StartCode", ""),
                    json.loads(p.get("StartTtsParams", "{}")),
                    p.get("OutId", ""),
                )
            )
        if self.push_before_answer is not None:
            self.answer_call(self.push_before_answer, self.calls[-1], key="1")
        self.answer(h, 200, {"Code": "OK", "Message": "OK", "CallId": call_id, "RequestId": "r"})

    # ---------------------------------------------------------------- pushes, as documented
    def push_sms_reports(self, url: str, sent: list[Sent], *, success: bool = True) -> int:
        """SmsReport (HTTP batch push): a JSON array; the answer must be {"code": 0}."""
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        status, answer = post_json(
            url,
            [
                {
                    "phone_number": s.phone,
                    "send_time": now,
                    "report_time": now,
                    "success": success,
                    "err_code": "DELIVERED" if success else "MK:0001",
                    "err_msg": "用户接收成功" if success else "空号",
                    "sms_size": "1",
                    "biz_id": s.provider_id,
                    "out_id": s.ref,
                }
                for s in sent
            ],
        )
        assert status != 200 or answer == {"code": 0, "msg": "接收成功"}, answer
        return status

    def answer_call(self, url: str, call: Call, *, key: str | None) -> list[int]:
        """The call is answered; the family presses `key` (or none); then it ends."""
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        pushes: list[list[dict[str, Any]]] = [
            [
                {
                    "call_id": call.call_id,
                    "status_code": "200102",
                    "status_time": now,
                    "out_id": call.out_id,
                }
            ],
        ]
        if key is not None:
            pushes.append(
                [
                    {
                        "call_id": call.call_id,
                        "status_code": "300000",
                        "dtmf": key,
                        "status_time": now,
                        "out_id": call.out_id,
                    }
                ]
            )
        final = "200000" if key is not None else "200008"
        pushes.append(
            [
                {
                    "call_id": call.call_id,
                    "status_code": final,
                    "duration": "18",
                    "callee": call.phone,
                    "out_id": call.out_id,
                }
            ]
        )
        return [post_json(url, p)[0] for p in pushes]

    def no_answer(self, url: str, call: Call) -> int:
        return post_json(
            url,
            [
                {
                    "call_id": call.call_id,
                    "status_code": "200003",
                    "duration": "0",
                    "callee": call.phone,
                    "status_msg": "无应答",
                    "out_id": call.out_id,
                }
            ],
        )[0]


class FakeTencentSms(_Server):
    """sms.tencentcloudapi.com's SendSms (2021-01-11) behind TC3-HMAC-SHA256."""

    content_type = "application/json"

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.bad_numbers: set[str] = set()
        super().__init__()

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        payload = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        with self.lock:
            self.requests += 1
        if self.down:
            self.answer(
                h, 503, {"Response": {"Error": {"Code": "InternalError", "Message": "down"}}}
            )
            return
        problem = self._check(h, payload)
        if problem is not None:
            with self.lock:
                self.refused_signatures += 1
            self._error(h, problem)
            return
        if self.clock() < self.throttle_until:
            self._error(h, "RequestLimitExceeded")
            return
        body = json.loads(payload)
        if body.get("SmsSdkAppId") != TC_APP_ID:
            self._error(h, "UnauthorizedOperation.SmsSdkAppIdVerifyFail")
            return
        if body.get("SignName") != SIGN_NAME:
            self._error(h, "FailedOperation.SignatureIncorrectOrUnapproved")
            return
        count = TC_TEMPLATES.get(str(body.get("TemplateId")))
        params = body.get("TemplateParamSet") or []
        if count is None:
            self._error(h, "FailedOperation.TemplateIncorrectOrUnapproved")
            return
        if len(params) != count:
            self._error(h, "InvalidParameterValue.TemplateParameterFormatError")
            return
        if any(len(p) > 12 or not p for p in params):
            self._error(h, "InvalidParameterValue.TemplateParameterLengthLimit")
            return
        statuses = []
        for phone in body.get("PhoneNumberSet") or []:
            if phone in self.bad_numbers or not phone.startswith("+"):
                statuses.append(
                    {
                        "SerialNo": "",
                        "PhoneNumber": phone,
                        "Fee": 0,
                        "SessionContext": body.get("SessionContext", ""),
                        "Code": "InvalidParameterValue.IncorrectPhoneNumber",
                        "Message": "incorrect number",
                        "IsoCode": "",
                    }
                )
                continue
            with self.lock:
                serial = f"2645:{next(self.ids):012d}"
                self.sent.append(
                    Sent(
                        serial,
                        phone,
                        SIGN_NAME,
                        str(body["TemplateId"]),
                        params,
                        body.get("SessionContext", ""),
                    )
                )
            statuses.append(
                {
                    "SerialNo": serial,
                    "PhoneNumber": phone,
                    "Fee": 1,
                    "SessionContext": body.get("SessionContext", ""),
                    "Code": "Ok",
                    "Message": "send success",
                    "IsoCode": "CN",
                }
            )
        self.answer(h, 200, {"Response": {"SendStatusSet": statuses, "RequestId": "r"}})

    def _error(self, h: BaseHTTPRequestHandler, code: str) -> None:
        self.answer(
            h, 200, {"Response": {"Error": {"Code": code, "Message": code}, "RequestId": "r"}}
        )

    def _check(self, h: BaseHTTPRequestHandler, payload: bytes) -> str | None:
        auth = h.headers.get("Authorization", "")
        prefix = "TC3-HMAC-SHA256 "
        if not auth.startswith(prefix):
            return "AuthFailure.SignatureFailure"
        parts = dict(p.strip().split("=", 1) for p in auth[len(prefix) :].split(","))
        credential = parts.get("Credential", "").split("/")
        if len(credential) != 4 or credential[0] != TC_SECRET_ID:
            return "AuthFailure.SecretIdNotFound"
        if credential[2] != "sms" or credential[3] != "tc3_request":
            return "AuthFailure.SignatureFailure"
        if parts.get("SignedHeaders") != "content-type;host":
            return "AuthFailure.SignatureFailure"
        timestamp = int(h.headers.get("X-TC-Timestamp", "0"))
        if abs(time.time() - timestamp) > 300:
            return "AuthFailure.SignatureExpire"
        if credential[1] != datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d"):
            return "AuthFailure.SignatureFailure"
        if (
            h.headers.get("X-TC-Action") != "SendSms"
            or h.headers.get("X-TC-Version") != "2021-01-11"
        ):
            return "AuthFailure.SignatureFailure"
        expected = tc3_signature(
            secret_key=TC_SECRET_KEY,
            host=h.headers.get("Host", ""),
            content_type=h.headers.get("Content-Type", ""),
            payload=payload,
            timestamp=timestamp,
            service="sms",
        )
        if not hmac.compare_digest(expected, parts.get("Signature", "")):
            return "AuthFailure.SignatureFailure"
        return None

    def push_status(self, url: str, sent: list[Sent], *, success: bool = True) -> int:
        """Tencent's SMS status callback: a JSON array; the answer must be {"result": 0}."""
        status, answer = post_json(
            url,
            [
                {
                    "user_receive_time": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                    "nationcode": "86",
                    "mobile": s.phone.removeprefix("+86"),
                    "report_status": "SUCCESS" if success else "FAIL",
                    "errmsg": "DELIVRD" if success else "MN:0001",
                    "description": "用户短信送达成功" if success else "空号",
                    "sid": s.provider_id,
                }
                for s in sent
            ],
        )
        assert status != 200 or answer == {"result": 0, "errmsg": "OK"}, answer
        return status


@pytest.fixture
def aliyun() -> Iterator[FakeAliyun]:
    fake = FakeAliyun()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def tencent() -> Iterator[FakeTencentSms]:
    fake = FakeTencentSms()
    try:
        yield fake
    finally:
        fake.stop()
