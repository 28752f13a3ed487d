"""The live stream sends a grid member only what REST would show them.

Issue 14 (3): a grid member subscribed to their own grid received other grids' incidents with
addresses, family phone numbers and SMS texts, because messages without a grid went to everyone
(an incident's grid is often only its building's). Each case below is sent before an incident
of the member's own grid, so the first message after the snapshot must be that one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from websockets.sync.client import connect

from tests.alerting.running import AppServer
from tests.console.seed import PASSWORD, open_incident
from vigil.harness import wait_for
from vigil.settings import Settings

pytestmark = [pytest.mark.stack, pytest.mark.security]


def _notify(dsn: str, channel: str, payload: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("select pg_notify(%s, %s)", (channel, payload))


def _incident(dsn: str, household: str) -> int:
    with psycopg.connect(dsn) as conn:
        incident = open_incident(conn, household=household)
        conn.execute("select pg_notify('vigil_incident', %s)", (str(incident),))
    return incident


@pytest.fixture(autouse=True)
def _close_ours(console_dsn: str) -> Iterator[None]:
    """The seed allows one open panic per household: close what a test opened."""
    with psycopg.connect(console_dsn, autocommit=True) as conn:
        row = conn.execute("select coalesce(max(id), 0) from incidents").fetchone()
    yield
    with psycopg.connect(console_dsn, autocommit=True) as conn:
        conn.execute(
            "update incidents set state = 'resolved', closed_at = now() where id > %s",
            (row[0] if row else 0,),
        )


def _user_id(dsn: str, username: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("select id from users where username = %s", (username,)).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture(scope="module")
def server(console_dsn: str) -> Iterator[AppServer]:
    """A real server: the hub's queues live on its event loop (a TestClient runs another)."""
    with AppServer(Settings(), console_dsn) as app:
        wait_for(lambda: _ready(app), what="the live stream to listen")
        yield app


def _ready(app: AppServer) -> bool:
    return bool(httpx.get(app.url + "/api/health", timeout=5).json()["live"])


def _token(app: AppServer, username: str) -> dict[str, str]:
    answer = httpx.post(
        app.url + "/api/auth/login", json={"username": username, "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


@contextmanager
def _stream(
    app: AppServer, username: str, sse: bool, path: str = "/api/live?grid_id=g1"
) -> Iterator[Callable[[], dict[str, Any]]]:
    """Yields a function returning the next message after the snapshot."""
    headers = _token(app, username)
    if sse:
        url = app.url + path.replace("/api/live", "/api/live/sse")
        with httpx.stream("GET", url, headers=headers, timeout=10) as response:
            lines = response.iter_lines()

            def next_sse() -> dict[str, Any]:
                for line in lines:
                    if line.startswith("data: "):
                        return dict(json.loads(line[6:]))
                raise AssertionError("the stream ended")

            assert next_sse()["type"] == "snapshot"
            yield next_sse
    else:
        url = f"ws://127.0.0.1:{app.port}{path}"
        with connect(url, open_timeout=5, additional_headers=headers) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
            yield lambda: dict(json.loads(ws.recv(timeout=10)))


def _leaks(console_dsn: str) -> list[tuple[str, str]]:
    other = _user_id(console_dsn, "gm2")
    return [
        ("vigil_device_health", json.dumps({"kind": "gateway", "gateway_id": "gw2"})),
        ("vigil_demo_sms", json.dumps({"id": 1, "recipient": "+8613900000002", "body": "王2"})),
        ("vigil_notification", json.dumps({"id": 7, "incident_id": None, "user_id": other,
                                           "recipient": "gm-g2", "body": "和平路2号"})),
    ]  # fmt: skip


@pytest.mark.parametrize("sse", [False, True], ids=["websocket", "sse"])
def test_a_grid_member_gets_nothing_of_another_grid(
    server: AppServer, console_dsn: str, clients: dict[str, TestClient], sse: bool
) -> None:
    with _stream(server, "gm1", sse) as receive:
        # Another grid's incident (no grid of its own: its building's is g2), district news, a
        # notification for someone else; then one incident of g1.
        theirs = _incident(console_dsn, "h2")
        for channel, payload in _leaks(console_dsn):
            _notify(console_dsn, channel, payload)
        mine = _incident(console_dsn, "h1")
        first = receive()
    assert first["type"] == "incident"
    assert first["incident"]["id"] == mine, f"received incident {first['incident']['id']}"
    assert clients["gm1"].get(f"/api/incidents/{theirs}").status_code == 404
    assert clients["gm1"].get(f"/api/incidents/{mine}").status_code == 200


def test_a_grid_member_gets_their_own_notifications(server: AppServer, console_dsn: str) -> None:
    me = _user_id(console_dsn, "gm1")
    with _stream(server, "gm1", sse=False) as receive:
        _notify(console_dsn, "vigil_notification", json.dumps({"id": 8, "user_id": me}))
        assert receive()["payload"]["id"] == 8


def test_district_staff_still_get_everything(server: AppServer, console_dsn: str) -> None:
    with _stream(server, "op", sse=False, path="/api/live") as receive:
        theirs = _incident(console_dsn, "h2")
        assert receive()["incident"]["id"] == theirs
        _notify(console_dsn, "vigil_device_health", json.dumps({"gateway_id": "gw2"}))
        assert receive()["type"] == "device_health"
