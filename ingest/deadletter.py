"""Why a message, or some readings in it, were refused: one reason, a detail, the raw payload."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# dead_letters.payload has a CHECK of 64 KiB; a larger payload is kept truncated, and says so.
PAYLOAD_CAP = 65536
DETAIL_CAP = 2000


class Reason(StrEnum):
    """Dead-letter reasons: each is counted on its own and stored in `dead_letters.reason`."""

    MALFORMED = "malformed"  # not a decodable uplink message of the contract
    BAD_TOPIC = "bad_topic"  # the topic is not an uplink topic of the contract
    UNKNOWN_GATEWAY = "unknown_gateway"  # not provisioned, revoked or retired
    GATEWAY_MISMATCH = "gateway_mismatch"  # payload's gateway or site differs from the topic's
    UNKNOWN_DEVICE = "unknown_device"  # not provisioned, or retired
    WRONG_GATEWAY = "wrong_gateway"  # provisioned behind another gateway
    UNKNOWN_METRIC = "unknown_metric"  # a metric or event kind the device type does not have
    OUT_OF_RANGE = "out_of_range"  # outside what the sensor can physically report
    FUTURE_TIMESTAMP = "future_timestamp"  # further ahead than device clocks may drift
    STALE_TIMESTAMP = "stale_timestamp"  # older than the replay window
    DATABASE_REFUSED = "database_refused"  # passed every check, yet the database refused it


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One row of `dead_letters`; `count` is how many readings or events it stands for."""

    topic: str
    reason: Reason
    detail: str
    payload: bytes
    count: int = 1

    @classmethod
    def of(
        cls, topic: str, reason: Reason, detail: str, payload: bytes, count: int = 1
    ) -> DeadLetter:
        topic, detail = _storable(topic), _storable(detail)
        if len(detail) > DETAIL_CAP:
            detail = detail[: DETAIL_CAP - 1] + "…"
        if len(payload) > PAYLOAD_CAP:
            detail = f"{detail} [payload truncated from {len(payload)} bytes]"
            payload = payload[:PAYLOAD_CAP]
        return cls(topic, reason, detail, payload, count)


def _storable(text: str) -> str:
    """Text PostgreSQL accepts: no NUL, no lone surrogates (a hostile payload may carry both)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
