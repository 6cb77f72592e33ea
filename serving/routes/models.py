"""Model metadata and predictions with explanations."""

from __future__ import annotations

import uuid
from typing import Literal

import numpy as np
from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from serving.audit import AuditError
from serving.deps import AuditDep, CallerDep, ServedModelDep, StoreDep, require_roles
from serving.explain import SCALE, Explained, explain
from serving.registry import ServedModel
from serving.schemas import (
    Contribution,
    ErrorResponse,
    Explanation,
    ModelInfo,
    ModelList,
    ModelSummary,
    PatientPrediction,
    PredictionRequest,
    PredictionResponse,
)
from serving.validation import safe_errors, to_row

ALL_ROLES = ("clinician", "application", "data_scientist", "admin")
router = APIRouter(prefix="/v1", tags=["models"], responses={401: {"model": ErrorResponse}})


@router.get("/models", response_model=ModelList, dependencies=[require_roles(*ALL_ROLES)])
def list_models(store: StoreDep) -> ModelList:
    return ModelList(models=[ModelSummary(name=m.name, version=m.version, alias=m.alias) for m in store.all()])


@router.get("/models/{name}", response_model=ModelInfo, dependencies=[require_roles(*ALL_ROLES)],
            responses={404: {"model": ErrorResponse}, 503: {"model": ErrorResponse}})
def model_info(model: ServedModelDep) -> ModelInfo:
    spec = model.bundle.feature_spec
    return ModelInfo(name=model.name, version=model.version, alias=model.alias,
                     description=spec["description"], intended_use=spec["intended_use"], task=spec["task"],
                     target=spec["target"], horizon_years=spec["horizon_years"],
                     calibration=model.bundle.calibrator.to_dict(), explanation_scale=SCALE,
                     features=model.features)


@router.get("/models/{name}/card", dependencies=[require_roles(*ALL_ROLES)], response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {}, "text/markdown": {}}, "description": "The model card"},
                       404: {"model": ErrorResponse}, 503: {"model": ErrorResponse}})
def model_card(model: ServedModelDep, format: Literal["html", "markdown"] = "html") -> Response:  # noqa: A002
    """The model card of the served version: intended use, data, performance with CIs, subgroups, limits."""
    name = "model_card.html" if format == "html" else "model_card.md"
    card = model.bundle.cards.get(name)
    if card is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"version {model.version} of {model.name} carries no model card")
    return Response(card, media_type="text/html; charset=utf-8" if format == "html" else "text/markdown; charset=utf-8")


@router.post("/models/{name}/predict", response_model=PredictionResponse,
             dependencies=[require_roles("clinician", "application")],
             responses={403: {"model": ErrorResponse}, 404: {"model": ErrorResponse},
                        422: {"model": ErrorResponse}, 503: {"model": ErrorResponse}})
def predict(body: PredictionRequest, request: Request, caller: CallerDep, model: ServedModelDep,
            audit: AuditDep) -> PredictionResponse:
    """Calibrated risk and an exact TreeSHAP explanation for each patient."""
    limit = request.app.state.settings.max_batch_patients
    if len(body.patients) > limit:
        raise RequestValidationError([{"loc": ["body", "patients"], "type": "too_long",
                                       "msg": f"at most {limit} patients per request"}])
    X = _feature_matrix(model, body)
    explained = explain(model.bundle, X)
    request_id = uuid.uuid4().hex
    try:
        audit.record([{"request_id": request_id, "key_id": caller.key_id, "role": caller.role,
                       "model": model.name, "version": model.version, "alias": model.alias,
                       "patient_key": audit.pseudonym(p.patient_id), "outcome": "predicted"}
                      for p in body.patients])
    except AuditError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "prediction withheld: the audit log cannot be written") from exc
    predictions = [_patient_prediction(model, p.patient_id, X[i], explained, i)
                   for i, p in enumerate(body.patients)]
    return PredictionResponse(request_id=request_id, model=model.name, version=model.version,
                              alias=model.alias, outcome=model.bundle.feature_spec["target"],
                              predictions=predictions)


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


def _patient_prediction(model: ServedModel, patient_id: str, row: np.ndarray, explained: Explained,
                        i: int) -> PatientPrediction:
    contributions = []
    for j, feature in enumerate(model.features):
        phi = float(explained.contributions[i, j])
        value = None if np.isnan(row[j]) else float(row[j])
        contributions.append(Contribution(
            feature=feature["name"], display_name=feature["display_name"], value=value, unit=feature["unit"],
            source=feature["source"], contribution=phi,
            direction="raises risk" if phi > 0 else "lowers risk" if phi < 0 else "no effect"))
    contributions.sort(key=lambda c: abs(c.contribution), reverse=True)
    risk = float(explained.risk[i])
    return PatientPrediction(
        patient_id=patient_id, risk=risk, risk_percent=round(100 * risk, 2),
        horizon_years=model.bundle.feature_spec["horizon_years"],
        missing_features=[f["name"] for j, f in enumerate(model.features) if np.isnan(row[j])],
        explanation=Explanation(scale=SCALE, base_value=float(explained.base_value[i]),
                                margin=float(explained.margin[i]), contributions=contributions))
