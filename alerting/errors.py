"""Errors the alerting package raises on purpose."""

from __future__ import annotations

from vigil.errors import VigilError


class AlertingError(VigilError):
    """Base of every alerting error."""


class IllegalTransition(AlertingError):
    """An action that the incident's current state does not allow."""

    def __init__(self, action: str, state: str, detail: str = "") -> None:
        self.action = action
        self.state = state
        message = f"cannot {action} an incident that is {state}"
        super().__init__(f"{message}: {detail}" if detail else message)


class IncidentNotFound(AlertingError):
    """No incident with that id."""


class EscalationConfigError(AlertingError):
    """An escalation file that cannot be used; the message names the file and the field."""


class SmsError(AlertingError):
    """A provider could not take a message; `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class SmppError(SmsError):
    """An SMPP PDU that cannot be decoded or a session that went wrong."""
