"""The clinician page: a server-rendered form and result (risk, category, drivers, waterfall, flags) for a
risk model, and for a treatment-response model the comparison of the two treatments (both arms' risk, the
difference with its interval, the model's and the guideline's recommendations side by side, the drivers).

No front-end build and no JavaScript: Jinja2 templates, an inline SVG drawn from numbers computed here,
and a strict Content-Security-Policy. The answer is the one the JSON API gives (same validation, same
``patient_prediction``); each page prediction takes one of the API's prediction slots (busy: 503) and is
audit-logged like an API one before it is shown (audit not writable: 503, nothing shown).
Only clinicians may use it (see ``serving.page_session`` for sign-in and CSRF).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel

from serving import waterfall
from serving.audit import AuditError, AuditLog
from serving.auth import Caller
from serving.clinical import patient_prediction
from serving.compare_schemas import Driver, PatientComparison
from serving.concepts import FeatureText
from serving.deps import ServedModelDep
from serving.explain import explain
from serving.limits import ConcurrencyLimit
from serving.page_form import form_groups, read_form
from serving.page_session import (
    COOKIE,
    COOKIE_PATH,
    LoginCallerDep,
    PageCallerDep,
    csrf_token,
    new_session,
    session_seconds,
)
from serving.registry import ServedModel
from serving.schemas import PatientPrediction
from serving.treatment import (
    PHENOTYPES,
    covariate_request_model,
    covariates,
    effect_model,
    interval_method,
    treatment_comparisons,
)

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parents[1] / "templates")
TOP_DRIVERS = 5
TREATMENT_TASK = "treatment_response"
PHENOTYPE_FEATURE = "cyp2c19_phenotype_code"  # a CPIC phenotype code: shown by its name
CATEGORY_NAMES = {"low": "Low risk", "intermediate": "Intermediate risk", "high": "High risk"}


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


PAGE_TASKS = ("risk_classification", TREATMENT_TASK)


def _page_model(model: ServedModelDep) -> ServedModel:
    """The page explains risks and compares treatments; a dose model is answered by the API instead."""
    if model.bundle.feature_spec.get("task", "risk_classification") not in PAGE_TASKS:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"the clinician page shows risk and treatment-response models; {model.name} is a "
                            f"{model.bundle.feature_spec['task'].replace('_', ' ')} model: use "
                            f"POST /v1/models/{model.name}/predict or /compare-treatments")
    return model


RiskModelDep = Annotated[ServedModel, Depends(_page_model)]

router = APIRouter(prefix="/clinician", tags=["clinician page"], route_class=PageRoute, include_in_schema=False)


@router.get("/{name}")
def patient_form(request: Request, caller: PageCallerDep, model: RiskModelDep) -> Response:
    return _render_page(request, model, {})


@router.post("/{name}")
async def patient_result(request: Request, caller: PageCallerDep, model: RiskModelDep) -> Response:
    form = await request.form()
    patient_ref = str(form.get("patient_ref", "")).strip()[:128]
    features, request_model = _form_fields(model)
    raw, row, errors = read_form(features, request_model, dict(form))
    if not patient_ref:
        errors["patient_ref"] = "required"
    if errors:
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
        answer = _compare_and_audit if _is_treatment(model) else _predict_and_audit
        result = await run_in_threadpool(answer, request.app.state.audit, caller, model, patient_ref, row, request_id)
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


@router.post("/{name}/logout")
def logout(request: Request, caller: PageCallerDep, name: str) -> Response:
    response = RedirectResponse(request.url_for("patient_form", name=name), status.HTTP_303_SEE_OTHER)
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
    return response


@router.get("/{name}/card")
def card(caller: PageCallerDep, model: ServedModelDep) -> Response:
    html = model.bundle.cards.get("model_card.html")
    if html is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"version {model.version} of {model.name} carries no model card")
    return Response(html, media_type="text/html; charset=utf-8", headers=_headers(
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"))


def _predict_and_audit(audit: AuditLog, caller: Caller, model: ServedModel, patient_ref: str, row: Any,
                       request_id: str) -> PatientPrediction:
    X = row[None, :]
    """The prediction, once its audit record is durable; AuditError (and no result) otherwise."""
    result = patient_prediction(model, patient_ref, X[0], explain(model.bundle, X), 0)
    audit.record([{"request_id": request_id, "key_id": caller.key_id, "role": caller.role,
                   "model": model.name, "version": model.version, "alias": model.alias,
                   "patient_key": audit.pseudonym(patient_ref), "channel": "clinician_page",
                   "outcome": "abstained" if result.abstained else "predicted"}])
    return result


def _is_treatment(model: ServedModel) -> bool:
    return model.bundle.feature_spec.get("task") == TREATMENT_TASK


def _form_fields(model: ServedModel) -> tuple[list[dict[str, Any]], type[BaseModel]]:
    """The fields a clinician fills in and the request model that validates them (the API's own)."""
    if _is_treatment(model):
        return covariates(model), covariate_request_model(model)
    return model.features, model.request_model


def _compare_and_audit(audit: AuditLog, caller: Caller, model: ServedModel, patient_ref: str, row: Any,
                       request_id: str) -> PatientComparison:
    """The treatment comparison, once its audit record is durable; AuditError (and no result) otherwise."""
    result = treatment_comparisons(model, effect_model(model), [patient_ref], row[None, :])[0]
    audit.record([{"request_id": request_id, "key_id": caller.key_id, "role": caller.role,
                   "model": model.name, "version": model.version, "alias": model.alias,
                   "patient_key": audit.pseudonym(patient_ref), "channel": "clinician_page",
                   "outcome": "compared", "kind": "compare-treatments",
                   "model_recommendation": result.model_recommendation.treatment or "none"}])
    return result


def _render_page(request: Request, model: ServedModel, context: dict[str, Any], status_code: int = 200,
                 headers: dict[str, str] | None = None) -> Response:
    spec = model.bundle.feature_spec
    result: PatientPrediction | PatientComparison | None = context.get("result")
    credential = request.cookies.get(COOKIE)
    treatment = _is_treatment(model)
    extra = _comparison_context(model, result) if treatment else _result_context(spec, result)
    page = {"model": model, "groups": form_groups(_form_fields(model)[0]), "values": {}, "errors": {},
            "patient_ref": "", "submit_label": "Compare treatments" if treatment else "Estimate risk",
            "intended_use": spec.get("intended_use", ""), "csrf": csrf_token(request, credential) if credential else "",
            "urls": {"predict": request.url_for("patient_result", name=model.name),
                     "logout": request.url_for("logout", name=model.name),
                     "card": request.url_for("card", name=model.name)},
            **extra, **context}
    return _render(request, "clinician/compare.html" if treatment else "clinician/page.html", page, status_code,
                   headers)


def _comparison_context(model: ServedModel, result: PatientComparison | None) -> dict[str, Any]:
    spec = model.bundle.feature_spec
    context: dict[str, Any] = {"horizon_text": f"{spec['horizon_years']:g}-year",
                               "outcome_short": "an adverse event (MACE or major bleeding)"
                               if spec.get("target") == "nace_1y" else spec.get("target", "the outcome")}
    if result is None:
        return context
    candidate = result.treatments[-1]
    texts = {f["name"]: FeatureText.of(f) for f in covariates(model)}
    drivers = [d for d in result.drivers if abs(d.contribution) >= 0.005][:TOP_DRIVERS]
    return {**context, "candidate": candidate, "interval_method": interval_method(effect_model(model)),
            "drivers": [{"contribution": d.contribution,
                         "sentence": _driver_sentence(d, texts.get(d.feature), result.reference, candidate.treatment)}
                        for d in drivers]}


def _driver_sentence(driver: Driver, text: FeatureText | None, reference: str, candidate: str) -> str:
    """'Prior major bleeding: yes favours clopidogrel (log-odds ratio +0.62)'."""
    favours = candidate if driver.contribution < 0 else reference
    if text is None:  # the treatment column (its own effect and its share of interactions)
        subject = driver.display_name[:1].upper() + driver.display_name[1:]
    elif driver.feature == PHENOTYPE_FEATURE and driver.value is not None:
        subject = f"{driver.display_name}: {PHENOTYPES[int(driver.value)].lower()}"
    else:
        subject = f"{driver.display_name}: {text.text(driver.value)}"
    return f"{subject} favours {favours} (log-odds ratio {driver.contribution:+.2f})"


def _result_context(spec: dict[str, Any], result: PatientPrediction | None) -> dict[str, Any]:
    horizon = spec["horizon_years"]
    context: dict[str, Any] = {"horizon_text": f"{horizon:g}-year", "outcome_text": spec.get("description", "")}
    thresholds = spec.get("decision_thresholds")
    context["thresholds_text"] = (f"low below {100 * thresholds[0]:g}%, high from {100 * thresholds[1]:g}%"
                                  if thresholds else "this model version declares no thresholds")
    if result is None or result.abstained:
        return context
    context["category_label"] = CATEGORY_NAMES.get(result.risk_category or "", "No category")
    context["drivers"] = [c for c in result.concepts[:TOP_DRIVERS] if round(abs(c.risk_points), 1) > 0]
    context["fall"] = waterfall.build(100 * result.risk_points.baseline_risk, 100 * result.risk, result.concepts,
                                      thresholds=thresholds or [])
    return context


def _render(request: Request, template: str, context: dict[str, Any], status_code: int,
            headers: dict[str, str] | None = None) -> Response:
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
