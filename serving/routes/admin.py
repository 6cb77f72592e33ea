"""Operator routes: API keys (admin) and forced model reloads (data scientist).

Every key change and forced reload is written to the audit event log before it is answered.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from serving.audit import AuditError
from serving.auth import ApiKey, Caller, Role
from serving.deps import AuditDep, KeysDep, ReloaderDep, StoreDep, require_roles
from serving.schemas import ErrorResponse

router = APIRouter(prefix="/v1", responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}})


class KeyInfo(BaseModel):
    key_id: str
    name: str
    role: Role
    created: str
    revoked: bool


class KeyList(BaseModel):
    keys: list[KeyInfo]


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$",
                      description="Who or what holds the key (a service or a person's role, not a patient)")
    role: Role


class IssuedKey(KeyInfo):
    key: str = Field(description="The bearer key, shown once; only its SHA-256 digest is stored")


class ReloadOutcome(BaseModel):
    model: str
    alias: str
    version: str | None = Field(description="Version served for this alias after the poll")
    result: str = Field(description="loaded | unchanged | refused | error | no_alias | dropped")
    detail: str


class ReloadReport(BaseModel):
    results: list[ReloadOutcome]


def _info(key: ApiKey) -> KeyInfo:
    return KeyInfo(key_id=key.key_id, name=key.name, role=key.role, created=key.created, revoked=key.revoked)


def _audit(audit: AuditDep, caller: Caller, event: str, **fields: object) -> None:
    try:
        audit.event({"event": event, "by_key_id": caller.key_id, "by_role": caller.role, **fields})
    except AuditError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "refused: the audit log cannot be written") from exc


@router.get("/keys", response_model=KeyList, tags=["keys"], summary="List API keys (never the keys themselves)",
            dependencies=[require_roles("admin")])
def list_keys(keys: KeysDep) -> KeyList:
    return KeyList(keys=[_info(k) for k in keys.list()])


@router.post("/keys", response_model=IssuedKey, status_code=status.HTTP_201_CREATED, tags=["keys"],
             summary="Issue a key for a role", responses={422: {"model": ErrorResponse},
                                                         503: {"model": ErrorResponse}})
def create_key(body: KeyRequest, keys: KeysDep, audit: AuditDep,
               caller: Caller = require_roles("admin")) -> IssuedKey:
    key, secret = keys.issue(body.name, body.role)
    try:
        _audit(audit, caller, "key_issued", key_id=key.key_id, role=key.role)
    except HTTPException:
        keys.revoke(key.key_id)  # an unaudited key must not stay live
        raise
    return IssuedKey(**_info(key).model_dump(), key=secret)


@router.delete("/keys/{key_id}", response_model=KeyInfo, tags=["keys"],
               summary="Revoke a key: refused from the next request on",
               responses={404: {"model": ErrorResponse}, 503: {"model": ErrorResponse}})
def revoke_key(key_id: str, keys: KeysDep, audit: AuditDep, caller: Caller = require_roles("admin")) -> KeyInfo:
    revoked = keys.revoke(key_id)
    if revoked is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no key with that id")
    _audit(audit, caller, "key_revoked", key_id=key_id)
    return _info(revoked)


@router.post("/models/{name}/reload", response_model=ReloadReport, tags=["models"],
             summary="Poll the registry now: load, verify and swap in the version each alias points at",
             responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse},
                        503: {"model": ErrorResponse}})
def reload_model(name: str, store: StoreDep, reloader: ReloaderDep, audit: AuditDep,
                 caller: Caller = require_roles("data_scientist")) -> ReloadReport:
    if name not in store.expected:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such model is served here")
    if reloader is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "this server was given fixed models; nothing to reload")
    _audit(audit, caller, "reload_requested", model=name)
    results = reloader.poll([name], force=True)
    return ReloadReport(results=[ReloadOutcome(model=r.model, alias=r.alias, version=r.version,
                                               result=r.result, detail=r.detail) for r in results])
