"""Tencent Cloud SMS (腾讯云短信, sms 2021-01-11) through its official SDK.

Templates only, like Alibaba Cloud: the kind and language pick the template id, its variables
go as an ordered list (`{1}`, `{2}`, … in the registered text) within the per-variable length
the account's template review allows. The SDK signs every request with TC3-HMAC-SHA256. The
per-number `SerialNo` is the message id; receipts come back as HTTP callbacks.

Idempotency: SendSms has no idempotency key and no query by our own reference that would find
a message whose answer was lost, so a notifier killed between the provider's accepting a message
and our recording it sends that message again on restart (at least once; docs/alerting.md).
`SessionContext` carries our outbox key so such a pair can be told apart in the provider's logs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111 import models, sms_client

from alerting.errors import SmsError
from alerting.sms import cloud_errors
from alerting.sms.aliyun import check_templates
from alerting.sms.base import SmsEvents, Template
from alerting.templates import PARAMS, fit_params


class TencentSmsProvider:
    name = "tencent"

    def __init__(
        self,
        *,
        secret_id: str,
        secret_key: str,
        endpoint: str,
        protocol: str,
        region: str,
        app_id: str,
        sign_name: str,
        templates: Mapping[str, str],
        param_max: int = 12,
    ) -> None:
        check_templates(templates)
        profile = ClientProfile(
            httpProfile=HttpProfile(protocol=protocol, endpoint=endpoint, reqTimeout=5)
        )
        self._client = sms_client.SmsClient(
            credential.Credential(secret_id, secret_key), region, profile
        )
        self._app_id = app_id
        self._sign_name = sign_name
        self._templates = dict(templates)
        self._param_max = param_max

    async def start(self, events: SmsEvents) -> None:
        """Receipts arrive as HTTP callbacks on the alerting app."""

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
                "腾讯云短信只发送已审核模板 / Tencent Cloud sends templates only: no template",
                retryable=False,
            )
        return await asyncio.to_thread(self._send, key, to, template)

    def request(self, key: str, to: str, template: Template) -> models.SendSmsRequest:
        template_id = self._templates.get(f"{template.kind}.{template.language}")
        if template_id is None:
            raise SmsError(
                f"没有 {template.kind}.{template.language} 的短信模板 / no template for it",
                retryable=False,
            )
        names = PARAMS.get(template.kind, tuple(template.params))
        params = fit_params({n: template.params.get(n, "") for n in names}, limit=self._param_max)
        request = models.SendSmsRequest()
        request.PhoneNumberSet = [to if to.startswith("+") else f"+86{to}"]
        request.SmsSdkAppId = self._app_id
        request.SignName = self._sign_name
        request.TemplateId = template_id
        request.TemplateParamSet = [params[n] for n in names]
        request.SessionContext = key[:512]
        return request

    def _send(self, key: str, to: str, template: Template) -> str:
        request = self.request(key, to, template)
        try:
            answer = self._client.SendSms(request)
        except TencentCloudSDKException as exc:
            code, message = str(exc.code or "Unknown"), str(exc.message or "")[:200]
            raise cloud_errors.error(
                self.name, cloud_errors.classify(cloud_errors.TENCENT, code), code, message
            ) from exc
        statuses = answer.SendStatusSet or []
        if len(statuses) != 1:
            raise SmsError(f"Tencent SMS answered {len(statuses)} statuses for one number")
        status = statuses[0]
        if status.Code != "Ok" or not status.SerialNo:
            code = str(status.Code or "Unknown")
            raise cloud_errors.error(
                self.name,
                cloud_errors.classify(cloud_errors.TENCENT, code),
                code,
                str(status.Message or ""),
            )
        return str(status.SerialNo)
