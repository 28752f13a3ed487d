"""`/metrics` and `/healthz` as a FastAPI router, for the console (which already serves HTTP)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from vigil.observability.health import Health
from vigil.observability.server import HEALTH_PATH, METRICS_PATH


def observability_router(registry: CollectorRegistry, health: Health) -> APIRouter:
    """Include with `app.include_router(...)`; keep both paths outside the console's login."""
    router = APIRouter(tags=["observability"])

    # Plain `def`: FastAPI runs these in its thread pool, so a check that blocks does not stall
    # the event loop that carries the live alarm stream.
    @router.get(METRICS_PATH, response_class=Response)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @router.get(HEALTH_PATH)
    def healthz() -> JSONResponse:
        report = health.report()
        return JSONResponse(report.as_json(), status_code=report.http_status)

    return router
