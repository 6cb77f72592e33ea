"""Model metadata and predictions with explanations."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel

from kernel.values import as_written
from serving.auth import Role
from serving.deps import AuditDep, CallerDep, MetricsDep, ServedModelDep, StoreDep, require_roles
from serving.limits import prediction_slot
from serving.schemas import (
    ErrorResponse,
    FeatureInfo,
    ModelInfo,
    ModelList,
    ModelSummary,
    PredictionRequest,
)
from serving.served import Call, NotAnswered
from serving.task import answering, response_union

METADATA_ROLES: tuple[Role, ...] = ("clinician", "application", "data_scientist")  # applications build requests from it
PredictResponse = response_union("predict_response", "rank")  # every task's predict body, documented as one union
CARD_ROLES: tuple[Role, ...] = ("clinician", "data_scientist")  # the card is read by people; admin manages keys only
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
    # no docstring: it would become the operation's description in the OpenAPI document
    spec, shadow = model.spec, store.shadow(model.name)
    return ModelInfo(name=model.name, version=model.version, alias=model.alias, description=spec.description,
                     intended_use=spec.intended_use, task=spec.task, target=spec.target,
                     horizon_years=spec.horizon_years, calibration=model.bundle.calibrator.to_dict(),
                     explanation_scale=model.task.explanation_scale(model),
                     features=[FeatureInfo.model_validate({**f.model_dump(mode="json"), "example": None if f.example
                                                           is None else as_written(f, f.example)})
                               for f in model.features],
                     shadow=None if shadow is None else ModelSummary(name=shadow.name, version=shadow.version,
                                                                     alias=shadow.alias))


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


@router.post("/models/{name}/predict", response_model=PredictResponse,
             dependencies=[require_roles("clinician", "application"), Depends(prediction_slot)],
             responses={403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}, 413: {"model": ErrorResponse},
                        422: {"model": ErrorResponse}, 503: {"model": ErrorResponse}})
def predict(body: PredictionRequest, request: Request, caller: CallerDep, model: ServedModelDep,
            audit: AuditDep, store: StoreDep, metrics: MetricsDep,
            with_explanation: Annotated[bool, Query(alias="explain", description=EXPLAIN_HELP)] = True,
            ) -> BaseModel:
    """Per patient: a risk model's calibrated risk, or a dose model's weekly dose with its interval and the
    IWPC dose beside it; each with an exact TreeSHAP explanation on its named scale (risk models: unless
    ``explain=false``)."""
    call = Call.of(request, body.patients, caller, audit, metrics, store.shadow(model.name))
    try:
        return model.task.predict(model, call, with_explanation)
    except NotAnswered:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{model.name} is a {model.spec.task} model: predict answers "
                                                       f"{', '.join(answering('predict_response'))} models") from None
