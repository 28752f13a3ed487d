"""The HTTP side in process: answered only after acknowledgement, 503 then a retry that is not
staged twice, staged pushes sent again after a restart, bounded bodies."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from gateway.platforms import fake
from gateway.platforms.app import Account, PlatformApp
from gateway.platforms.pushes import Source
from tests.gateway.platforms.helpers import LIAN_ID, LIAN_IMEI, FakeSink, receiver

TOKEN = "t0ken"
URL = f"http://platform/ctwing/acct?token={TOKEN}"


def app(tmp: Path, sink: FakeSink, *, ack_timeout_s: float = 0.3) -> PlatformApp:
    return PlatformApp(receiver(tmp), sink, [Account("acct", Source.CTWING, TOKEN)],
                       max_body=4096, ack_timeout_s=ack_timeout_s)  # fmt: skip


def alarm(status: int = 1, t: float = 1_800_000_000.0) -> bytes:
    data = {"Alarm_Status": status, "Battery_Level": 90}
    return fake.ctwing_body(fake.ctwing_data(LIAN_IMEI, LIAN_ID, "15014772", data, t=t))


async def post(a: PlatformApp, body: bytes, url: str = URL) -> int:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=a)) as client:
        return (await client.post(url, content=body)).status_code


def test_not_acknowledged_in_time_is_503_and_the_retry_waits_for_the_same_ack(
    tmp_path: Path,
) -> None:
    sink = FakeSink(auto_ack=False)
    a = app(tmp_path, sink)

    async def scenario() -> tuple[int, int]:
        await post(a, alarm(7, 1_800_000_000.0 - 1))  # baseline, readings only: answered
        first = await post(a, alarm())  # the broker does not acknowledge in time
        retry = asyncio.create_task(post(a, alarm()))
        await asyncio.sleep(0.1)
        sink.ack_all()
        return first, await retry

    first, retried = asyncio.run(scenario())
    assert (first, retried) == (503, 200)
    assert [(e.kind, e.value) for e in sink.events] == [("smoke_alarm", 1.0)]  # staged once


def test_staged_pushes_are_sent_again_after_a_restart(tmp_path: Path) -> None:
    sink = FakeSink(auto_ack=False)
    a = app(tmp_path, sink)
    assert asyncio.run(post(a, alarm(7, 1_799_999_999.0))) == 200
    assert asyncio.run(post(a, alarm())) == 503
    a.receiver.state.close()  # the process stops before the broker acknowledged
    again = FakeSink()
    b = app(tmp_path, again)

    async def restart() -> int:
        return b.replay()

    assert asyncio.run(restart()) == 1
    assert [(e.kind, e.value) for e in again.events] == [("smoke_alarm", 1.0)]
    assert [e.seq for e in again.events] == [e.seq for e in sink.events]  # the same event
    assert asyncio.run(post(b, alarm())) == 200  # the platform's retry: already accepted
    assert len(again.events) == 1


def test_refusals(tmp_path: Path) -> None:
    sink = FakeSink()
    a = app(tmp_path, sink)
    assert asyncio.run(post(a, alarm(), URL.replace(TOKEN, "nope"))) == 401
    assert asyncio.run(post(a, b"x" * 5000)) == 413
    assert asyncio.run(post(a, b"{not json")) == 400
    assert asyncio.run(post(a, alarm(), "http://platform/ctwing/other?token=t0ken")) == 404
    assert sink.events == []
    reasons = [d[3] for d in a.receiver.state.dead_letters()]
    assert reasons == ["malformed"]


def test_until_the_registry_is_loaded_pushes_are_answered_503(tmp_path: Path) -> None:
    sink = FakeSink()
    loaded = False
    a = PlatformApp(receiver(tmp_path), sink, [Account("acct", Source.CTWING, TOKEN)],
                    ready=lambda: loaded)  # fmt: skip
    assert asyncio.run(post(a, alarm(7))) == 503
    assert a.receiver.state.dead_letters() == []  # not taken for an unknown device
    loaded = True
    assert asyncio.run(post(a, alarm(7))) == 200
