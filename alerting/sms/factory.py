"""The SMS provider chosen in settings."""

from __future__ import annotations

from alerting.sms.base import SmsProvider
from alerting.sms.demo import DemoProvider
from alerting.sms.http import HttpSmsProvider
from alerting.sms.smpp import SmppProvider
from vigil.settings import Settings


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
    return DemoProvider(dsn)
