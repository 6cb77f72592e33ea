"""Model metadata and predictions with explanations."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from serving.audit import AuditError, AuditLog
from serving.auth import Caller
from serving.clinical import explained_predictions, risk_only_prediction
from serving.deps import AuditDep, CallerDep, MetricsDep, ServedModelDep, StoreDep, require_roles
from serving.dose import DOSE_BANDS_MG_WEEK, DOSE_TASK, dose_predictions, explanation_scale, inconsistent_inputs
from serving.dose_schemas import DoseResponse
from serving.explain import SCALE, explain
from serving.limits import prediction_slot
from serving.metrics import ServingMetrics
from serving.registry import ServedModel
from serving.schemas import (
    ErrorResponse,
    ModelInfo,
    ModelList,
    ModelSummary,
    PredictionRequest,
    PredictionResponse,
)
from serving.shadow import score_shadow
from serving.validation import safe_errors, to_row

METADATA_ROLES = ("clinician", "application", "data_scientist")  # applications build requests from it
ANSWERED_TASKS = ("risk_classification", DOSE_TASK, "treatment_response")  # the last: outcome risk under one arm
CARD_ROLES = ("clinician", "data_scientist")  # the card is read by people; admin manages keys only
EXPLAIN_HELP = ("false: the risk, category, flags and abstention only (no TreeSHAP, risk points or concepts: "
                "explanation and risk_points are null, concepts empty), for applications that need only the "
                "number; a dose model always explains")
router = APIRouter(prefix="/v1", tags=["models"], responses={401: {"model": ErrorResponse}})


@router.get("/models", response_model=ModelList, dependencies=[require_roles(*METADATA_ROLES)],
            responses={403: {"model": ErrorResponse}})
def list_models(store: StoreDep) -> ModelList:
    return ModelList(models=[ModelSummary(name=m.name, version=m.version, alias=m.alias) for m in store.all()])


@router.get("/models/{name}", response_model=ModelInfo, dependencies=[require_roles(*METADATA_ROLES)],
            responses={403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}, 503: {"model": ErrorResponse}})
def model_info(model: ServedModelDep, store: StoreDep) -> ModelInfo:
    spec = model.bundle.feature_spec
    shadow = store.shadow(model.name)
    return ModelInfo(name=model.name, version=model.version, alias=model.alias,
                     description=spec["description"], intended_use=spec["intended_use"], task=spec["task"],
                     target=spec["target"], horizon_years=spec.get("horizon_years"),
                     calibration=model.bundle.calibrator.to_dict(),
                     explanation_scale=explanation_scale(model.bundle.calibrator) if model.task == DOSE_TASK
                     else SCALE,
                     features=model.features,
                     shadow=ModelSummary(name=shadow.name, version=shadow.version, alias=shadow.alias) if shadow else None)


@router.get("/models/{name}/card", dependencies=[require_roles(*CARD_ROLES)], response_class=Response,
            responses={200: {"content": {"text/html": {"schema": {"type": "string"}},
                                         "text/markdown": {"schema": {"type": "string"}}},
                             "description": "The model card"},
                       403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}, 503: {"model": ErrorResponse}})
def model_card(model: ServedModelDep, format: Literal["html", "markdown"] = "html") -> Response:  # noqa: A002
    """The model card of the served version: intended use, data, performance with CIs, subgroups, limits."""
    name = "model_card.html" if format == "html" else "model_card.md"
    card = model.bundle.cards.get(name)
    if card is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"version {model.version} of {model.name} carries no model card")
    return Response(card, media_type="text/html; charset=utf-8" if format == "html" else "text/markdown; charset=utf-8")


@router.post("/models/{name}/predict", response_model=PredictionResponse | DoseResponse,
             dependencies=[require_roles("clinician", "application"), Depends(prediction_slot)],
             responses={403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}, 413: {"model": ErrorResponse},
                        422: {"model": ErrorResponse}, 503: {"model": ErrorResponse}})
def predict(body: PredictionRequest, request: Request, caller: CallerDep, model: ServedModelDep,
            audit: AuditDep, store: StoreDep, metrics: MetricsDep,
            with_explanation: Annotated[bool, Query(alias="explain", description=EXPLAIN_HELP)] = True,
            ) -> PredictionResponse | DoseResponse:
    """Per patient: a risk model's calibrated risk, or a dose model's weekly dose with its interval and the
    IWPC dose beside it; each with an exact TreeSHAP explanation on its named scale (risk models: unless
    ``explain=false``)."""
    limit = request.app.state.settings.max_batch_patients
    if len(body.patients) > limit:
        raise RequestValidationError([{"loc": ["body", "patients"], "type": "too_long",
                                       "msg": f"at most {limit} patients per request"}])
    if model.task not in ANSWERED_TASKS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{model.name} is a {model.task} model: predict answers "
                                                       f"{', '.join(ANSWERED_TASKS)} models")
    X = _feature_matrix(model, body)
    request_id = uuid.uuid4().hex
    spec = model.bundle.feature_spec
    if model.task == DOSE_TASK:
        if errors := inconsistent_inputs(X, model.bundle.feature_names):
            raise RequestValidationError(errors)
        doses = dose_predictions(model, [p.patient_id for p in body.patients], X)
        _audit(audit, metrics, caller, model, request_id, body, [d.abstained for d in doses], kind="dose")
        return DoseResponse(request_id=request_id, model=model.name, version=model.version, alias=model.alias,
                            outcome=spec["target"], dose_bands_mg_week=DOSE_BANDS_MG_WEEK,
                            caveat=spec["intended_use"], predictions=doses)
    if with_explanation:
        explained = explain(model.bundle, X)
        risk = explained.risk
        predictions = explained_predictions(model, [p.patient_id for p in body.patients], X, explained)
    else:
        risk = model.bundle.risk(X)
        predictions = [risk_only_prediction(model, p.patient_id, X[i], float(risk[i]))
                       for i, p in enumerate(body.patients)]
    shadow = score_shadow(store, model, body.patients, risk, metrics)
    _audit(audit, metrics, caller, model, request_id, body, [p.abstained for p in predictions], shadow=shadow)
    return PredictionResponse(request_id=request_id, model=model.name, version=model.version,
                              alias=model.alias, outcome=spec["target"], predictions=predictions)


def _audit(audit: AuditLog, metrics: ServingMetrics, caller: Caller, model: ServedModel, request_id: str,
           body: PredictionRequest, abstained: list[bool], shadow: list[dict] | None = None,
           kind: str | None = None) -> None:
    """One durable record per patient, before any number leaves; 503 when the log cannot be written."""
    try:
        audit.record([{"request_id": request_id, "key_id": caller.key_id, "role": caller.role,
                       "model": model.name, "version": model.version, "alias": model.alias,
                       "patient_key": audit.pseudonym(p.patient_id),
                       "outcome": "abstained" if abstained[i] else "predicted",
                       **({"kind": kind} if kind else {}), **(shadow[i] if shadow else {})}
                      for i, p in enumerate(body.patients)])
    except AuditError as exc:
        metrics.audit_failures.inc()
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "prediction withheld: the audit log cannot be written") from exc
    metrics.patients.labels(model.name, model.version).inc(len(body.patients))


def _feature_matrix(model: ServedModel, body: PredictionRequest) -> np.ndarray:
    names = model.bundle.feature_names
    rows, errors = [], []
    for i, patient in enumerate(body.patients):
        try:
            rows.append(to_row(model.request_model.model_validate(patient.features), names))
        except ValidationError as exc:
            errors.extend(safe_errors(exc, ("body", "patients", i, "features")))
    if errors:
        raise RequestValidationError(errors)
    return np.vstack(rows)
