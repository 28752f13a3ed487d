"""Receipts from the Chinese cloud providers: SMS delivery reports and the family calls' key
presses and results.

Alibaba Cloud's HTTP batch push (SmsReport, VoiceCallReport, VoiceReport) and Tencent Cloud's
SMS status callback are JSON arrays that neither provider signs. What their documentation
offers instead, and what is checked here: the receiving address is configured in the provider's
console only, so it carries a secret (`VIGIL_CALLBACK_TOKEN`) as its last path segment, compared
in constant time; a wrong one is refused with 403 and records nothing. Put the providers' push
addresses in the reverse proxy's allow-list too (docs/alerting.md). Each answer is the one the
provider documents, so it does not push the same report again.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import psycopg
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from alerting import outbox
from alerting.policies import PolicyBook
from alerting.sms.base import DeliveryReport
from alerting.voice import calls
from vigil.settings import Settings

router = APIRouter(tags=["callbacks"])


async def _items(request: Request, token: str) -> list[dict[str, Any]]:
    settings: Settings = request.app.state.settings
    expected = settings.callback_token.get_secret_value()
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise HTTPException(status_code=403, detail="回执地址不正确 / wrong callback address")
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HTTPException(status_code=400, detail="not JSON") from exc
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list) or not all(isinstance(i, dict) for i in body):
        raise HTTPException(status_code=400, detail="expected a JSON array of reports")
    return body


def _receipts(dsn: str, provider: str, reports: list[DeliveryReport]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for report in reports:
            outbox.record_receipt(conn, provider, report, now=datetime.now(UTC))


@router.post("/api/callbacks/aliyun/sms/{token}")
async def aliyun_sms_report(token: str, request: Request) -> JSONResponse:
    """SmsReport: phone_number, success, err_code, biz_id, out_id, …"""
    reports = []
    for item in await _items(request, token):
        biz_id = str(item.get("biz_id") or "")
        if not biz_id:
            raise HTTPException(status_code=400, detail="biz_id is required")
        ok = item.get("success") is True or str(item.get("success")).lower() == "true"
        reports.append(DeliveryReport(biz_id, ok, not ok, item))
        if item.get("out_id"):  # a message found again after a crash is known by its OutId
            reports.append(DeliveryReport(f"out:{item['out_id']}", ok, not ok, item))
    await asyncio.to_thread(_receipts, request.app.state.dsn, "aliyun", reports)
    return JSONResponse({"code": 0, "msg": "接收成功"})


@router.post("/api/callbacks/tencent/sms/{token}")
async def tencent_sms_status(token: str, request: Request) -> JSONResponse:
    """Tencent's status callback: sid (the SerialNo), report_status SUCCESS | FAIL, errmsg."""
    reports = []
    for item in await _items(request, token):
        sid = str(item.get("sid") or "")
        status = str(item.get("report_status") or "")
        if not sid or status not in ("SUCCESS", "FAIL"):
            raise HTTPException(status_code=400, detail="sid and report_status are required")
        reports.append(DeliveryReport(sid, status == "SUCCESS", status == "FAIL", item))
    await asyncio.to_thread(_receipts, request.app.state.dsn, "tencent", reports)
    return JSONResponse({"result": 0, "errmsg": "OK"})


def _voice(dsn: str, book: PolicyBook, events: list[calls.VoiceEvent]) -> list[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return [calls.record(conn, book, "aliyun_voice", e, now=datetime.now(UTC)) for e in events]


@router.post("/api/callbacks/aliyun/voice/{token}")
async def aliyun_voice_report(token: str, request: Request) -> JSONResponse:
    """VoiceCallReport (status 300000 carries `dtmf`) and VoiceReport (the call's result)."""
    events = []
    for item in await _items(request, token):
        call_id, status = str(item.get("call_id") or ""), str(item.get("status_code") or "")
        if not call_id or not status:
            raise HTTPException(status_code=400, detail="call_id and status_code are required")
        dtmf = item.get("dtmf")
        events.append(calls.VoiceEvent(call_id, status, str(dtmf) if dtmf else None, item))
    settings: Settings = request.app.state.settings
    book = PolicyBook(settings.escalation_dir)
    await asyncio.to_thread(_voice, request.app.state.dsn, book, events)
    return JSONResponse({"code": 0, "msg": "接收成功"})
