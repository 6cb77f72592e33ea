"""The FastAPI application factory.

``create_app`` takes its inputs explicitly: settings, and optionally a ready model store and key store
(tests inject models fitted on small cohorts). Without a store it starts a background loader that
resolves each served model by alias from the MLflow registry; ``/ready`` answers 503 until all are in.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from pmed.registry import registry_client
from pmed.settings import Settings
from serving.audit import AuditLog
from serving.auth import KeyStore
from serving.errors import install_error_handlers
from serving.registry import ModelStore, load_until_ready
from serving.routes import health, models

log = logging.getLogger("pmed.serving")


def create_app(settings: Settings | None = None, store: ModelStore | None = None,
               keys: KeyStore | None = None, audit: AuditLog | None = None) -> FastAPI:
    settings = settings or Settings()
    injected_store = store is not None
    store = store or ModelStore(expected=list(settings.served_models))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        if not injected_store:
            client = registry_client(settings)
            threading.Thread(target=load_until_ready, name="model-loader", daemon=True,
                             args=(store, client, settings.serve_alias, settings.model_cache_dir, stop)).start()
        yield
        stop.set()

    app = FastAPI(title="pmed", version="1", lifespan=lifespan,
                  description="Calibrated disease-risk predictions with exact TreeSHAP explanations.")
    app.state.settings = settings
    app.state.store = store
    app.state.keys = keys or KeyStore.load(settings.keys_file)
    app.state.audit = audit or AuditLog.open(settings.audit_dir, settings.secrets_dir)
    install_error_handlers(app)
    app.middleware("http")(_request_log)
    app.include_router(health.router)
    app.include_router(models.router)
    return app


async def _request_log(request: Request, call_next) -> Response:  # noqa: ANN001
    """One log line per request: route template, status, time. No body, query, client address or ids."""
    started = time.perf_counter()
    request_id = uuid.uuid4().hex[:12]
    response = await call_next(request)
    route = request.scope.get("route")
    log.info("%s %s -> %d in %.1f ms [%s]", request.method, route.path if route else "(no route)",
             response.status_code, 1000 * (time.perf_counter() - started), request_id)
    return response
