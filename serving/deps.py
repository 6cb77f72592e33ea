"""FastAPI dependencies: the model store, the audit log and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from serving.audit import AuditLog
from serving.auth import Caller, KeyStore, Role
from serving.registry import ModelStore, ServedModel

_bearer = HTTPBearer(auto_error=False, description="API key issued by `pmed keys create`")


def get_store(request: Request) -> ModelStore:
    return request.app.state.store


def get_audit(request: Request) -> AuditLog:
    return request.app.state.audit


def get_caller(request: Request,
               credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Caller:
    keys: KeyStore = request.app.state.keys
    caller = keys.authenticate(credentials.credentials) if credentials else None
    if caller is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a valid API key is required",
                            headers={"WWW-Authenticate": "Bearer"})
    return caller


StoreDep = Annotated[ModelStore, Depends(get_store)]
AuditDep = Annotated[AuditLog, Depends(get_audit)]
CallerDep = Annotated[Caller, Depends(get_caller)]


def require_roles(*roles: Role):  # noqa: ANN201 (returns a FastAPI dependency)
    """A dependency admitting only callers whose role is listed (deny by default)."""

    def check(caller: CallerDep) -> Caller:
        if caller.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {caller.role!r} may not use this route")
        return caller

    return Depends(check)


def served_model(name: str, store: StoreDep) -> ServedModel:
    model = store.get(name)
    if model is None:
        detail = (f"model {name!r} is not loaded yet" if name in store.expected
                  else f"model {name!r} is not served here")
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE if name in store.expected
                            else status.HTTP_404_NOT_FOUND, detail)
    return model


ServedModelDep = Annotated[ServedModel, Depends(served_model)]
