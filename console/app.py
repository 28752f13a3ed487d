"""The console's web app: its API and pages (`console.api`), the live stream and the SMS
provider's webhooks.

`create_app(settings)` is what uvicorn serves (`vigil console run`).
A lifespan owns the live hub's LISTEN task and the console's connection pool.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI

from alerting.sms.webhooks import router as sms_router
from console.api.app import make_pool, mount_console
from console.api.deps import live_guard
from console.api.routes.cloud_callbacks import router as cloud_callbacks_router
from console.hardening import harden
from console.live import LiveHub
from console.live import router as live_router
from vigil.db.connect import database_url
from vigil.settings import Settings


def create_app(settings: Settings, *, dsn: str | None = None) -> FastAPI:
    dsn = dsn or database_url(settings)

    pool = make_pool(dsn)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub = LiveHub(dsn)
        app.state.live_hub = hub
        await asyncio.to_thread(pool.open, wait=True)
        task = asyncio.create_task(hub.run())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await asyncio.to_thread(pool.close)

    # The API's own description is for developers: not served in production (docs/security.md).
    public_docs = settings.env != "production"
    app = FastAPI(
        title="Vigil",
        lifespan=lifespan,
        docs_url="/docs" if public_docs else None,
        redoc_url="/redoc" if public_docs else None,
        openapi_url="/openapi.json" if public_docs else None,
    )
    harden(
        app, tile_url=settings.console_tile_url, trusted_proxies=settings.console_trusted_proxies
    )
    app.state.settings = settings
    app.state.dsn = dsn
    # The stream carries residents' addresses: signed-in users only, grid members on their grid.
    app.include_router(live_router, dependencies=[Depends(live_guard)])
    app.include_router(sms_router)
    app.include_router(cloud_callbacks_router)

    @app.get("/api/health")
    async def health() -> dict[str, bool]:
        return {"live": app.state.live_hub.ready.is_set()}

    mount_console(app, settings, pool)  # last: its static pages answer every other path
    return app
