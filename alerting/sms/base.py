"""The interface every SMS provider implements, and what it reports back.

`send` either returns the provider's message id — the provider has the message — or raises
SmsError, saying whether a retry may help. The idempotency key travels with every attempt so a
provider that deduplicates (the HTTP API, the demo log) turns a retry after a crash into a no-op.
Receipts and replies arrive asynchronously through `SmsEvents`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Inbound:
    """A message from a phone: a family's reply."""

    sender: str
    recipient: str
    body: str
    provider_id: str | None


@dataclass(frozen=True)
class Template:
    """What a template-only provider (Alibaba Cloud, Tencent Cloud) sends instead of the text:
    the message kind and language pick the approved template, `params` fill its variables."""

    kind: str
    language: str
    params: dict[str, str]


@dataclass(frozen=True)
class DeliveryReport:
    provider_id: str
    delivered: bool
    failed: bool
    raw: dict[str, Any]


class SmsEvents(Protocol):
    async def on_receipt(self, provider: str, report: DeliveryReport) -> None: ...

    async def on_inbound(self, provider: str, message: Inbound) -> None: ...


class SmsProvider(Protocol):
    name: str

    async def start(self, events: SmsEvents) -> None:
        """Connect (where the protocol keeps a session) and start receiving receipts."""
        ...

    async def send(
        self,
        *,
        key: str,
        to: str,
        body: str,
        template: Template | None = None,
        resend: bool = False,
    ) -> str:
        """Hand one message to the provider; returns its id for the message. `resend` says an
        earlier attempt with this key ended without an outcome (the notifier died mid-send)."""
        ...

    async def close(self) -> None: ...
