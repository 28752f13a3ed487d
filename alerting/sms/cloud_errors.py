"""What the Chinese cloud providers' error codes mean for a message: retry or give up, and why.

Each code maps to one of four outcomes. `throttled` and `transient` are retried with backoff
(`throttled` for the whole account — API-level flow control — also holds back the rest of the
round); `refused` gives up at once: the number, the template or the signature will not get
through however often we try. `account` (bad credentials, no balance) is retried and holds back
the round: nothing will get through until an operator fixes the account, and nothing is lost
meanwhile. The reason text goes to the incident's timeline, Chinese first.
"""

from __future__ import annotations

from typing import Literal

from alerting.errors import SmsError

Outcome = Literal["throttled", "transient", "refused", "account"]

# Alibaba Cloud SMS (dysmsapi 2017-05-25) codes, from its error code list.
ALIYUN: dict[str, Outcome] = {
    "Throttling.User": "throttled",
    "Throttling.Api": "throttled",
    "Throttling": "throttled",
    "isv.BUSINESS_LIMIT_CONTROL": "throttled",  # per-number flow control (minute/hour)
    "isv.DAY_LIMIT_CONTROL": "throttled",
    "isp.SYSTEM_ERROR": "transient",
    "isp.GATEWAY_ERROR": "transient",
    "ServiceUnavailable": "transient",
    "InternalError": "transient",
    "isv.MOBILE_NUMBER_ILLEGAL": "refused",
    "isv.MOBILE_COUNT_OVER_LIMIT": "refused",
    "isv.SMS_TEMPLATE_ILLEGAL": "refused",
    "isv.SMS_SIGNATURE_ILLEGAL": "refused",
    "isv.SMS_SIGN_ILLEGAL": "refused",
    "isv.TEMPLATE_MISSING_PARAMETERS": "refused",
    "isv.TEMPLATE_PARAMS_ILLEGAL": "refused",
    "isv.PARAM_LENGTH_LIMIT": "refused",
    "isv.INVALID_PARAMETERS": "refused",
    "isv.INVALID_JSON_PARAM": "refused",
    "isv.BLACK_KEY_CONTROL_LIMIT": "refused",
    "isv.DENY_IP_RANGE": "account",
    "isv.AMOUNT_NOT_ENOUGH": "account",
    "isv.OUT_OF_SERVICE": "account",
    "isv.ACCOUNT_ABNORMAL": "account",
    "isv.ACCOUNT_NOT_EXISTS": "account",
    "isp.RAM_PERMISSION_DENY": "account",
    "SignatureDoesNotMatch": "account",
    "InvalidAccessKeyId.NotFound": "account",
    "InvalidTimeStamp.Expired": "transient",  # our clock: the next attempt signs anew
    "SignatureNonceUsed": "transient",
}

# Tencent Cloud SMS (2021-01-11) codes: the API's Error.Code and each number's SendStatus.Code.
TENCENT: dict[str, Outcome] = {
    "RequestLimitExceeded": "throttled",
    "LimitExceeded.PhoneNumberThirtySecondLimit": "throttled",
    "LimitExceeded.PhoneNumberOneHourLimit": "throttled",
    "LimitExceeded.PhoneNumberDailyLimit": "throttled",
    "LimitExceeded.PhoneNumberSameContentDailyLimit": "throttled",
    "LimitExceeded.DailyLimit": "throttled",
    "LimitExceeded.DeliveryFrequencyLimit": "throttled",
    "InternalError": "transient",
    "InternalError.Timeout": "transient",
    "InternalError.RequestTimeException": "transient",
    "InternalError.OtherError": "transient",
    "InternalError.SendAndRecvFail": "transient",
    "FailedOperation.JsonParseFail": "transient",
    "InvalidParameterValue.IncorrectPhoneNumber": "refused",
    "FailedOperation.PhoneNumberInBlacklist": "refused",
    "FailedOperation.PhoneNumberParseFail": "refused",
    "FailedOperation.TemplateIncorrectOrUnapproved": "refused",
    "FailedOperation.SignatureIncorrectOrUnapproved": "refused",
    "FailedOperation.ContainSensitiveWord": "refused",
    "InvalidParameterValue.TemplateParameterFormatError": "refused",
    "InvalidParameterValue.TemplateParameterLengthLimit": "refused",
    "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter": "refused",
    "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber": "refused",
    "UnsupportedOperation.UnsupportedRegion": "refused",
    "FailedOperation.InsufficientBalanceInSmsPackage": "account",
    "UnauthorizedOperation.SmsSdkAppIdVerifyFail": "account",
    "UnauthorizedOperation.IndividualUserMarketingSmsPermissionDeny": "account",
    "AuthFailure.SignatureFailure": "account",
    "AuthFailure.SecretIdNotFound": "account",
    "AuthFailure.SignatureExpire": "transient",
    "ClientNetworkError": "transient",
    "ServerNetworkError": "transient",  # the SDK's name for an answer other than HTTP 200
}

_REASONS: dict[Outcome, str] = {
    "throttled": "短信平台限流，稍后重试 / throttled by the provider, will retry",
    "transient": "短信平台暂时故障，稍后重试 / provider error, will retry",
    "refused": "短信平台拒绝，不再重试 / refused by the provider, given up",
    "account": "短信账号不可用（密钥、余额），待管理员处理后重试 / account unusable "
    "(credentials, balance), retrying until an operator fixes it",
}


def classify(table: dict[str, Outcome], code: str) -> Outcome:
    """A code not in the table: by its prefix family, else transient (a retry is the safe
    side: the message is given up after the backoff's limit, never lost in silence)."""
    if code in table:
        return table[code]
    for prefix, outcome in (
        ("Throttling", "throttled"),
        ("LimitExceeded", "throttled"),
        ("InternalError", "transient"),
        ("isp.", "transient"),
        ("InvalidParameter", "refused"),
        ("AuthFailure", "account"),
        ("UnauthorizedOperation", "account"),
    ):
        if code.startswith(prefix):
            return outcome  # type: ignore[return-value]
    return "transient"


def error(provider: str, outcome: Outcome, code: str, message: str) -> SmsError:
    """The SmsError the notifier acts on, its text the timeline's reason."""
    text = f"{_REASONS[outcome]} ({provider} {code}: {message})"[:480]
    return SmsError(
        text,
        retryable=outcome != "refused",
        provider_down=outcome == "account" or code in _PROVIDER_WIDE,
    )


# API-level flow control and an unreachable service stop every message; a per-number limit
# only that number's.
_PROVIDER_WIDE = frozenset(
    {
        "Throttling.User",
        "Throttling.Api",
        "Throttling",
        "RequestLimitExceeded",
        "Unreachable",
        "ServiceUnavailable",
        "ClientNetworkError",
        "ServerNetworkError",
    }
)
