"""Sign-in, sessions, sign-out, the login limiter and the audit rows they leave."""

from __future__ import annotations

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from console.api.passwords import token_digest
from tests.console.conftest import sign_in
from tests.console.seed import PASSWORD

pytestmark = pytest.mark.stack


def _login(client: TestClient, username: str, password: str) -> int:
    return client.post(
        "/api/auth/login", json={"username": username, "password": password}
    ).status_code


def test_login_sets_an_httponly_strict_cookie_that_signs_in(console_app: FastAPI) -> None:
    client = TestClient(console_app)
    response = client.post("/api/auth/login", json={"username": "op", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["role"] == "operator"
    assert "incidents.act" in body["user"]["permissions"]
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert client.get("/api/auth/me").json()["username"] == "op"
    client.cookies.clear()
    assert client.get("/api/auth/me").status_code == 401
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.json()["username"] == "op"


def test_only_the_token_digest_is_stored(console_app: FastAPI, db: psycopg.Connection) -> None:
    client = TestClient(console_app)
    token = client.post("/api/auth/login", json={"username": "sup", "password": PASSWORD}).json()[
        "token"
    ]
    stored = db.execute("select encode(token_hash, 'hex') from console_sessions").fetchall()
    assert stored
    assert all(token not in row[0] for row in stored)


@pytest.mark.usefixtures("fresh_limiter")
def test_wrong_and_unknown_are_the_same_401_and_audited(
    console_app: FastAPI, db: psycopg.Connection
) -> None:
    client = TestClient(console_app, client=("10.1.0.1", 5000))
    wrong = client.post("/api/auth/login", json={"username": "op", "password": "nope-nope"})
    unknown = client.post("/api/auth/login", json={"username": "ghost", "password": "nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    rows = db.execute(
        "select username, host(remote_addr) from audit_log where action = 'auth.login_failed' "
        "and remote_addr = '10.1.0.1'"
    ).fetchall()
    assert sorted(rows) == [("ghost", "10.1.0.1"), ("op", "10.1.0.1")]


@pytest.mark.usefixtures("fresh_limiter")
def test_the_sixth_try_is_refused_even_with_the_right_password(console_app: FastAPI) -> None:
    client = TestClient(console_app, client=("10.1.0.2", 5000))
    assert [_login(client, "admin", "guess-guess") for _ in range(5)] == [401] * 5
    response = client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
    assert response.status_code == 429
    assert 1 <= int(response.headers["retry-after"]) <= 300
    other = TestClient(console_app, client=("10.1.0.3", 5000))
    assert _login(other, "inst", PASSWORD) == 200


def test_logout_ends_the_session(console_app: FastAPI, db: psycopg.Connection) -> None:
    client = sign_in(console_app, "inst")
    assert client.post("/api/auth/logout").status_code == 204
    assert client.get("/api/auth/me").status_code == 401
    assert db.execute(
        "select count(*) from audit_log where action = 'auth.logout' and username = 'inst'"
    ).fetchone() == (1,)


def test_an_expired_session_is_refused(console_app: FastAPI, db: psycopg.Connection) -> None:
    client = sign_in(console_app, "gm2")
    assert client.get("/api/auth/me").status_code == 200
    token = client.headers["Authorization"].removeprefix("Bearer ")
    db.execute(  # this session only: the session-wide gm2 client's stays valid for other tests
        "update console_sessions set expires_at = now() - interval '1 second' "
        "where token_hash = %s",
        (token_digest(token),),
    )
    assert client.get("/api/auth/me").status_code == 401


def test_a_garbage_token_is_refused(anon: TestClient) -> None:
    response = anon.get("/api/auth/me", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_disabling_a_user_ends_their_sessions_and_sign_in(
    console_app: FastAPI, clients: dict[str, TestClient]
) -> None:
    admin = clients["admin"]
    created = admin.post(
        "/api/users",
        json={
            "username": "temp-op",
            "display_name": "临时",
            "role": "operator",
            "password": "temp-password",
        },
    )
    assert created.status_code == 201, created.text
    temp = sign_in(console_app, "temp-op", "temp-password")
    assert temp.get("/api/auth/me").status_code == 200
    user_id = created.json()["id"]
    assert admin.patch(f"/api/users/{user_id}", json={"disabled": True}).status_code == 200
    assert temp.get("/api/auth/me").status_code == 401
    assert _login(TestClient(console_app), "temp-op", "temp-password") == 401


def test_changing_ones_password(console_app: FastAPI) -> None:
    admin = sign_in(console_app, "admin")
    admin.post(
        "/api/users",
        json={"username": "pw-user", "display_name": "pw", "role": "installer",
              "password": "first-password"},
    )  # fmt: skip
    user = sign_in(console_app, "pw-user", "first-password")
    other_session = sign_in(console_app, "pw-user", "first-password")
    wrong = user.post(
        "/api/auth/password",
        json={"current_password": "not-it-at-all", "new_password": "second-password"},
    )
    assert wrong.status_code == 403
    ok = user.post(
        "/api/auth/password",
        json={"current_password": "first-password", "new_password": "second-password"},
    )
    assert ok.status_code == 204
    assert user.get("/api/auth/me").status_code == 200
    assert other_session.get("/api/auth/me").status_code == 401
    assert _login(TestClient(console_app), "pw-user", "second-password") == 200
