"""A gateway's status message, believed only as far as its topic and our clock allow.

Ingest's liveness writer and the detector stage both follow the retained status topics. The
broker fences each gateway account to its own topics (vigil/broker_auth.py), so the gateway id
in the *topic* is the account's; the one in the body is only what the sender typed. A status
naming another gateway once raised "gateway offline" for it, and an `online` with a time in
2100 switched off its devices' offline supervision. So the identity comes from the topic, a
body that disagrees is refused, and the time must be a finite number that is not ahead of our
clock by more than the allowed skew (NaN or Infinity once stopped or poisoned every status
write). Pure: handed `now`, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vigil.codec import CodecError, Payload, decode_status
from vigil.errors import VigilError
from vigil.topics import Topic, TopicError, TopicKind

# Before this (2020-01-01) no Vigil gateway ran: a status claiming it is a broken clock.
EARLIEST_TS = 1_577_836_800.0
DEFAULT_MAX_FUTURE_S = 300.0


class StatusRefusedError(VigilError):
    """A status message that must not reach any state."""


@dataclass(frozen=True)
class TrustedStatus:
    """What may be believed of one status message."""

    site: str
    gateway_id: str  # from the topic, i.e. the broker account that published it
    online: bool
    sent: float  # the gateway's own time: finite, not ahead of ours (clamped to `now`)
    at: float  # when it became true: `sent` for a retained message (it may be old), else now


def check_status(
    topic: str,
    payload: Payload,
    *,
    retained: bool,
    now: float,
    max_future_s: float = DEFAULT_MAX_FUTURE_S,
) -> TrustedStatus:
    """The status on `topic`, or StatusRefusedError saying why it may not be believed."""
    try:
        parsed = Topic.parse(topic)
        if parsed.kind is not TopicKind.STATUS:
            raise StatusRefusedError(f"{topic} is not a status topic")
        status = decode_status(payload)
    except (TopicError, CodecError) as exc:
        raise StatusRefusedError(str(exc)) from exc
    if status.gw != parsed.gateway_id:
        raise StatusRefusedError(
            f"status naming gateway {status.gw!r} on {topic}: a gateway speaks only for itself"
        )
    ts = status.ts
    if not math.isfinite(ts):
        raise StatusRefusedError(f"status time {ts!r} on {topic} is not a number of seconds")
    if ts < EARLIEST_TS:
        raise StatusRefusedError(f"status time {ts} on {topic} is before {EARLIEST_TS:.0f}")
    if ts > now + max_future_s:
        raise StatusRefusedError(
            f"status time {ts:.0f} on {topic} is {ts - now:.0f} s ahead of ours "
            f"(at most {max_future_s:.0f} s allowed)"
        )
    sent = min(ts, now)
    return TrustedStatus(
        site=parsed.site,
        gateway_id=parsed.gateway_id,
        online=status.state == "online",
        sent=sent,
        at=sent if retained else now,
    )
