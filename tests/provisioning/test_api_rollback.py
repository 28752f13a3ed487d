"""The registry and the broker change together: a broker that cannot be reached leaves no
gateway registered, no import half-done and no revocation recorded."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from console.app import create_app
from tests.provisioning.conftest import PASSWORD, Console
from vigil.settings import Settings

pytestmark = pytest.mark.stack


@pytest.fixture
def no_broker(console: Console, settings: Settings) -> Iterator[TestClient]:
    """The console app on the same database, with its broker on a port nobody listens on."""
    cut = settings.model_copy(update={"database_url": SecretStr(console.dsn), "mqtt_port": 9})
    with TestClient(create_app(cut)) as client:
        login = client.post("/api/auth/login", json={"username": "inst", "password": PASSWORD})
        client.cookies.clear()
        client.headers["Authorization"] = f"Bearer {login.json()['token']}"
        yield client


def test_a_gateway_is_not_registered_when_the_broker_cannot_give_it_an_account(
    no_broker: TestClient, db: psycopg.Connection
) -> None:
    gw = f"gw-{uuid.uuid4().hex[:8]}"
    answer = no_broker.post("/api/gateways", json={"id": gw, "site_id": "s1", "mqtt_username": gw})
    assert answer.status_code == 503
    assert "cannot reach the broker at 127.0.0.1:9" in answer.json()["detail"]
    assert db.execute("select count(*) from gateways where id = %s", (gw,)).fetchone() == (0,)
    assert db.execute(
        "select count(*) from audit_log where target = %s", (f"gateway:{gw}",)
    ).fetchone() == (0,)


def test_an_import_with_gateways_writes_nothing_when_the_broker_is_away(
    no_broker: TestClient, db: psycopg.Connection
) -> None:
    t = uuid.uuid4().hex[:6]
    rows = [
        {"row": 2, "cells": {"kind": "household", "id": f"h-{t}", "building": "b1", "unit": "1"}},
        {"row": 3, "cells": {"kind": "gateway", "id": f"gw-{t}", "site": "s1"}},
    ]
    answer = no_broker.post("/api/import", json={"rows": rows})
    assert answer.status_code == 503
    assert db.execute("select count(*) from households where id = %s", (f"h-{t}",)).fetchone() == (
        0,
    )


def test_a_revocation_the_broker_did_not_carry_out_is_not_recorded(
    no_broker: TestClient, console: Console, db: psycopg.Connection
) -> None:
    gw = f"gw-{uuid.uuid4().hex[:8]}"
    db.execute("insert into gateways (id, site_id, mqtt_username) values (%s, 's1', %s)", (gw, gw))
    assert no_broker.post(f"/api/gateways/{gw}/revoke").status_code == 503
    assert db.execute("select revoked_at from gateways where id = %s", (gw,)).fetchone() == (None,)
