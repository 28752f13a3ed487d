"""Errors the alerting package raises on purpose."""

from __future__ import annotations

from vigil.errors import VigilError


class AlertingError(VigilError):
    """Base of every alerting error."""


class IllegalTransition(AlertingError):  # noqa: N818 (the name the console codes against)
    """An action that the incident's current state does not allow."""

    def __init__(self, action: str, state: str, detail: str = "") -> None:
        self.action = action
        self.state = state
        message = f"cannot {action} an incident that is {state}"
        super().__init__(f"{message}: {detail}" if detail else message)


class IncidentNotFoundError(AlertingError):
    """No incident with that id."""


class EscalationConfigError(AlertingError):
    """An escalation file that cannot be used; the message names the file and the field."""


class SmsError(AlertingError):
    """A provider could not take a message; `retryable` says whether trying again may help,
    `provider_down` that no other message will get through either just now."""

    def __init__(
        self, message: str, *, retryable: bool = True, provider_down: bool = False
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.provider_down = provider_down


class SmppError(SmsError):
    """An SMPP PDU that cannot be decoded or a session that went wrong."""
