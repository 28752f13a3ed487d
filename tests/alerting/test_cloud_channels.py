"""Alibaba Cloud and Tencent Cloud SMS and the family's voice call, end to end: the providers'
own SDKs against loopback servers that check their signatures, the notifier, the receipt
callbacks on the app, and the incident's timeline in the real database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr

from alerting.errors import SmsError
from alerting.notifier import notification_backoff
from alerting.policies import PolicyBook
from alerting.sms.aliyun import AliyunSmsProvider, aliyun_config
from alerting.sms.base import Template
from alerting.sms.demo import DemoProvider
from alerting.sms.tencent import TencentSmsProvider
from alerting.triage import triage_pending
from alerting.voice.aliyun import AliyunVoiceProvider
from alerting.voice.demo import DemoVoiceProvider
from tests.alerting.fix_alerting import FAST_POLICY, raise_alert, seed
from tests.alerting.fix_cloud import (
    ALI_KEY_ID,
    ALI_SECRET,
    ALI_TEMPLATE_SETTINGS,
    SHOW_NUMBER,
    SIGN_NAME,
    TC_APP_ID,
    TC_SECRET_ID,
    TC_SECRET_KEY,
    TC_TEMPLATE_SETTINGS,
    TTS_CODE,
    FakeAliyun,
    FakeTencentSms,
    post_json,
)
from tests.alerting.running import AppServer, NotifierThread
from vigil.harness import wait_for
from vigil.settings import Settings

pytestmark = pytest.mark.stack

TOKEN = "cb-token-0123456789"
FIRST, SECOND = "+8613800000001", "+8613800000002"
ORDER = ["open", "sms_sent", "call_placed", "call_key", "family_ack"]
CALL_AFTER_S = 2  # the policy's delay; the bundled policy says 120 s for panic and fire
FAMILY_CALL = f"""
[family_call]
after_s = {CALL_AFTER_S}
causes = ["panic", "fire"]
min_severity = 3
"""


@pytest.fixture
def call_policy(tmp_path: Path) -> Path:
    folder = tmp_path / "call-policies"
    folder.mkdir()
    text = FAST_POLICY.replace("sms_min_severity = 1\n", "sms_min_severity = 1\n" + FAMILY_CALL)
    (folder / "fast.toml").write_text(text, encoding="utf-8")
    return folder


def _aliyun_sms(fake: FakeAliyun, secret: str = ALI_SECRET) -> AliyunSmsProvider:
    config = aliyun_config(
        access_key_id=ALI_KEY_ID, access_key_secret=secret, endpoint=fake.endpoint, protocol="http"
    )
    return AliyunSmsProvider(config, sign_name=SIGN_NAME, templates=ALI_TEMPLATE_SETTINGS)


def _voice(fake: FakeAliyun) -> AliyunVoiceProvider:
    config = aliyun_config(
        access_key_id=ALI_KEY_ID,
        access_key_secret=ALI_SECRET,
        endpoint=fake.endpoint,
        protocol="http",
    )
    return AliyunVoiceProvider(config, show_number=SHOW_NUMBER, tts_code=TTS_CODE)


def _tencent(fake: FakeTencentSms, key: str = TC_SECRET_KEY) -> TencentSmsProvider:
    return TencentSmsProvider(
        secret_id=TC_SECRET_ID,
        secret_key=key,
        endpoint=fake.endpoint,
        protocol="http",
        region="ap-guangzhou",
        app_id=TC_APP_ID,
        sign_name=SIGN_NAME,
        templates=TC_TEMPLATE_SETTINGS,
    )


def _app(adb: str, policies: Path) -> AppServer:
    return AppServer(Settings(escalation_dir=policies, callback_token=SecretStr(TOKEN)), adb)


def _panic(conn: psycopg.Connection[Any], policies: Path, contacts: tuple[str, ...]) -> int:
    seed(conn, contacts=tuple((c, "zh") for c in contacts))
    raise_alert(conn, kind="panic", device="pb-1", severity=5)
    [iid] = triage_pending(conn, PolicyBook(policies), now=datetime.now(UTC))
    return iid


def _timeline(conn: psycopg.Connection[Any], iid: int) -> list[tuple[str, str, datetime, str]]:
    return [
        (str(a), str(actor), at, str(note or ""))
        for a, actor, at, note in conn.execute(
            "select action, actor, at, note from incident_timeline where incident_id = %s "
            "order by at, id",
            (iid,),
        ).fetchall()
    ]


def _actions(conn: psycopg.Connection[Any], iid: int) -> list[str]:
    return [a for a, _, _, _ in _timeline(conn, iid)]


def _family_rows(conn: psycopg.Connection[Any], iid: int) -> list[tuple[Any, ...]]:
    return conn.execute(
        "select channel, recipient, status, provider, provider_id, kind from notification_outbox "
        "where incident_id = %s and kind in ('family_alarm', 'family_call') order by id",
        (iid,),
    ).fetchall()


def test_panic_with_a_voice_step_shows_sms_call_key_and_ack_in_order(
    adb: str, conn: psycopg.Connection[Any], call_policy: Path, aliyun: FakeAliyun
) -> None:
    iid = _panic(conn, call_policy, (FIRST,))
    with (
        _app(adb, call_policy) as app,
        NotifierThread(adb, _aliyun_sms(aliyun), voice=_voice(aliyun)),
    ):
        [sms] = wait_for(
            lambda: [s for s in aliyun.sent if s.phone == "13800000001"], what="the family SMS"
        )
        assert sms.sign == SIGN_NAME
        assert sms.template == ALI_TEMPLATE_SETTINGS["family_alarm.zh"]
        assert sms.params == {"place": "幸福路8号3号楼502", "what": "紧急呼叫"}
        assert aliyun.push_sms_reports(f"{app.url}/api/callbacks/aliyun/sms/{TOKEN}", [sms]) == 200
        wait_for(
            lambda: any(r[2] == "delivered" for r in _family_rows(conn, iid) if r[0] == "sms"),
            what="the SMS receipt applied",
        )
        [call] = wait_for(lambda: aliyun.calls, timeout=CALL_AFTER_S + 10, what="the call")
        assert call.phone == "13800000001"
        assert call.params["name"] == "张奶奶"
        voice_url = f"{app.url}/api/callbacks/aliyun/voice/{TOKEN}"
        assert aliyun.answer_call(voice_url, call, key="1") == [200, 200, 200]
        wait_for(lambda: "family_ack" in _actions(conn, iid), what="the family's ack")
    timeline = _timeline(conn, iid)
    actions = [a for a, _, _, _ in timeline]
    assert [a for a in actions if a in ORDER] == ORDER, actions
    at = {a: t for a, _, t, _ in reversed(timeline)}
    gap = (at["call_placed"] - at["open"]).total_seconds()
    assert CALL_AFTER_S <= gap <= CALL_AFTER_S + 5, gap  # the policy's delay, not sooner
    ack = next(t for t in timeline if t[0] == "family_ack")
    assert ack[1] == f"voice:{FIRST}"
    assert "1" in ack[3]
    rows = _family_rows(conn, iid)
    assert ("sms", FIRST, "delivered", "aliyun", sms.provider_id, "family_alarm") in rows
    assert ("voice", FIRST, "delivered", "aliyun_voice", call.call_id, "family_call") in rows
    assert len(aliyun.calls) == 1
    assert [s.phone for s in aliyun.sent].count("13800000001") == 1


def test_no_answer_calls_the_next_contact_then_the_next_tier(
    adb: str, conn: psycopg.Connection[Any], call_policy: Path, aliyun: FakeAliyun
) -> None:
    iid = _panic(conn, call_policy, (FIRST, SECOND))
    tier_before = conn.execute(
        "select escalation_tier from incidents where id = %s", (iid,)
    ).fetchone()
    with (
        _app(adb, call_policy) as app,
        NotifierThread(adb, _aliyun_sms(aliyun), voice=_voice(aliyun)),
    ):
        url = f"{app.url}/api/callbacks/aliyun/voice/{TOKEN}"
        [first] = wait_for(lambda: aliyun.calls, timeout=CALL_AFTER_S + 10, what="call 1")
        assert first.phone == "13800000001"
        assert aliyun.no_answer(url, first) == 200
        second = wait_for(lambda: aliyun.calls[1] if len(aliyun.calls) > 1 else None, what="call 2")
        assert second.phone == "13800000002"
        assert aliyun.answer_call(url, second, key="9") == [200, 200, 200]  # a wrong key
        wait_for(lambda: "escalate" in _actions(conn, iid), what="the escalation")
        assert aliyun.no_answer(url, second) == 200  # a repeated receipt changes nothing
    actions = _actions(conn, iid)
    assert actions.count("call_unanswered") == 2
    assert "family_ack" not in actions
    assert actions.count("escalate") == 1
    tier_after = conn.execute(
        "select escalation_tier from incidents where id = %s", (iid,)
    ).fetchone()
    assert tier_before is not None
    assert tier_after is not None
    assert tier_after[0] == tier_before[0] + 1
    told = conn.execute(
        "select count(*) from notification_outbox where incident_id = %s and kind = 'responder' "
        "and recipient = '+8613900000003'",
        (iid,),
    ).fetchone()
    assert told is not None
    assert told[0] == 1


def test_a_family_reply_before_the_call_cancels_it(
    adb: str, conn: psycopg.Connection[Any], call_policy: Path, aliyun: FakeAliyun
) -> None:
    iid = _panic(conn, call_policy, (FIRST,))
    conn.execute(
        "insert into incident_timeline (incident_id, actor, action, note) "
        "values (%s, %s, 'family_ack', '1')",
        (iid, f"sms:{FIRST}"),
    )
    with NotifierThread(adb, _aliyun_sms(aliyun), voice=_voice(aliyun)):
        wait_for(
            lambda: "call_cancelled" in _actions(conn, iid),
            timeout=CALL_AFTER_S + 10,
            what="the call cancelled",
        )
    assert aliyun.calls == []


def test_callbacks_with_a_wrong_token_are_refused_and_record_nothing(
    adb: str, conn: psycopg.Connection[Any], call_policy: Path
) -> None:
    with _app(adb, call_policy) as app:
        for path in ("aliyun/sms", "tencent/sms", "aliyun/voice"):
            status, _ = post_json(f"{app.url}/api/callbacks/{path}/wrong", [{"biz_id": "1"}])
            assert status == 403
        status, _ = post_json(f"{app.url}/api/callbacks/tencent/sms/{TOKEN}", [{"sid": "x"}])
        assert status == 400
    counted = conn.execute("select count(*) from sms_receipts").fetchone()
    assert counted is not None
    assert counted[0] == 0


def test_tencent_sms_delivers_and_takes_receipts(
    adb: str, conn: psycopg.Connection[Any], policy_dir: Path, tencent: FakeTencentSms
) -> None:
    iid = _panic(conn, policy_dir, (FIRST,))
    with _app(adb, policy_dir) as app, NotifierThread(adb, _tencent(tencent)):
        sent = wait_for(
            lambda: [s for s in tencent.sent if s.phone == FIRST] or None, what="the family SMS"
        )
        assert sent[0].params == ["幸福路8号3号楼502", "紧急呼叫"]
        assert sent[0].ref.startswith("t")  # SessionContext: our outbox key
        url = f"{app.url}/api/callbacks/tencent/sms/{TOKEN}"
        assert tencent.push_status(url, sent) == 200
        wait_for(
            lambda: (
                ("sms", FIRST, "delivered", "tencent", sent[0].provider_id, "family_alarm")
                in _family_rows(conn, iid)
            ),
            what="the receipt applied",
        )
    assert tencent.refused_signatures == 0


def test_error_codes_retry_or_give_up_with_the_reason_on_the_timeline(
    adb: str, conn: psycopg.Connection[Any], policy_dir: Path, aliyun: FakeAliyun
) -> None:
    aliyun.bad_numbers.add("13800000001")
    aliyun.limited_numbers.add("13800000002")
    iid = _panic(conn, policy_dir, (FIRST, SECOND))
    backoff = notification_backoff(initial=0.2, maximum=0.4)
    with NotifierThread(adb, _aliyun_sms(aliyun), backoff=backoff):
        wait_for(
            lambda: "notification_failed" in _actions(conn, iid), what="the bad number given up"
        )
        wait_for(lambda: "notification_delayed" in _actions(conn, iid), what="the throttled one")
        aliyun.limited_numbers.clear()
        wait_for(
            lambda: any(s.phone == "13800000002" for s in aliyun.sent), what="the retry through"
        )
    notes = {a: n for a, _, _, n in _timeline(conn, iid)}
    assert "isv.MOBILE_NUMBER_ILLEGAL" in notes["notification_failed"]
    assert notes["notification_failed"].index("不再重试") < notes["notification_failed"].index(
        "given up"
    )  # Chinese first
    assert "isv.BUSINESS_LIMIT_CONTROL" in notes["notification_delayed"]
    assert [s.phone for s in aliyun.sent].count("13800000002") == 1
    assert not any(s.phone == "13800000001" for s in aliyun.sent)


def test_a_lost_answer_is_not_sent_twice_by_alibaba_cloud(
    adb: str, conn: psycopg.Connection[Any], policy_dir: Path, aliyun: FakeAliyun
) -> None:
    aliyun.lose_answer_to.add("13800000001")  # the provider takes it; its answer never comes
    iid = _panic(conn, policy_dir, (FIRST,))
    backoff = notification_backoff(initial=0.2, maximum=0.4)
    with NotifierThread(adb, _aliyun_sms(aliyun), backoff=backoff):
        wait_for(
            lambda: all(r[2] == "sent" for r in _family_rows(conn, iid) if r[0] == "sms"),
            what="the family SMS recorded as sent",
        )
    family = [s for s in aliyun.sent if s.phone == "13800000001"]
    assert len(family) == 1, family
    [row] = [r for r in _family_rows(conn, iid) if r[0] == "sms"]
    assert row[4] == f"out:{family[0].ref}"


def test_signatures_are_checked_and_parameters_fitted(
    aliyun: FakeAliyun, tencent: FakeTencentSms
) -> None:
    long_place = "幸福路" * 20
    template = Template("family_alarm", "zh", {"place": long_place, "what": "火警"})
    with pytest.raises(SmsError) as refused:
        asyncio.run(
            _aliyun_sms(aliyun, secret="wrong").send(key="k1", to=FIRST, body="", template=template)
        )
    assert "SignatureDoesNotMatch" in str(refused.value)
    assert refused.value.provider_down
    with pytest.raises(SmsError) as refused_tc:
        asyncio.run(
            _tencent(tencent, key="wrong").send(key="k1", to=FIRST, body="", template=template)
        )
    assert "AuthFailure.SignatureFailure" in str(refused_tc.value)
    assert aliyun.refused_signatures == 1
    assert tencent.refused_signatures == 1
    asyncio.run(_aliyun_sms(aliyun).send(key="k2", to=FIRST, body="", template=template))
    asyncio.run(_tencent(tencent).send(key="k2", to=FIRST, body="", template=template))
    assert len(aliyun.sent[0].params["place"]) == 35
    assert aliyun.sent[0].params["place"][-1] == "…"
    assert len(tencent.sent[0].params[0]) == 12
    with pytest.raises(SmsError) as no_template:
        asyncio.run(_aliyun_sms(aliyun).send(key="k3", to=FIRST, body="text only"))
    assert not no_template.value.retryable


def test_the_demo_voice_provider_shows_the_whole_family_call(
    adb: str, conn: psycopg.Connection[Any], call_policy: Path
) -> None:
    """`make demo`'s providers: the same timeline as with the real services."""
    iid = _panic(conn, call_policy, (FIRST,))
    voice = DemoVoiceProvider(adb, PolicyBook(call_policy), answer_after_s=0.3)
    with NotifierThread(adb, DemoProvider(adb), voice=voice):
        wait_for(
            lambda: "family_ack" in _actions(conn, iid),
            timeout=CALL_AFTER_S + 10,
            what="the demo family's key 1",
        )
    actions = [a for a in _actions(conn, iid) if a in ORDER]
    assert actions == ORDER, actions


def test_call_receipts_quicker_than_our_commit_are_acted_on(
    adb: str, conn: psycopg.Connection[Any], call_policy: Path, aliyun: FakeAliyun
) -> None:
    iid = _panic(conn, call_policy, (FIRST,))
    with _app(adb, call_policy) as app:
        aliyun.push_before_answer = f"{app.url}/api/callbacks/aliyun/voice/{TOKEN}"
        with NotifierThread(adb, _aliyun_sms(aliyun), voice=_voice(aliyun)):
            wait_for(
                lambda: "family_ack" in _actions(conn, iid),
                timeout=CALL_AFTER_S + 10,
                what="the early key press acted on",
            )
    actions = [a for a in _actions(conn, iid) if a in ORDER]
    assert actions == ORDER, actions
    unapplied = conn.execute(
        "select count(*) from voice_events where applied_at is null"
    ).fetchone()
    assert unapplied is not None
    assert unapplied[0] == 0


def test_an_undelivered_family_sms_is_on_the_timeline(
    adb: str, conn: psycopg.Connection[Any], policy_dir: Path, tencent: FakeTencentSms
) -> None:
    iid = _panic(conn, policy_dir, (FIRST,))
    with _app(adb, policy_dir) as app, NotifierThread(adb, _tencent(tencent)):
        sent = wait_for(
            lambda: [s for s in tencent.sent if s.phone == FIRST] or None, what="the family SMS"
        )
        url = f"{app.url}/api/callbacks/tencent/sms/{TOKEN}"
        assert tencent.push_status(url, sent, success=False) == 200
        wait_for(lambda: "sms_undelivered" in _actions(conn, iid), what="the failure shown")
    note = next(n for a, _, _, n in _timeline(conn, iid) if a == "sms_undelivered")
    assert note.startswith("短信未送达")
    assert FIRST in note
    assert "MN:0001" in note
    [row] = [r for r in _family_rows(conn, iid) if r[0] == "sms"]
    assert row[2] == "failed"


def test_without_a_voice_provider_the_planned_call_is_cancelled_with_the_reason(
    adb: str, conn: psycopg.Connection[Any], call_policy: Path
) -> None:
    iid = _panic(conn, call_policy, (FIRST,))
    with NotifierThread(adb, DemoProvider(adb)):
        wait_for(
            lambda: "call_cancelled" in _actions(conn, iid),
            timeout=CALL_AFTER_S + 10,
            what="the call cancelled",
        )
    note = next(n for a, _, _, n in _timeline(conn, iid) if a == "call_cancelled")
    assert "VIGIL_VOICE_PROVIDER" in note
    assert "notification_failed" not in _actions(conn, iid)
