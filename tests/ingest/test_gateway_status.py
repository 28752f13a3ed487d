"""The gateways' status, read once per worker: the topic names the gateway, the body is checked
before any state sees it, and only the worker's sites reach the listeners."""

from __future__ import annotations

import math

import msgspec
import pytest

from ingest.consumer import BrokerConfig
from ingest.gateway_status import GatewayStatus, GatewayStatusFollower, read_status
from vigil.codec import GatewayStatus as Wire
from vigil.codec import encode
from vigil.status_check import StatusRefusedError

TOPIC = "vigil/v1/site-a/gw-a/status"


def _body(**fields: object) -> bytes:
    """MessagePack, which (unlike JSON) carries NaN and infinities."""
    return msgspec.msgpack.encode(
        {"v": 1, "gw": "gw-a", "state": "offline", "ts": 1_763_780_000.0, **fields}
    )


def test_a_status_speaks_for_the_gateway_its_topic_names() -> None:
    status = read_status(
        TOPIC,
        encode(Wire(gw="gw-a", state="online", ts=1_763_780_000.0)),
        retained=True,
        received=1_763_780_009.0,
    )
    assert status == GatewayStatus("gw-a", "site-a", True, 1_763_780_000.0, True, 1_763_780_009.0)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_body(gw="gw-b"), "naming gateway 'gw-b'"),
        (_body(ts=math.nan), "not a number of seconds"),
        (_body(ts=math.inf), "not a number of seconds"),
        (_body(ts=-math.inf), "not a number of seconds"),
        (b"\x00junk", "neither a JSON object"),
        (_body(state="sleeping"), "state"),
    ],
)
def test_a_status_that_must_not_reach_state_is_refused(body: bytes, reason: str) -> None:
    with pytest.raises(StatusRefusedError, match=reason):
        read_status(TOPIC, body, retained=False, received=1.0)


def test_a_bad_topic_is_refused() -> None:
    with pytest.raises(StatusRefusedError):
        read_status("vigil/v1/site-a/gw-a/up/telemetry/x", _body(), retained=False, received=1.0)


def test_only_owned_sites_reach_every_listener() -> None:
    config = BrokerConfig("127.0.0.1", 1, "u", "p", "c", receive_window=1, session_expiry_s=0)
    follower = GatewayStatusFollower(config, owns={"site-a"}.__contains__)
    first: list[GatewayStatus] = []
    second: list[GatewayStatus] = []
    follower.subscribe(first.append)
    follower.subscribe(second.append)
    ours = GatewayStatus("gw-a", "site-a", False, 1.0, False, 2.0)
    follower.deliver(ours)
    follower.deliver(GatewayStatus("gw-z", "site-z", False, 1.0, False, 2.0))
    assert first == second == [ours]
