"""The FastAPI application factory.

``create_app`` takes its inputs explicitly: settings, and optionally a ready model store and key store
(tests inject models fitted on small cohorts). Without a store it starts a background reloader that
resolves each served model by alias from the MLflow registry, verifies it, and swaps in a new version
whenever the alias moves; ``/ready`` answers 503 until all are in.

Deny by default: the app refuses to start if any route outside ``PUBLIC_PATHS`` lacks a role check.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from starlette.routing import Mount

from kernel.model_registry import registry_client
from kernel.settings import Settings
from serving.api_docs import install_docs
from serving.audit import AuditLog
from serving.auth import KeyStore
from serving.deps import ROLES_ATTR
from serving.errors import install_error_handlers
from serving.limits import BodyLimitMiddleware, ConcurrencyLimit
from serving.metrics import MetricsMiddleware, ServingMetrics
from serving.openapi import install_openapi
from serving.registry import ModelStore, Reloader
from serving.routes import admin, compare, health, models, page

log = logging.getLogger("pmed.serving")

PUBLIC_PATHS = frozenset({"/health", "/ready", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
PUBLIC_MOUNTS = frozenset({"/static"})  # style sheets and scripts: no data behind them


def create_app(settings: Settings | None = None, store: ModelStore | None = None,
               keys: KeyStore | None = None, audit: AuditLog | None = None) -> FastAPI:
    settings = settings or Settings()
    injected_store = store is not None
    store = store or ModelStore(expected=list(settings.served_models))
    metrics = ServingMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        check_roles_declared(app)
        gc.freeze()  # everything imported so far is permanent: full collections no longer walk it (tail latency)
        stop = threading.Event()
        poller = None
        if not injected_store:
            app.state.reloader = Reloader(store, registry_client(settings), settings.serve_alias,
                                          settings.shadow_alias, settings.model_cache_dir, metrics)
            poller = threading.Thread(target=app.state.reloader.run, name="model-reloader", daemon=True,
                                      args=(stop, settings.reload_seconds))
            poller.start()
        yield
        stop.set()
        if poller is not None:
            poller.join(timeout=10)

    app = FastAPI(title="pmed", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,  # served offline
                  description="Calibrated disease-risk predictions with exact TreeSHAP explanations.")
    app.state.settings = settings
    app.state.store = store
    app.state.reloader = None
    app.state.metrics = metrics
    app.state.prediction_slots = ConcurrencyLimit(settings.max_concurrent_predictions,
                                                  settings.retry_after_seconds)
    app.state.keys = keys or KeyStore.load(settings.keys_file)
    app.state.audit = audit or AuditLog.open(settings.audit_dir, settings.secrets_dir)
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, metrics=metrics)
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost: times and logs every answer
    app.include_router(health.router)
    app.include_router(models.router)
    app.include_router(admin.router)
    app.include_router(page.router)
    app.include_router(compare.router)
    install_docs(app)
    install_openapi(app, store, settings.max_batch_patients)
    check_roles_declared(app)
    return app


def route_roles(app: FastAPI) -> dict[tuple[str, str], frozenset[str] | None]:
    """(method, path) -> the roles admitted, or None where the route declares no role check."""
    table: dict[tuple[str, str], frozenset[str] | None] = {}
    for path, methods, dependant in _routes(app):
        for method in sorted(methods):
            table[(method, path)] = _declared_roles(dependant) if dependant is not None else None
    return table


def check_roles_declared(app: FastAPI) -> None:
    """Refuse to serve a route that is neither public nor guarded by ``require_roles`` (deny by default)."""
    unguarded = sorted({f"{method} {path}" for (method, path), roles in route_roles(app).items()
                        if roles is None and path not in PUBLIC_PATHS})
    if unguarded:
        raise RuntimeError("routes without a declared role (add require_roles): " + ", ".join(unguarded))


def _routes(app: FastAPI) -> list[tuple[str, set[str], Dependant | None]]:
    """(path, methods, dependant) of every route, included routers flattened; a mount counts as all methods."""
    found: list[tuple[str, set[str], Dependant | None]] = []
    for route in _flat_routes(app):
        original = getattr(route, "original_route", route)
        if isinstance(original, Mount):
            if original.path not in PUBLIC_MOUNTS:
                found.append((original.path, {"*"}, None))
            continue
        effective = getattr(route, "_effective_route", route)
        found.append((route.path, set(route.methods or {"*"}), getattr(effective, "dependant", None)))
    return found


def _flat_routes(app: FastAPI) -> Iterable[Any]:
    """The app's routes, included routers flattened: FastAPI >= 0.16x keeps them nested (its
    ``iter_route_contexts`` flattens them); older versions copy their routes into ``app.routes``."""
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    return flatten(app.routes) if flatten is not None else app.routes


def _declared_roles(dependant: Dependant) -> frozenset[str] | None:
    for dep in dependant.dependencies:
        roles = getattr(dep.call, ROLES_ATTR, None)
        if roles is not None:
            return roles
        found = _declared_roles(dep)
        if found is not None:
            return found
    return None
