"""The console app on a database of its own, seeded with a small district, and a signed-in
client per role."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from console.api.ratelimit import LoginLimiter
from console.app import create_app
from tests.console.seed import PASSWORD, USERS, seed_district
from vigil.harness import scratch_database
from vigil.settings import Settings
from vigil.stack import LocalStack


@contextmanager
def seeded_database(stack: LocalStack, template: str) -> Iterator[str]:
    """A migrated database of its own (a copy of `template`, the session's schema_template)
    with the seed district; dropped afterwards."""
    with scratch_database(stack, prefix="console", template=template) as dsn:
        with psycopg.connect(dsn) as conn:
            seed_district(conn)
        yield dsn


@contextmanager
def running_app(dsn: str, settings: Settings) -> Iterator[FastAPI]:
    """The console app on `dsn`, its lifespan entered (the pool is open) until the block ends."""
    app = create_app(settings.model_copy(update={"database_url": SecretStr(dsn)}))
    with TestClient(app):
        yield app


@pytest.fixture(scope="session")
def console_dsn(stack: LocalStack, schema_template: str) -> Iterator[str]:
    with seeded_database(stack, schema_template) as dsn:
        yield dsn


@pytest.fixture(scope="session")
def console_app(console_dsn: str, settings: Settings) -> Iterator[FastAPI]:
    with running_app(console_dsn, settings) as app:
        yield app


@pytest.fixture
def anon(console_app: FastAPI) -> TestClient:
    return TestClient(console_app)


def sign_in(app: FastAPI, username: str, password: str = PASSWORD) -> TestClient:
    """A client carrying the user's bearer token (and no cookie)."""
    client = TestClient(app)
    response = client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    client.cookies.clear()
    client.headers["Authorization"] = f"Bearer {response.json()['token']}"
    return client


@pytest.fixture(scope="session")
def clients(console_app: FastAPI) -> dict[str, TestClient]:
    """One signed-in client per seeded user: op, sup, gm1, gm2, inst, admin."""
    return {username: sign_in(console_app, username) for username in USERS}


@pytest.fixture
def db(console_dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(console_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def fresh_limiter(console_app: FastAPI) -> Iterator[None]:
    """Rate-limit tests leave no failures behind for the other tests' sign-ins."""
    console_app.state.limiter = LoginLimiter()
    yield
    console_app.state.limiter = LoginLimiter()
