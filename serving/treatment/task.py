"""The treatment-response task: an S-learner whose treatment column is one more feature, so predict
answers the outcome risk under the arm sent (as a risk model does) and compare-treatments scores every arm."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel

from kernel.artifacts.treatment import TreatmentArtifact
from kernel.bundle import Bundle
from serving.risk.task import RiskTask
from serving.served import Call, PageSection, ServedModel
from serving.treatment.compare import (
    TreatmentState,
    evidence_text,
    interval_method,
    outcome_words,
    treatment_comparisons,
    treatment_state,
)
from serving.treatment.page import TREATMENT_PAGE
from serving.treatment.schemas import CompareResponse


class TreatmentTask(RiskTask):
    """Treatment-response models: predict (a risk answer), compare-treatments and the page; no what-if
    (the effect of changing treatment is what compare-treatments answers)."""

    name: ClassVar[str] = "treatment_response"
    rank: ClassVar[int] = 2
    compare_rank: ClassVar[int] = 0
    compare_response: ClassVar[type[BaseModel] | None] = CompareResponse
    what_if: ClassVar[bool] = False
    page: ClassVar[PageSection | None] = TREATMENT_PAGE

    def prepare(self, name: str, bundle: Bundle, request_model: type[BaseModel]) -> object:  # noqa: ARG002
        return TreatmentState.of_bundle(name, bundle)

    def compare(self, model: ServedModel, call: Call) -> BaseModel:
        state = treatment_state(model)
        X = call.rows([f.name for f in state.covariates], state.covariate_model)
        comparisons = treatment_comparisons(model, call.patient_ids, X)
        call.commit([call.record(model, p.patient_id, outcome="compared", kind="compare-treatments",
                                 model_recommendation=c.model_recommendation.treatment or "none")
                     for p, c in zip(call.patients, comparisons, strict=True)])
        spec = model.spec
        assert isinstance(spec, TreatmentArtifact)  # the task is chosen by the artifact's own class
        return CompareResponse(request_id=call.request_id, model=model.name, version=model.version, alias=model.alias,
                               interval_method=interval_method(state.effects, spec), evidence=evidence_text(spec),
                               outcome_measure=outcome_words(spec), horizon_days=spec.treatment.horizon_days,
                               comparisons=comparisons)

    def form_fields(self, model: ServedModel) -> tuple[list[Any], type[BaseModel]]:
        state = treatment_state(model)
        return state.covariates, state.covariate_model
