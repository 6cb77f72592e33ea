"""FastAPI dependencies: the model store, the audit log, the key store and the authenticated caller.

All are ``async def``: they only read app state (and the key store's cached keys), so they run on the
event loop. A plain ``def`` dependency is sent to the thread pool, one hand-off per dependency per
request: with seven of them that was most of a predict call's overhead under load.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from serving.audit import AuditLog
from serving.auth import Caller, KeyStore, Role
from serving.metrics import STATE_KEY, ServingMetrics
from serving.registry import ModelStore, Reloader, ServedModel

_bearer = HTTPBearer(auto_error=False, description="API key issued by `pmed keys create` or POST /v1/keys")
ROLES_ATTR = "__pmed_roles__"  # marks a role check, so the app can refuse routes that declare none


async def get_store(request: Request) -> ModelStore:
    return request.app.state.store


async def get_audit(request: Request) -> AuditLog:
    return request.app.state.audit


async def get_keys(request: Request) -> KeyStore:
    return request.app.state.keys


async def get_metrics(request: Request) -> ServingMetrics:
    return request.app.state.metrics


async def get_reloader(request: Request) -> Reloader | None:
    return request.app.state.reloader


async def get_caller(request: Request,
               credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Caller:
    keys: KeyStore = request.app.state.keys
    caller = keys.authenticate(credentials.credentials) if credentials else None
    if caller is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a valid API key is required",
                            headers={"WWW-Authenticate": "Bearer"})
    return caller


StoreDep = Annotated[ModelStore, Depends(get_store)]
AuditDep = Annotated[AuditLog, Depends(get_audit)]
KeysDep = Annotated[KeyStore, Depends(get_keys)]
MetricsDep = Annotated[ServingMetrics, Depends(get_metrics)]
ReloaderDep = Annotated[Reloader | None, Depends(get_reloader)]
CallerDep = Annotated[Caller, Depends(get_caller)]


def require_roles(*roles: Role) -> Any:  # a FastAPI Depends marker (typed Any by FastAPI)
    """A dependency admitting only callers whose role is listed (deny by default).

    The check function carries its roles, so ``serving.app`` can walk the routes at start and refuse
    to serve any route that declares none, and the docs can print the route x role matrix.
    """

    async def check(caller: CallerDep) -> Caller:
        if caller.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {caller.role!r} may not use this route")
        return caller

    setattr(check, ROLES_ATTR, frozenset(roles))
    return Depends(check)


async def served_model(name: str, request: Request, store: StoreDep) -> ServedModel:
    model = store.get(name)
    if model is None:
        detail = (f"model {name!r} is not loaded yet" if name in store.expected
                  else "no such model is served here")
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE if name in store.expected
                            else status.HTTP_404_NOT_FOUND, detail)
    setattr(request.state, STATE_KEY, (model.name, model.version))  # metrics labels come from the store
    return model


ServedModelDep = Annotated[ServedModel, Depends(served_model)]
