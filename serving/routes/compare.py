"""Treatment comparison (per patient and candidate, with intervals and the CPIC guideline beside the model)
and a what-if re-score of a risk model under changed modifiable factors."""

from __future__ import annotations

import uuid

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from serving.audit import AuditError, AuditLog
from serving.compare_schemas import (
    CompareRequest,
    CompareResponse,
    DoseComparisonResponse,
    Driver,
    PatientComparison,
    Recommendation,
    TreatmentOutcome,
    WhatIfRequest,
    WhatIfResponse,
)
from serving.deps import AuditDep, CallerDep, MetricsDep, ServedModelDep, require_roles
from serving.dose import DOSE_TASK, inconsistent_inputs
from serving.dose_compare import dose_comparisons
from serving.limits import prediction_slot
from serving.registry import ServedModel
from serving.schemas import ErrorResponse
from serving.validation import features_model, safe_errors, to_row
from training.treatment_effect import TreatmentEffectModel

ROLES = ("clinician", "application")
MODIFIABLE = frozenset({"current_smoker", "pack_years", "ldl_mg_dl", "sbp_mm_hg", "hba1c_pct"})
IMMUTABLE_SOURCES = frozenset({"demographic", "genetic"})  # age, sex, genotypes and polygenic scores
DRIVERS_SCALE = ("log-odds ratio: S-learner margin under the candidate minus under the reference "
                 "(exact TreeSHAP; the risk difference is on the probability scale)")
CPIC_SOURCE = "CPIC guideline (CYP2C19 and clopidogrel, 2022 update; ACS/PCI)"
PHENOTYPES = ("Poor Metabolizer", "Intermediate Metabolizer", "Normal Metabolizer", "Rapid Metabolizer",
              "Ultrarapid Metabolizer")
_ERRORS = {403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}, 422: {"model": ErrorResponse},
           503: {"model": ErrorResponse}}
_effect_models: dict[tuple[str, str], TreatmentEffectModel] = {}
router = APIRouter(prefix="/v1", tags=["treatment"], responses={401: {"model": ErrorResponse}})


def effect_model(model: ServedModel) -> TreatmentEffectModel:
    """The served version's ensemble, read once from its verified bundle files."""
    if "treatment" not in model.bundle.feature_spec:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{model.name} is not a treatment-response model")
    key = (model.name, model.version)
    if key not in _effect_models:
        _effect_models.clear()  # one version per model is served; drop the old one
        _effect_models[key] = TreatmentEffectModel.from_files(model.bundle.extras)
    return _effect_models[key]


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
    spec = model.bundle.feature_spec
    covariates = [f for f in model.features if f["name"] != spec["treatment"]["feature"]]
    X = _rows(covariates, [p.features for p in body.patients], model.name)
    pred, contribs = effects.predict(X), effects.effect_contributions(X)
    comparisons = [_comparison(p.patient_id, i, X[i], covariates, spec, pred, contribs)
                   for i, p in enumerate(body.patients)]
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


def interval_method(effects: TreatmentEffectModel) -> str:
    bootstrap = f"bootstrap ensemble of {len(effects.boosters_) - 1} boosters"
    if effects.interval_k == 1.0 and effects.interval_c == 0.0:
        return f"{bootstrap}, uncalibrated: sampling variance only, so it may cover less than 95%"
    return (f"{bootstrap}, SD x {effects.interval_k:.2f} with a floor of {effects.interval_c:.4f}, calibrated to "
            "95% coverage (with 95% confidence) on a simulated trial with known effects")


def _compare_doses(body: CompareRequest, caller, model: ServedModel, audit: AuditLog,  # noqa: ANN001
                   metrics) -> DoseComparisonResponse:  # noqa: ANN001
    names = model.bundle.feature_names
    X = _rows(model.features, [p.features for p in body.patients], model.name)
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


def _comparison(patient_id: str, i: int, x: np.ndarray, covariates: list[dict], spec: dict, pred, contribs: np.ndarray
                ) -> PatientComparison:  # noqa: ANN001 (pred: EffectPrediction)
    reference, candidate = spec["treatment"]["arms"]
    low, high, diff = float(pred.low[i]), float(pred.high[i]), float(pred.effect[i])
    reliable = not (low <= 0.0 <= high)
    verdict = (f"{candidate} {'lowers' if diff < 0 else 'raises'} the predicted 1-year risk by "
               f"{abs(diff) * 100:.1f} points (95% interval {low * 100:+.1f} to {high * 100:+.1f})"
               if reliable else "no reliable difference: the 95% interval crosses zero")
    names = [f["name"] for f in covariates] + [spec["treatment"]["feature"]]
    labels = [f["display_name"] for f in covariates] + [f"{candidate} itself (shared by all patients)"]
    values = [None if np.isnan(v) else float(v) for v in x] + [None]
    drivers = sorted((Driver(feature=n, display_name=d, value=v, contribution=float(c))
                      for n, d, v, c in zip(names, labels, values, contribs[i, :-1])),
                     key=lambda d: -abs(d.contribution))
    better = candidate if diff < 0 else reference
    model_rec = Recommendation(source="model (S-learner fitted on a simulated randomised trial)",
                               treatment=better if reliable else None,
                               text=f"prefer {better}" if reliable else "no reliable difference between the arms")
    return PatientComparison(
        patient_id=patient_id, reference=reference, outcome=spec["target"],
        treatments=[TreatmentOutcome(treatment=reference, predicted_outcome=float(pred.outcome_reference[i]),
                                     difference=None, interval_95=None, reliable_difference=None,
                                     verdict="reference"),
                    TreatmentOutcome(treatment=candidate, predicted_outcome=float(pred.outcome_treated[i]),
                                     difference=diff, interval_95=(low, high), reliable_difference=reliable,
                                     verdict=verdict)],
        drivers_scale=DRIVERS_SCALE, drivers_total=float(contribs[i].sum()), drivers=drivers,
        model_recommendation=model_rec, guideline_recommendation=cpic_recommendation(x[names.index(
            "cyp2c19_phenotype_code")] if "cyp2c19_phenotype_code" in names else np.nan, reference, candidate))


def cpic_recommendation(phenotype_code: float, reference: str, candidate: str) -> Recommendation:
    """CPIC 2022, ACS/PCI: PM or IM -> avoid clopidogrel, use ticagrelor or prasugrel (strong); else clopidogrel."""
    if np.isnan(phenotype_code):
        return Recommendation(source=CPIC_SOURCE, treatment=None,
                              text="no CYP2C19 result: no genotype-guided recommendation")
    phenotype = PHENOTYPES[int(phenotype_code)]
    if phenotype_code <= 1:
        return Recommendation(source=CPIC_SOURCE, treatment=candidate,
                              text=f"{phenotype}: avoid standard-dose {reference} if possible; use {candidate} "
                                   "or prasugrel at standard dose (strong)")
    return Recommendation(source=CPIC_SOURCE, treatment=reference,
                          text=f"{phenotype}: {reference} 75 mg/day at standard dose (strong)")


@router.post("/models/{name}/what-if", response_model=WhatIfResponse,
             dependencies=[require_roles(*ROLES), Depends(prediction_slot)], responses=_ERRORS)
def what_if(body: WhatIfRequest, caller: CallerDep, model: ServedModelDep, audit: AuditDep,
            metrics: MetricsDep) -> WhatIfResponse:
    """Re-score a risk model with changed modifiable factors; associational, not a causal effect."""
    if "treatment" in model.bundle.feature_spec or model.task != "risk_classification":
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"what-if re-scores risk models; {model.name} is a "
                                                       f"{model.task} model (use predict or compare-treatments)")
    _refuse_unchangeable(body.changes, {f["name"]: f for f in model.features})
    rows = _rows(model.features, [body.patient.features, {**body.patient.features, **body.changes}], model.name)
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


def _rows(features: list[dict], payloads: list[dict], model_name: str) -> np.ndarray:
    request_model = features_model(model_name, features)
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

