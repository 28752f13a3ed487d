"""Alibaba Cloud voice service (阿里云语音服务, dyvmsapi 2017-05-25): the family call.

An IvrCall plays the registered TTS template (the alarm, "…请按1确认") and collects one key;
the key and the call's end come back as receipts (VoiceCallReport with `dtmf` at status
300000, VoiceReport when the call is over) on the alerting app. The CallId is the call's id;
`OutId` carries our outbox key. Signed by the SDK with the RPC signature, like the SMS.
"""

from __future__ import annotations

import asyncio
import json

from alibabacloud_dyvmsapi20170525 import models as vms_models
from alibabacloud_dyvmsapi20170525.client import Client as VmsClient
from alibabacloud_tea_openapi import utils_models as open_api

from alerting.errors import SmsError
from alerting.sms import cloud_errors
from alerting.sms.aliyun import national, sdk_error
from alerting.templates import PARAMS, fit_params
from alerting.voice.base import ACK_KEY


class AliyunVoiceProvider:
    name = "aliyun_voice"

    def __init__(
        self, config: open_api.Config, *, show_number: str, tts_code: str, param_max: int = 35
    ) -> None:
        self._client = VmsClient(config)
        self._show_number = show_number
        self._tts_code = tts_code
        self._param_max = param_max

    async def call(self, *, key: str, to: str, params: dict[str, str]) -> str:
        return await asyncio.to_thread(self._call, key, to, params)

    def request(self, key: str, to: str, params: dict[str, str]) -> vms_models.IvrCallRequest:
        names = PARAMS["family_call"]
        fitted = fit_params({n: params.get(n, "") for n in names}, limit=self._param_max)
        return vms_models.IvrCallRequest(
            called_show_number=self._show_number,
            called_number=national(to),
            start_code=self._tts_code,
            start_tts_params=json.dumps(fitted, ensure_ascii=False),
            menu_key_map=[vms_models.IvrCallRequestMenuKeyMap(key=ACK_KEY, code=self._tts_code)],
            play_times=2,
            timeout=10000,  # ms to wait for a key after the prompt
            out_id=key[:256],
        )

    def _call(self, key: str, to: str, params: dict[str, str]) -> str:
        try:
            answer = self._client.ivr_call(self.request(key, to, params)).body
        except Exception as exc:
            code, message = sdk_error(exc)
            raise _error(code, message) from exc
        if answer is None or answer.code != "OK" or not answer.call_id:
            code = (answer.code if answer else None) or "Unknown"
            raise _error(code, (answer.message if answer else None) or "")
        return str(answer.call_id)


def _error(code: str, message: str) -> SmsError:
    outcome = cloud_errors.classify(cloud_errors.ALIYUN, code)
    return cloud_errors.error("aliyun_voice", outcome, code, message)
