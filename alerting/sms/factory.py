"""The SMS provider and the voice provider chosen in settings."""

from __future__ import annotations

from alibabacloud_tea_openapi import utils_models as open_api

from alerting.policies import PolicyBook
from alerting.sms.aliyun import AliyunSmsProvider, aliyun_config
from alerting.sms.base import SmsProvider
from alerting.sms.demo import DemoProvider
from alerting.sms.http import HttpSmsProvider
from alerting.sms.smpp import SmppProvider
from alerting.sms.tencent import TencentSmsProvider
from alerting.voice.aliyun import AliyunVoiceProvider
from alerting.voice.base import VoiceProvider
from alerting.voice.demo import DemoVoiceProvider
from vigil.settings import Settings


def _aliyun(settings: Settings, endpoint: str) -> open_api.Config:
    return aliyun_config(
        access_key_id=settings.aliyun_access_key_id,
        access_key_secret=settings.aliyun_access_key_secret.get_secret_value(),
        endpoint=endpoint,
        protocol=settings.aliyun_protocol,
    )


def make_provider(settings: Settings, dsn: str) -> SmsProvider:
    if settings.sms_provider == "smpp":
        return SmppProvider(
            host=settings.smpp_host,
            port=settings.smpp_port,
            system_id=settings.smpp_system_id,
            password=settings.smpp_password.get_secret_value(),
            system_type=settings.smpp_system_type,
            source_addr=settings.sms_sender,
        )
    if settings.sms_provider == "http":
        return HttpSmsProvider(
            base_url=settings.sms_http_url,
            account_sid=settings.sms_http_account_sid,
            auth_token=settings.sms_http_auth_token.get_secret_value(),
            sender=settings.sms_sender,
            callback_url=settings.sms_callback_url,
        )
    if settings.sms_provider == "aliyun":
        return AliyunSmsProvider(
            _aliyun(settings, settings.aliyun_sms_endpoint),
            sign_name=settings.aliyun_sms_sign_name,
            templates=settings.aliyun_sms_templates,
            param_max=settings.aliyun_sms_param_max,
        )
    if settings.sms_provider == "tencent":
        return TencentSmsProvider(
            secret_id=settings.tencent_secret_id,
            secret_key=settings.tencent_secret_key.get_secret_value(),
            endpoint=settings.tencent_sms_endpoint,
            protocol=settings.tencent_protocol,
            region=settings.tencent_region,
            app_id=settings.tencent_sms_app_id,
            sign_name=settings.tencent_sms_sign_name,
            templates=settings.tencent_sms_templates,
            param_max=settings.tencent_sms_param_max,
        )
    return DemoProvider(dsn)


def make_voice(settings: Settings, dsn: str) -> VoiceProvider | None:
    """The family calls' provider, or None (then a planned call fails with that reason)."""
    if settings.voice_provider == "demo":
        return DemoVoiceProvider(dsn, PolicyBook(settings.escalation_dir))
    if settings.voice_provider == "aliyun":
        return AliyunVoiceProvider(
            _aliyun(settings, settings.aliyun_voice_endpoint),
            show_number=settings.aliyun_voice_show_number,
            tts_code=settings.aliyun_voice_tts_code,
        )
    return None
