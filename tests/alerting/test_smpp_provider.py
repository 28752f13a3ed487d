"""The SMPP provider against the loopback SMSC: binding, long Chinese texts, receipts, replies,
and what it tells the SMSC when a reply cannot be recorded."""

from __future__ import annotations

import asyncio
import time

import pytest

from alerting.errors import SmsError
from alerting.sms.base import DeliveryReport, Inbound
from alerting.sms.smpp import SmppProvider
from tests.alerting import smsc_codec as pdu
from tests.alerting.fix_smpp import FakeSmsc


class Events:
    def __init__(self, *, fail: bool = False) -> None:
        self.receipts: list[DeliveryReport] = []
        self.inbound: list[Inbound] = []
        self.fail = fail

    async def on_receipt(self, provider: str, report: DeliveryReport) -> None:
        self.receipts.append(report)

    async def on_inbound(self, provider: str, message: Inbound) -> None:
        if self.fail:
            raise RuntimeError("database down")
        self.inbound.append(message)


def _provider(smsc: FakeSmsc, password: str = "secret") -> SmppProvider:
    return SmppProvider(
        host="127.0.0.1",
        port=smsc.port,
        system_id="vigil",
        password=password,
        source_addr="10690000",
        timeout=2.0,
    )


async def _until(check: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:  # type: ignore[operator]
        await asyncio.sleep(0.02)


def test_long_chinese_text_arrives_whole_with_a_receipt(smsc: FakeSmsc) -> None:
    text = "【Vigil】" + "幸福路8号3号楼502紧急呼叫，社区正在处理。" * 4
    events = Events()

    async def scenario() -> str:
        provider = _provider(smsc)
        await provider.start(events)
        message_id = await provider.send(
            key="t1:sms:+8613800000001", to="+8613800000001", body=text
        )
        await _until(lambda: len(events.receipts) >= 2)
        await provider.close()
        return message_id

    message_id = asyncio.run(scenario())
    assert smsc.texts_to("+8613800000001") == [text]
    parts = [m for m in smsc.messages if m.destination == "8613800000001"]
    assert [m.segment for m in parts] == [(1, 2), (2, 2)]
    assert len({m.user_reference for m in parts}) == 1
    assert events.receipts[0].provider_id == message_id
    assert events.receipts[0].delivered


def test_a_wrong_password_is_a_provider_outage(smsc: FakeSmsc) -> None:
    async def scenario() -> None:
        provider = _provider(smsc, password="wrong")
        try:
            await provider.send(key="k", to="+8613800000001", body="hi")
        finally:
            await provider.close()

    with pytest.raises(SmsError, match="refused bind_transceiver: status 0x0e") as caught:
        asyncio.run(scenario())
    assert caught.value.provider_down


def test_replies_are_acknowledged_only_once_recorded(smsc: FakeSmsc) -> None:
    async def scenario(events: Events) -> None:
        provider = _provider(smsc)
        await provider.start(events)
        await _until(lambda: smsc.bound)
        before = len(smsc.responses)
        smsc.send_mo("+8613800000001", "收到")
        await _until(lambda: len(smsc.responses) > before)
        await provider.close()

    events = Events()
    asyncio.run(scenario(events))
    assert [(m.sender, m.body) for m in events.inbound] == [("+8613800000001", "收到")]
    assert smsc.responses[-1] == (pdu.Command.DELIVER_SM_RESP, pdu.Status.ROK)
    asyncio.run(scenario(Events(fail=True)))
    assert smsc.responses[-1] == (pdu.Command.DELIVER_SM_RESP, pdu.Status.RX_T_APPN)
