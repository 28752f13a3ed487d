"""Alibaba Cloud SMS (阿里云短信服务, dysmsapi 2017-05-25) through its official SDK.

Only registered templates go out: the message kind and language pick the template code, and the
template's variables are filled within the per-variable length (35 characters for notification
templates). The request is signed by the SDK with Alibaba Cloud's RPC signature (HMAC-SHA1 over
the sorted, percent-encoded parameters). The provider's BizId is the message id; receipts come
back through HTTP batch push (`console.api.routes.cloud_callbacks`).

Idempotency: SendSms has no idempotency key, but it echoes `OutId` — our outbox key — in
QuerySendDetails. A message whose previous attempt ended without an outcome (the notifier was
killed mid-send) is looked up there first and not sent again if the provider has it. A send
whose answer was lost *and* which the provider had not yet recorded when we ask can still go
out twice: that window is the provider's, not ours (docs/alerting.md).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone

from alibabacloud_dysmsapi20170525 import models as sms_models
from alibabacloud_dysmsapi20170525.client import Client as SmsClient
from alibabacloud_tea_openapi import utils_models as open_api
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException

from alerting.errors import SmsError
from alerting.sms import cloud_errors
from alerting.sms.base import SmsEvents, Template
from alerting.templates import PARAMS, fit_params
from vigil.settings import SMS_TEMPLATE_KEYS

CHINA = timezone(timedelta(hours=8))  # QuerySendDetails' SendDate is a Beijing date


def aliyun_config(
    *, access_key_id: str, access_key_secret: str, endpoint: str, protocol: str
) -> open_api.Config:
    """The SDK's client settings: the RPC signature (`signature_algorithm='v2'`) and no retry
    inside the SDK — the outbox retries, with its backoff and its record."""
    return open_api.Config(
        access_key_id=access_key_id,
        access_key_secret=access_key_secret,
        endpoint=endpoint,
        protocol=protocol,
        signature_algorithm="v2",
        connect_timeout=3000,
        read_timeout=5000,
    )


def sdk_error(exc: Exception) -> tuple[str, str]:
    """The provider's code and message from an SDK exception (or a connection failure)."""
    if isinstance(exc, AlibabaCloudException):
        return str(exc.code or "Unknown"), str(getattr(exc, "message", "") or exc)[:200]
    return "Unreachable", str(exc)[:200]


def check_templates(
    templates: Mapping[str, str], keys: tuple[str, ...] = SMS_TEMPLATE_KEYS
) -> None:
    missing = [k for k in keys if not templates.get(k)]
    if missing:
        raise ValueError(f"SMS templates missing for {missing} (短信模板未配置)")


class AliyunSmsProvider:
    name = "aliyun"

    def __init__(
        self,
        config: open_api.Config,
        *,
        sign_name: str,
        templates: Mapping[str, str],
        param_max: int = 35,
    ) -> None:
        check_templates(templates)
        self._client = SmsClient(config)
        self._sign_name = sign_name
        self._templates = dict(templates)
        self._param_max = param_max

    async def start(self, events: SmsEvents) -> None:
        """Receipts arrive as HTTP pushes on the alerting app."""

    async def close(self) -> None:
        """Each request has its own connection."""

    async def send(
        self,
        *,
        key: str,
        to: str,
        body: str,
        template: Template | None = None,
        resend: bool = False,
    ) -> str:
        if template is None:
            raise SmsError(
                "阿里云短信只发送已审核模板 / Alibaba Cloud sends templates only: no template",
                retryable=False,
            )
        return await asyncio.to_thread(self._send, key, to, template, resend)

    def request(self, key: str, to: str, template: Template) -> sms_models.SendSmsRequest:
        code = self._templates.get(f"{template.kind}.{template.language}")
        if code is None:
            raise SmsError(
                f"没有 {template.kind}.{template.language} 的短信模板 / no template for it",
                retryable=False,
            )
        names = PARAMS.get(template.kind, tuple(template.params))
        params = fit_params({n: template.params.get(n, "") for n in names}, limit=self._param_max)
        return sms_models.SendSmsRequest(
            phone_numbers=national(to),
            sign_name=self._sign_name,
            template_code=code,
            template_param=json.dumps(params, ensure_ascii=False),
            out_id=key[:64],
        )

    def _send(self, key: str, to: str, template: Template, resend: bool) -> str:
        request = self.request(key, to, template)
        if resend:
            found = self._already_sent(key, to)
            if found is not None:
                return found
        try:
            answer = self._client.send_sms(request).body
        except Exception as exc:
            code, message = sdk_error(exc)
            raise cloud_errors.error(
                self.name, cloud_errors.classify(cloud_errors.ALIYUN, code), code, message
            ) from exc
        if answer is None or answer.code != "OK" or not answer.biz_id:
            code = (answer.code if answer else None) or "Unknown"
            message = (answer.message if answer else None) or ""
            raise cloud_errors.error(
                self.name, cloud_errors.classify(cloud_errors.ALIYUN, code), code, message
            )
        return str(answer.biz_id)

    def _already_sent(self, key: str, to: str) -> str | None:
        """The message of this key if the provider already has it (today's or yesterday's)."""
        today = datetime.now(CHINA).date()
        for day in (today, today - timedelta(days=1)):
            try:
                answer = self._client.query_send_details(
                    sms_models.QuerySendDetailsRequest(
                        phone_number=national(to),
                        send_date=day.strftime("%Y%m%d"),
                        page_size=50,
                        current_page=1,
                    )
                ).body
            except Exception as exc:
                code, message = sdk_error(exc)
                raise cloud_errors.error(
                    self.name, cloud_errors.classify(cloud_errors.ALIYUN, code), code, message
                ) from exc
            dtos = answer.sms_send_detail_dtos if answer else None
            for detail in (dtos.sms_send_detail_dto if dtos else None) or []:
                if detail.out_id == key[:64]:
                    return f"out:{key[:64]}"  # receipts name the OutId too
        return None


def national(phone: str) -> str:
    """Mainland numbers go without +86 (Alibaba's and Tencent's domestic form is the 11 digits);
    others keep their country code."""
    digits = phone.lstrip("+")
    if digits.startswith("86") and len(digits) == 13:
        return digits[2:]
    return digits
