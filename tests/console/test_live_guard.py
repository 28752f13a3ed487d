"""The live stream's gate: signed in, allowed to read incidents, a grid member on their grid."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.console.conftest import sign_in
from tests.console.seed import PASSWORD

pytestmark = [pytest.mark.stack, pytest.mark.security]


def _token(client: TestClient) -> dict[str, str]:
    return {"Authorization": client.headers["Authorization"]}


@pytest.mark.parametrize(
    ("username", "path"),
    [
        (None, "/api/live"),
        ("inst", "/api/live"),  # installers never see incidents
        ("gm1", "/api/live"),  # a grid member must name their grid...
        ("gm1", "/api/live?grid_id=g2"),  # ...and only theirs
    ],
)
def test_the_stream_refuses(
    console_app: FastAPI, clients: dict[str, TestClient], username: str | None, path: str
) -> None:
    headers = _token(clients[username]) if username else {}
    client = TestClient(console_app)
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect(path, headers=headers),
    ):
        pass
    assert refused.value.code == 1008


@pytest.mark.parametrize(
    ("username", "path"), [("op", "/api/live"), ("gm1", "/api/live?grid_id=g1")]
)
def test_the_stream_starts_with_a_snapshot(
    console_app: FastAPI, clients: dict[str, TestClient], username: str, path: str
) -> None:
    with TestClient(console_app).websocket_connect(path, headers=_token(clients[username])) as ws:
        assert json.loads(ws.receive_text())["type"] == "snapshot"


def test_the_browser_cookie_opens_the_stream(console_app: FastAPI) -> None:
    client = TestClient(console_app)
    response = client.post("/api/auth/login", json={"username": "sup", "password": PASSWORD})
    assert response.status_code == 200
    with client.websocket_connect("/api/live") as ws:
        assert json.loads(ws.receive_text())["type"] == "snapshot"


def test_the_event_stream_is_gated_too(console_app: FastAPI) -> None:
    assert TestClient(console_app).get("/api/live/sse").status_code == 401
    installer = sign_in(console_app, "inst")
    assert installer.get("/api/live/sse").status_code == 403
