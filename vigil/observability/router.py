"""`/metrics` and `/healthz` as a FastAPI router, for the console (which already serves HTTP)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from vigil.observability.health import Health
from vigil.observability.server import HEALTH_PATH, METRICS_PATH


def observability_router(
    registry: CollectorRegistry, health: Health, *, metrics: bool = True
) -> APIRouter:
    """Include with `app.include_router(...)`; keep both paths outside the console's login.

    Without `metrics` only the health check is served: in production the figures go out on
    the metrics port (VIGIL_METRICS_PORT), which is not published, not on the public one."""
    router = APIRouter(tags=["observability"])
    if metrics:
        _metrics_route(router, registry)

    @router.get(HEALTH_PATH)
    def healthz() -> JSONResponse:
        report = health.report()
        return JSONResponse(report.as_json(), status_code=report.http_status)

    return router


def _metrics_route(router: APIRouter, registry: CollectorRegistry) -> None:
    # Plain `def`: FastAPI runs these in its thread pool, so a check that blocks does not stall
    # the event loop that carries the live alarm stream.
    @router.get(METRICS_PATH, response_class=Response)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
