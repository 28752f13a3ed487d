"""Webhooks of the HTTP SMS provider: delivery status callbacks and inbound replies.

Both are form posts signed with the account's auth token (X-Twilio-Signature over the public
URL and the sorted fields); an unsigned or wrongly signed post is refused with 403 and changes
nothing. The public URL is `sms_callback_url` + the path, as the provider was told it.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from datetime import UTC, datetime

import psycopg
from fastapi import APIRouter, HTTPException, Request, Response

from alerting import outbox
from alerting.sms.base import DeliveryReport, Inbound
from alerting.sms.http import INBOUND_PATH, STATUS_PATH, signature_valid
from vigil.settings import Settings

router = APIRouter(tags=["sms"])

_DELIVERED = {"delivered"}
_FAILED = {"undelivered", "failed"}


async def _verified_form(request: Request, path: str) -> dict[str, str]:
    settings: Settings = request.app.state.settings
    body = (await request.body()).decode(errors="replace")
    form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
    url = settings.sms_callback_url.rstrip("/") + path
    token = settings.sms_http_auth_token.get_secret_value()
    given = request.headers.get("X-Twilio-Signature", "")
    if not settings.sms_callback_url or not signature_valid(token, url, form, given):
        raise HTTPException(status_code=403, detail="bad or missing signature")
    return form


def _run(dsn: str, fn: object, *args: object) -> object:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return fn(conn, *args, now=datetime.now(UTC))  # type: ignore[operator]


@router.post(STATUS_PATH)
async def sms_status(request: Request) -> Response:
    form = await _verified_form(request, STATUS_PATH)
    sid, status = form.get("MessageSid", ""), form.get("MessageStatus", "").lower()
    if not sid or not status:
        raise HTTPException(status_code=400, detail="MessageSid and MessageStatus are required")
    report = DeliveryReport(sid, status in _DELIVERED, status in _FAILED, dict(form))
    await asyncio.to_thread(_run, request.app.state.dsn, outbox.record_receipt, "http", report)
    return Response(status_code=204)


@router.post(INBOUND_PATH)
async def sms_inbound(request: Request) -> Response:
    form = await _verified_form(request, INBOUND_PATH)
    sender, body = form.get("From", ""), form.get("Body", "")
    if not sender:
        raise HTTPException(status_code=400, detail="From is required")
    message = Inbound(sender, form.get("To", ""), body, form.get("MessageSid") or None)
    await asyncio.to_thread(_run, request.app.state.dsn, outbox.record_inbound, "http", message)
    return Response(content="<Response/>", media_type="text/xml")
