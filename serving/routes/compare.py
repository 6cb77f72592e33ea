"""Treatment comparison (per patient and candidate, with intervals and the CPIC guideline beside the model)
and a what-if re-score of a risk model under changed modifiable factors."""

from __future__ import annotations

import uuid

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from serving.audit import AuditError, AuditLog
from serving.compare_schemas import (
    CompareRequest,
    CompareResponse,
    DoseComparisonResponse,
    WhatIfRequest,
    WhatIfResponse,
)
from serving.deps import AuditDep, CallerDep, MetricsDep, ServedModelDep, require_roles
from serving.dose import DOSE_TASK, inconsistent_inputs
from serving.dose_compare import dose_comparisons
from serving.limits import prediction_slot
from serving.registry import ServedModel
from serving.schemas import ErrorResponse
from serving.treatment import covariate_request_model, covariates, effect_model, interval_method, treatment_comparisons
from serving.validation import safe_errors, to_row

ROLES = ("clinician", "application")
MODIFIABLE = frozenset({"current_smoker", "pack_years", "ldl_mg_dl", "sbp_mm_hg", "hba1c_pct"})
IMMUTABLE_SOURCES = frozenset({"demographic", "genetic"})  # age, sex, genotypes and polygenic scores
_ERRORS = {403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}, 422: {"model": ErrorResponse},
           503: {"model": ErrorResponse}}
router = APIRouter(prefix="/v1", tags=["treatment"], responses={401: {"model": ErrorResponse}})


@router.post("/models/{name}/compare-treatments", response_model=CompareResponse | DoseComparisonResponse,
             dependencies=[require_roles(*ROLES), Depends(prediction_slot)], responses=_ERRORS)
def compare_treatments(body: CompareRequest, request: Request, caller: CallerDep, model: ServedModelDep,
                       audit: AuditDep, metrics: MetricsDep) -> CompareResponse | DoseComparisonResponse:
    """Treatment-response model: predicted outcome under each treatment, the difference with its 95%
    interval, its drivers, and the CPIC recommendation beside the model's. Dose model (warfarin): the
    model's dose with its interval beside the IWPC pharmacogenetic, IWPC clinical and fixed doses."""
    _check_batch(request, len(body.patients))
    if model.task == DOSE_TASK:
        return _compare_doses(body, caller, model, audit, metrics)
    effects = effect_model(model)
    X = _rows(covariates(model), [p.features for p in body.patients], covariate_request_model(model))
    comparisons = treatment_comparisons(model, effects, [p.patient_id for p in body.patients], X)
    request_id = uuid.uuid4().hex
    _audit(audit, metrics, [{"request_id": request_id, "key_id": caller.key_id, "role": caller.role,
                             "model": model.name, "version": model.version, "alias": model.alias,
                             "patient_key": audit.pseudonym(p.patient_id), "outcome": "compared",
                             "kind": "compare-treatments",
                             "model_recommendation": c.model_recommendation.treatment or "none"}
                            for p, c in zip(body.patients, comparisons)])
    return CompareResponse(request_id=request_id, model=model.name, version=model.version, alias=model.alias,
                           interval_method=interval_method(effects),
                           comparisons=comparisons)


def _compare_doses(body: CompareRequest, caller, model: ServedModel, audit: AuditLog,  # noqa: ANN001
                   metrics) -> DoseComparisonResponse:  # noqa: ANN001
    names = model.bundle.feature_names
    X = _rows(model.features, [p.features for p in body.patients], model.request_model)
    errors = inconsistent_inputs(X, names)
    if errors:
        raise RequestValidationError(errors)
    comparisons = dose_comparisons(model, [p.patient_id for p in body.patients], X)
    request_id = uuid.uuid4().hex
    _audit(audit, metrics, [{"request_id": request_id, "key_id": caller.key_id, "role": caller.role,
                             "model": model.name, "version": model.version, "alias": model.alias,
                             "patient_key": audit.pseudonym(p.patient_id),
                             "outcome": "abstained" if c.abstained else "compared", "kind": "compare-treatments"}
                            for p, c in zip(body.patients, comparisons)])
    return DoseComparisonResponse(request_id=request_id, model=model.name, version=model.version, alias=model.alias,
                                  caveat=model.bundle.feature_spec.get("intended_use", ""), comparisons=comparisons)


@router.post("/models/{name}/what-if", response_model=WhatIfResponse,
             dependencies=[require_roles(*ROLES), Depends(prediction_slot)], responses=_ERRORS)
def what_if(body: WhatIfRequest, caller: CallerDep, model: ServedModelDep, audit: AuditDep,
            metrics: MetricsDep) -> WhatIfResponse:
    """Re-score a risk model with changed modifiable factors; associational, not a causal effect."""
    if "treatment" in model.bundle.feature_spec or model.task != "risk_classification":
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"what-if re-scores risk models; {model.name} is a "
                                                       f"{model.task} model (use predict or compare-treatments)")
    _refuse_unchangeable(body.changes, {f["name"]: f for f in model.features})
    rows = _rows(model.features, [body.patient.features, {**body.patient.features, **body.changes}],
                 model.request_model)
    risk = model.bundle.risk(rows)
    request_id = uuid.uuid4().hex
    _audit(audit, metrics, [{"request_id": request_id, "key_id": caller.key_id, "role": caller.role,
                             "model": model.name, "version": model.version, "alias": model.alias,
                             "patient_key": audit.pseudonym(body.patient.patient_id), "outcome": "what-if",
                             "kind": "what-if", "changed": sorted(body.changes)}])
    return WhatIfResponse(request_id=request_id, model=model.name, version=model.version,
                          patient_id=body.patient.patient_id, risk_now=float(risk[0]), risk_if_changed=float(risk[1]),
                          difference=float(risk[1] - risk[0]), changed=sorted(body.changes),
                          caveat="Associational: the risk model's prediction for a patient with these values, "
                                 "not the effect of changing them; no causal model backs it")


def _refuse_unchangeable(changes: dict[str, object], features: dict[str, dict]) -> None:
    errors = []
    for name in changes:
        feature = features.get(name)
        if feature is None:
            why = "is not a feature of this model"
        elif feature["source"] in IMMUTABLE_SOURCES:
            why = f"is immutable ({feature['display_name']}: age, sex and genotype cannot be changed)"
        elif name not in MODIFIABLE:
            why = "is not a modifiable factor this call re-scores (smoking, LDL, blood pressure, HbA1c)"
        else:
            continue
        errors.append({"loc": ["body", "changes", name], "type": "not_modifiable", "msg": f"{name} {why}"})
    if errors:
        raise RequestValidationError(errors)


def _rows(features: list[dict], payloads: list[dict], request_model: type[BaseModel]) -> np.ndarray:
    """Validated rows in ``features`` order (the served version's own request model: built once, at load)."""
    names = [f["name"] for f in features]
    rows, errors = [], []
    for i, payload in enumerate(payloads):
        try:
            rows.append(to_row(request_model.model_validate(payload), names))
        except ValidationError as exc:
            errors.extend(safe_errors(exc, ("body", "patients", i, "features")))
    if errors:
        raise RequestValidationError(errors)
    return np.vstack(rows)


def _check_batch(request: Request, n: int) -> None:
    limit = request.app.state.settings.max_batch_patients
    if n > limit:
        raise RequestValidationError([{"loc": ["body", "patients"], "type": "too_long",
                                       "msg": f"at most {limit} patients per request"}])


def _audit(audit: AuditLog, metrics, records: list[dict[str, object]]) -> None:  # noqa: ANN001
    try:
        audit.record(records)
    except AuditError as exc:
        metrics.audit_failures.inc()
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "answer withheld: the audit log cannot be written") from exc

