"""The alerting web app: the live stream and the SMS provider's webhooks.

`create_app(settings)` is what uvicorn serves (`vigil alerting serve`); the console's routers
are included here too. A lifespan owns the live hub's LISTEN task.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from alerting.live import LiveHub
from alerting.live import router as live_router
from alerting.sms.webhooks import router as sms_router
from vigil.db.connect import database_url
from vigil.settings import Settings


def create_app(settings: Settings, *, dsn: str | None = None) -> FastAPI:
    dsn = dsn or database_url(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub = LiveHub(dsn)
        app.state.live_hub = hub
        task = asyncio.create_task(hub.run())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(title="Vigil alerting", lifespan=lifespan)
    app.state.settings = settings
    app.state.dsn = dsn
    app.include_router(live_router)
    app.include_router(sms_router)

    @app.get("/api/health")
    async def health() -> dict[str, bool]:
        return {"live": app.state.live_hub.ready.is_set()}

    return app
