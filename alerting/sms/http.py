"""A Twilio-style HTTP SMS provider: POST /2010-04-01/Accounts/{sid}/Messages.json.

Form fields To, From, Body (and StatusCallback, where the provider should report delivery),
HTTP basic auth with the account SID and token. Every attempt carries the outbox row's
idempotency key in an `Idempotency-Key` header: a provider that honours it (our fake does; ask
yours) answers a retry after a crash with the message it already has instead of sending twice.
Receipts and replies come back as signed webhooks (`alerting.sms.webhooks`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping

from alerting.errors import SmsError
from alerting.sms.base import SmsEvents, Template

STATUS_PATH = "/api/sms/status"
INBOUND_PATH = "/api/sms/inbound"


def signature(token: str, url: str, params: Mapping[str, str]) -> str:
    """Twilio's X-Twilio-Signature: base64 HMAC-SHA1 of the URL and the sorted form fields."""
    payload = url + "".join(f"{k}{params[k]}" for k in sorted(params))
    digest = hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signature_valid(token: str, url: str, params: Mapping[str, str], given: str) -> bool:
    return hmac.compare_digest(signature(token, url, params), given)


class HttpSmsProvider:
    name = "http"

    def __init__(
        self,
        *,
        base_url: str,
        account_sid: str,
        auth_token: str,
        sender: str,
        callback_url: str = "",
        timeout: float = 5.0,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"the SMS API URL must be http(s), got {base_url!r}")
        self._url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        credentials = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._auth = f"Basic {credentials}"
        self._sender = sender
        self._callback = callback_url.rstrip("/") + STATUS_PATH if callback_url else ""
        self._timeout = timeout

    async def start(self, events: SmsEvents) -> None:
        """Nothing to connect: receipts and replies arrive as webhooks on the alerting app."""

    async def send(
        self,
        *,
        key: str,
        to: str,
        body: str,
        template: Template | None = None,
        resend: bool = False,
    ) -> str:
        return await asyncio.to_thread(self._post, key, to, body)

    async def close(self) -> None:
        """Each request has its own connection."""

    def _post(self, key: str, to: str, body: str) -> str:
        form = {"To": to, "From": self._sender, "Body": body}
        if self._callback:
            form["StatusCallback"] = self._callback
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked in __init__)
            self._url,
            data=urllib.parse.urlencode(form).encode(),
            headers={
                "Authorization": self._auth,
                "Idempotency-Key": key,
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:200].decode(errors="replace")
            # 4xx other than 401/408/409/429 means this message will never be accepted.
            permanent = 400 <= exc.code < 500 and exc.code not in (401, 408, 409, 429)
            raise SmsError(
                f"SMS API answered {exc.code}: {detail}",
                retryable=not permanent,
                provider_down=exc.code in (429, 502, 503, 504),
            ) from exc
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise SmsError(f"SMS API unreachable: {exc}", provider_down=True) from exc
        except json.JSONDecodeError as exc:
            raise SmsError(f"SMS API answered something that is not JSON: {exc}") from exc
        sid = answer.get("sid") if isinstance(answer, dict) else None
        if not isinstance(sid, str) or not sid:
            raise SmsError(f"SMS API answer has no sid: {answer!r}"[:200], retryable=False)
        return sid
