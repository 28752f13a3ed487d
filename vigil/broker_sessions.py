"""Ending a gateway's live MQTT session on EMQX when the console revokes, retires or re-keys it.

EMQX asks Vigil at every login (`vigil.broker_login`) but keeps a session it has let in, so a
revoked gateway already connected would go on publishing until it reconnects. EMQX 5's REST API
ends it: `DELETE /api/v5/clients/{clientid}` with an API key and its secret as HTTP basic auth
answers 204 when it kicked the client and 404 `CLIENTID_NOT_FOUND` when no such client is
connected; either way the gateway is not connected any more. (Mosquitto's dynamic-security
plugin disconnects a removed account's client by itself: nothing to do there.)

The console calls this after the registry change has committed: whatever EMQX answers, or if it
does not answer, the login is refused at the gateway's next CONNECT. A broker that does not
answer is tried a few times with backoff, logged, counted and reported as `unconfirmed`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from vigil.backoff import Backoff
from vigil.broker_auth import gateway_client_id
from vigil.observability.metrics import BROKER_SESSION_ENDS_TOTAL
from vigil.settings import Settings

log = logging.getLogger(__name__)

NOT_CONNECTED_CODE = "CLIENTID_NOT_FOUND"  # EMQX 5's 404 body for a client id it does not hold
# A refused key or a malformed request is not cured by asking again.
_FINAL = frozenset({400, 401, 403})


class LiveSession(StrEnum):
    """What became of a gateway's live session (the API answer and the audit say it)."""

    ENDED = "ended"  # EMQX kicked the connected client
    NOT_CONNECTED = "not_connected"  # EMQX held no client with its id
    UNCONFIRMED = "unconfirmed"  # no usable answer: it may stay connected until it reconnects
    NOT_CHECKED = "not_checked"  # EMQX's API is not configured (VIGIL_EMQX_API_URL unset)


@dataclass(frozen=True)
class SessionEnder:
    """Kicks one gateway's client through EMQX's REST API, a few attempts with backoff."""

    base_url: str
    key: str
    secret: SecretStr = field(repr=False)
    attempts: int = 3
    timeout_s: float = 2.0
    backoff: Backoff = field(default_factory=lambda: Backoff(initial=0.25, maximum=1.0))
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionEnder | None:
        """None when the settings name no EMQX API."""
        if not settings.emqx_api_url:
            return None
        return cls(settings.emqx_api_url.rstrip("/"), settings.emqx_api_key,
                   settings.emqx_api_secret)  # fmt: skip

    def end(self, gateway_id: str) -> LiveSession:
        client_id = gateway_client_id(gateway_id)
        url = f"{self.base_url}/clients/{quote(client_id, safe='')}"
        auth = (self.key, self.secret.get_secret_value())
        problem = ""
        for attempt in range(1, self.attempts + 1):
            outcome, problem, final = self._try(url, auth)
            if outcome is not None:
                BROKER_SESSION_ENDS_TOTAL.labels(outcome.value).inc()
                log.info("live session of %s: %s", client_id, outcome.value)
                return outcome
            log.warning("EMQX did not end %s (attempt %d): %s", client_id, attempt, problem)
            if final:
                break
            if attempt < self.attempts:
                self.sleep(self.backoff.delay(attempt))
        BROKER_SESSION_ENDS_TOTAL.labels(LiveSession.UNCONFIRMED.value).inc()
        log.error(
            "live session of %s not confirmed ended (%s); its login is refused at its next "
            "connect, end it by hand: DELETE %s",
            client_id, problem, url,
        )  # fmt: skip
        return LiveSession.UNCONFIRMED

    def _try(self, url: str, auth: tuple[str, str]) -> tuple[LiveSession | None, str, bool]:
        """(outcome or None, the problem, whether retrying is pointless)."""
        try:
            answer = httpx.delete(
                url, auth=auth, timeout=self.timeout_s, headers={"Accept": "application/json"}
            )
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}", False
        if answer.status_code == 204:
            return LiveSession.ENDED, "", True
        if answer.status_code == 404 and _code(answer) == NOT_CONNECTED_CODE:
            return LiveSession.NOT_CONNECTED, "", True
        problem = f"HTTP {answer.status_code} {answer.text[:200]!r}"
        return None, problem, answer.status_code in _FINAL or answer.status_code == 404


def _code(answer: httpx.Response) -> str | None:
    """EMQX's error code from a JSON body; None for any other body (a wrong URL's 404)."""
    try:
        body = answer.json()
    except ValueError:
        return None
    return str(body.get("code")) if isinstance(body, dict) else None
