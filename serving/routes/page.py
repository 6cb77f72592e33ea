"""The clinician page: a server-rendered form and result for each served model: a risk model's risk,
category, drivers and waterfall; a treatment-response model's comparison of the treatments; a dose model's
dose beside the IWPC and fixed-dose strategies (what each shows: the task's page section, e.g.
``serving.risk.page``).

No front-end build and no JavaScript: Jinja2 templates, an inline SVG drawn from numbers computed here,
and a strict Content-Security-Policy. The answer is the one the JSON API gives (same validation, same
``patient_prediction``); each page prediction takes one of the API's prediction slots (busy: 503) and is
audit-logged like an API one before it is shown (audit not writable: 503, nothing shown).
Only clinicians may use it (see ``serving.page_session`` for sign-in and CSRF).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from serving.audit import AuditError
from serving.deps import ServedModelDep
from serving.limits import ConcurrencyLimit
from serving.page_answers import answer_and_audit, page_section
from serving.page_form import form_groups, read_form
from serving.page_session import (
    COOKIE,
    COOKIE_PATH,
    LoginCallerDep,
    PageCallerDep,
    csrf_token,
    new_session,
    page_caller,
    session_seconds,
)
from serving.served import ServedModel

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parents[1] / "templates")


class PageRoute(APIRoute):
    """Errors on the page are pages too: 401 shows the sign-in form, anything else a short message."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except HTTPException as exc:
                return _error_page(request, exc)

        return handle


def _page_model(model: ServedModelDep) -> ServedModel:
    """A model whose task the page serves; any other is answered by the API only (404)."""
    page_section(model)
    return model


RiskModelDep = Annotated[ServedModel, Depends(_page_model)]

router = APIRouter(prefix="/clinician", tags=["clinician page"], route_class=PageRoute, include_in_schema=False)


@router.get("/{name}", dependencies=[Depends(page_caller)])
def patient_form(request: Request, model: RiskModelDep) -> Response:
    return _render_page(request, model, {})


@router.post("/{name}")
async def patient_result(request: Request, caller: PageCallerDep, model: RiskModelDep) -> Response:
    form = await request.form()
    patient_ref = str(form.get("patient_ref", "")).strip()[:128]
    features, request_model = model.task.form_fields(model)
    raw, row, errors = read_form(features, request_model, dict(form))
    if row is not None:
        errors |= model.task.form_errors(model, row)
    if not patient_ref:
        errors["patient_ref"] = "required"
    if errors or row is None:  # read_form gives no row without errors
        return _render_page(request, model, {"values": raw, "errors": errors, "form_errors": True,
                                             "patient_ref": patient_ref}, status.HTTP_422_UNPROCESSABLE_CONTENT)
    kept = {"values": raw, "patient_ref": patient_ref}
    slots: ConcurrencyLimit = request.app.state.prediction_slots
    if not slots.try_acquire():  # the API's own cap: page and API share the same slots
        request.app.state.metrics.rejected.labels("busy").inc()
        return _render_page(request, model, {**kept, "alert": (
            f"The server is busy ({slots.limit} predictions already in progress). Nothing was computed or "
            f"recorded for this patient; try again in {slots.retry_after_seconds} s, your values are kept below.")},
            status.HTTP_503_SERVICE_UNAVAILABLE, {"Retry-After": str(slots.retry_after_seconds)})
    request_id = uuid.uuid4().hex
    try:
        result = await run_in_threadpool(answer_and_audit, request.app.state.audit, caller, model, patient_ref, row,
                                         request_id)
    except AuditError:
        request.app.state.metrics.audit_failures.inc()
        return _render_page(request, model, {**kept, "alert": (
            "Prediction withheld: the audit log cannot be written, so no result is shown. "
            "Please tell your pmed administrator.")}, status.HTTP_503_SERVICE_UNAVAILABLE)
    finally:
        slots.release()  # in the event loop, like the API's slots
    request.app.state.metrics.patients.labels(model.name, model.version).inc()
    return _render_page(request, model, {**kept, "result": result, "request_id": request_id})


@router.post("/{name}/login")
def login(request: Request, caller: LoginCallerDep, name: str) -> Response:
    response = RedirectResponse(request.url_for("patient_form", name=name), status.HTTP_303_SEE_OTHER)
    response.set_cookie(COOKIE, new_session(request, caller), max_age=session_seconds(request), path=COOKIE_PATH,
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response


@router.post("/{name}/logout", dependencies=[Depends(page_caller)])
def logout(request: Request, name: str) -> Response:
    response = RedirectResponse(request.url_for("patient_form", name=name), status.HTTP_303_SEE_OTHER)
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
    return response


@router.get("/{name}/card", dependencies=[Depends(page_caller)])
def card(model: ServedModelDep) -> Response:
    html = model.bundle.cards.get("model_card.html")
    if html is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"version {model.version} of {model.name} carries no model card")
    return Response(html, media_type="text/html; charset=utf-8", headers=_headers(
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"))


def _render_page(request: Request, model: ServedModel, context: dict[str, Any], status_code: int = 200,
                 headers: dict[str, str] | None = None) -> Response:
    section = page_section(model)
    credential = request.cookies.get(COOKIE)
    page = {"model": model, "groups": form_groups(model.task.form_fields(model)[0]), "values": {}, "errors": {},
            "patient_ref": "", "submit_label": section.submit_label,
            "intended_use": model.spec.intended_use, "csrf": csrf_token(request, credential) if credential else "",
            "urls": {"predict": request.url_for("patient_result", name=model.name),
                     "logout": request.url_for("logout", name=model.name),
                     "card": request.url_for("card", name=model.name)},
            **section.context(model, context.get("result")), **context}
    return _render(request, section.template, page, status_code, headers)


def _render(request: Request, template: str, context: dict[str, Any], status_code: int,
            headers: Mapping[str, str] | None = None) -> Response:
    nonce = secrets.token_urlsafe(16)
    policy = (f"default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self' data:; form-action 'self'; "
              "base-uri 'none'; frame-ancestors 'none'")
    return TEMPLATES.TemplateResponse(request, template, {**context, "nonce": nonce}, status_code=status_code,
                                      headers={**_headers(policy), **(headers or {})})


def _headers(policy: str) -> dict[str, str]:
    return {"Content-Security-Policy": policy, "Cache-Control": "no-store", "X-Frame-Options": "DENY",
            "Referrer-Policy": "same-origin", "X-Content-Type-Options": "nosniff"}


def _error_page(request: Request, exc: HTTPException) -> Response:
    name = request.path_params.get("name", "")
    if exc.status_code == status.HTTP_401_UNAUTHORIZED:
        return _login_page(request, name)
    headings = {403: "Not allowed", 404: "Not found", 503: "Unavailable"}
    return _render(request, "clinician/message.html",
                   {"heading": headings.get(exc.status_code, "Something went wrong"), "message": exc.detail},
                   exc.status_code, exc.headers)


def _login_page(request: Request, name: str) -> Response:
    """The sign-in form; a refused session cookie (expired, revoked, forged) is cleared with it."""
    stale = COOKIE in request.cookies and not request.url.path.endswith("/login")
    if request.url.path.endswith("/login"):
        message = "That key is not valid, or it has been revoked."
    elif stale:
        message = "Your session has ended (it expired, or the key was revoked). Please sign in again."
    else:
        message = ""
    response = _render(request, "clinician/login.html",
                       {"message": message, "login_action": request.url_for("login", name=name),
                        "session_minutes": request.app.state.settings.page_session_minutes},
                       status.HTTP_401_UNAUTHORIZED, {"WWW-Authenticate": "Bearer"})
    if stale:
        response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict",
                               secure=request.url.scheme == "https")
    return response
