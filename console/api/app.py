"""The console's part of the web app: routers under /api, error mapping, /metrics and
/healthz, and the static console; `console.app.create_app` mounts it."""

from __future__ import annotations

from pathlib import Path

import psycopg
from fastapi import APIRouter, FastAPI, Request, status
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from psycopg_pool import ConnectionPool

from console.api.ratelimit import LoginLimiter
from console.api.routes import (
    auth,
    buildings,
    cap,
    commissioning,
    config,
    contacts,
    devices,
    district,
    field,
    gateways,
    grids,
    households,
    hush,
    imports,
    incidents,
    reports,
    residents,
    routines,
    seats,
    sites,
    source_events,
    users,
    webhooks,
    wecom,
)
from vigil.db.connect import Conn
from vigil.observability import CONSOLE, Health, flag, registry_for
from vigil.observability.router import observability_router
from vigil.settings import Settings

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


def api_router() -> APIRouter:
    api = APIRouter(prefix="/api")
    for module in (
        auth,
        config,
        seats,
        incidents,
        hush,
        devices,
        households,
        residents,
        contacts,
        gateways,
        grids,
        district,
        users,
        reports,
        sites,
        buildings,
        imports,
        commissioning,
        source_events,
        wecom,
        cap,
        webhooks,
        routines,
        field,
    ):
        api.include_router(module.router)
    return api


def make_pool(dsn: str) -> ConnectionPool[Conn]:
    """A closed pool for the request handlers; the app's lifespan opens and closes it. Each
    connection is checked (one round trip) before it is handed out: after a database restart
    the idle ones are dead, and each would fail one request with a 500."""
    return ConnectionPool(
        dsn,
        min_size=2,
        max_size=10,
        open=False,
        timeout=10.0,
        name="console",
        check=ConnectionPool.check_connection,
    )


def _db_message(exc: Exception) -> str:
    if isinstance(exc, psycopg.Error) and exc.diag.message_primary:
        return exc.diag.message_primary
    return str(exc)


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    """A write the schema refuses (a race past the router's own checks): a conflict, not a 500."""
    return JSONResponse(
        {"detail": f"refused by the database: {_db_message(exc)}"},
        status_code=status.HTTP_409_CONFLICT,
    )


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": f"invalid value: {_db_message(exc)}"},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


def mount_console(app: FastAPI, settings: Settings, pool: ConnectionPool[Conn]) -> None:
    """Add the console's API and pages to `app`; `pool` must be opened by the app's lifespan."""
    app.state.settings = settings
    app.state.pool = pool
    app.state.limiter = LoginLimiter()
    app.include_router(api_router())
    health = Health("console", {"database pool": flag(lambda: not pool.closed, "pool closed")})
    public_metrics = settings.env != "production"  # production: on the metrics port (cli.py)
    app.include_router(observability_router(registry_for(CONSOLE), health, metrics=public_metrics))
    app.add_exception_handler(psycopg.errors.IntegrityError, _integrity_error)
    app.add_exception_handler(psycopg.DataError, _data_error)
    app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="console")
