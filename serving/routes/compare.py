"""Treatment comparison (per patient and candidate, with intervals and the CPIC guideline beside the model)
and a what-if re-score of a risk model under changed modifiable factors."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from kernel.artifact import ArtifactFeature
from serving.auth import Role
from serving.call import audit_record, commit, validated_rows
from serving.deps import AuditDep, CallerDep, MetricsDep, ServedModelDep, StoreDep, require_roles
from serving.feature_text import concept_of
from serving.limits import prediction_slot
from serving.schemas import CompareRequest, ErrorResponse, WhatIfRequest, WhatIfResponse
from serving.served import Call, NotAnswered
from serving.task import response_union

ROLES: tuple[Role, ...] = ("clinician", "application")
IMMUTABLE_SOURCES = frozenset({"demographic", "genetic"})  # age, sex, genotypes and polygenic scores
WHAT_IF_CAVEAT = ("Associational: the risk model's prediction for a patient with these values, not the effect of "
                  "changing them; no causal model backs it")
CompareResponse = response_union("compare_response", "compare_rank")  # every task's compare body, as one union
WhatIfAnswer = response_union("what_if_response", "rank")  # every task's what-if body, as one union
_ERRORS: dict[int | str, dict[str, Any]] = {403: {"model": ErrorResponse}, 404: {"model": ErrorResponse},
                                            422: {"model": ErrorResponse}, 503: {"model": ErrorResponse}}
router = APIRouter(prefix="/v1", tags=["treatment"], responses={401: {"model": ErrorResponse}})


@router.post("/models/{name}/compare-treatments", response_model=CompareResponse,
             dependencies=[require_roles(*ROLES), Depends(prediction_slot)], responses=_ERRORS)
def compare_treatments(body: CompareRequest, request: Request, caller: CallerDep, model: ServedModelDep,
                       audit: AuditDep, metrics: MetricsDep, store: StoreDep) -> BaseModel:
    """Treatment-response model: predicted outcome under each treatment, the difference with its 95%
    interval, its drivers, and the CPIC recommendation beside the model's. Dose model (warfarin): the
    model's dose with its interval beside the IWPC pharmacogenetic, IWPC clinical and fixed doses."""
    call = Call.of(request, body.patients, caller, audit, metrics, store.shadow(model.name))
    try:
        return model.task.compare(model, call)
    except NotAnswered:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{model.name} is not a treatment-response model") from None


@router.post("/models/{name}/what-if", response_model=WhatIfAnswer,
             dependencies=[require_roles(*ROLES), Depends(prediction_slot)], responses=_ERRORS)
def what_if(body: WhatIfRequest, caller: CallerDep, model: ServedModelDep, audit: AuditDep,
            metrics: MetricsDep) -> BaseModel:
    """Re-score a risk model with changed modifiable factors; associational, not a causal effect."""
    if not model.task.what_if:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"what-if re-scores risk models; {model.name} is a "
                                                       f"{model.spec.task} model (use predict or compare-treatments)")
    refuse_unchangeable(body.changes, model.features)
    rows = validated_rows([body.patient.features, {**body.patient.features, **body.changes}],
                          model.bundle.feature_names, model.request_model)
    request_id, changed = uuid.uuid4().hex, sorted(body.changes)
    risk = model.bundle.risk(rows)
    commit(audit, metrics, [audit_record(audit, caller, model, request_id, body.patient.patient_id,
                                         outcome="what-if", kind="what-if", changed=changed)])
    answer = WhatIfResponse(request_id=request_id, model=model.name, version=model.version,
                            patient_id=body.patient.patient_id, risk_now=float(risk[0]),
                            risk_if_changed=float(risk[1]), difference=float(risk[1] - risk[0]), changed=changed,
                            caveat=WHAT_IF_CAVEAT)
    return model.task.re_scored(model, answer, rows)


def refuse_unchangeable(changes: dict[str, object], features: list[ArtifactFeature]) -> None:
    """422 naming each change that is not a feature, is immutable (age, sex, genotype) or is not one of
    the factors the artifact marks modifiable (``ArtifactFeature.modifiable``, from the feature registry),
    which the message names by concept (smoking, LDL cholesterol, blood pressure, HbA1c for cad_risk)."""
    by_name = {f.name: f for f in features}
    modifiable = ", ".join(dict.fromkeys(concept_of(f) for f in features if f.modifiable)) or "none in this model"
    errors = []
    for name in changes:
        feature = by_name.get(name)
        if feature is None:
            why = "is not a feature of this model"
        elif feature.source in IMMUTABLE_SOURCES:
            why = f"is immutable ({feature.display_name}: age, sex and genotype cannot be changed)"
        elif not feature.modifiable:
            why = f"is not a modifiable factor this call re-scores ({modifiable})"
        else:
            continue
        errors.append({"loc": ["body", "changes", name], "type": "not_modifiable", "msg": f"{name} {why}"})
    if errors:
        raise RequestValidationError(errors)
