"""Liveness and readiness, for load balancers and `make run`; no credential needed, no data returned."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from serving.deps import StoreDep

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
