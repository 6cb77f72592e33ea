"""Liveness, readiness and metrics.

``/health`` and ``/ready`` are open (load balancers probe them; they return no data beyond model
versions). ``/metrics`` needs a data_scientist or admin key like every other data route: Prometheus
sends it with ``authorization: {type: Bearer, credentials_file: ...}`` in its scrape config.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from serving.deps import MetricsDep, StoreDep, require_roles
from serving.schemas import ErrorResponse

router = APIRouter(tags=["health"])


@router.get("/health", summary="The process is alive")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="200 once every served model is loaded, else 503",
            responses={503: {"description": "Models still loading or unavailable"}})
def ready(store: StoreDep) -> JSONResponse:
    loaded = {m.name: m.version for m in store.all()}
    body = {"ready": store.ready, "loaded": loaded, "waiting_for": store.missing()}
    return JSONResponse(body, status_code=200 if store.ready else 503)


@router.get("/metrics", summary="Prometheus metrics: latency, counts and errors per model version, reloads",
            dependencies=[require_roles("data_scientist", "admin")], response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
                             "description": "Prometheus text exposition format"},
                       401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}})
def metrics(registry: MetricsDep) -> Response:
    return Response(registry.exposition(), media_type=CONTENT_TYPE_LATEST)
