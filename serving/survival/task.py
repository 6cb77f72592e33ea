"""The survival task: P(event by the horizon) from a ``survival:cox`` booster, explained exactly in log hazard ratio.

It is the risk task with another calibrator (``kernel.artifacts.survival``: risk = 1 - exp(-H0 exp(slope m))),
so flags, abstention, risk points and concepts are the risk task's own helpers, unedited; this module restates
the answer at the horizon in days and names the explanation's scale, which the risk answer calls log-odds
(concepts keep the risk schema's ``log_odds`` field name; for survival it holds log hazard ratio sums).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field

from kernel.artifacts.survival import METHOD, SCALE, SurvivalArtifact
from kernel.bundle import Bundle
from serving.risk.concepts import horizon_text
from serving.risk.task import RiskTask, audited_predictions
from serving.schemas import PatientPrediction, PredictionResponse
from serving.served import Call, PageSection, ServedModel, TaskRefusal


class SurvivalPatientPrediction(PatientPrediction):
    """One patient's P(event by the horizon); ``explanation.contributions`` (and each concept's ``log_odds``)
    are exact TreeSHAP values in log hazard ratio, adding up to the margin."""

    horizon_days: float = Field(description="The served risk is P(event within this many days)")


class SurvivalPredictionResponse(PredictionResponse):
    task: str = Field("survival", description="The model's task: survival (risk at a horizon from follow-up "
                                              "times with censoring)")
    horizon_days: float
    explanation_scale: str = Field(description="The scale of every explanation: log hazard ratio")
    predictions: list[SurvivalPatientPrediction]  # type: ignore[assignment]  # narrower than the risk answer's


class SurvivalTask(RiskTask):
    """Survival models: predict (risk at the horizon, flags, abstention, explanation); no what-if or page yet."""

    name: ClassVar[str] = "survival"
    rank: ClassVar[int] = 3
    predict_response: ClassVar[type[BaseModel] | None] = SurvivalPredictionResponse
    what_if: ClassVar[bool] = False
    page: ClassVar[PageSection | None] = None

    def check(self, bundle: Bundle) -> None:
        """Only the horizon calibrator turns a log hazard ratio into a risk; a sigmoid would read it as log-odds."""
        if bundle.calibrator.method != METHOD or not isinstance(bundle.spec, SurvivalArtifact):
            raise TaskRefusal(f"task survival needs a {METHOD} calibrator and a survival artifact, "
                              f"not {bundle.calibrator.method}")

    def explanation_scale(self, model: ServedModel) -> str:  # noqa: ARG002
        return SCALE

    def predict(self, model: ServedModel, call: Call, explain: bool) -> BaseModel:
        return survival_response(model, call, explain)


def survival_response(model: ServedModel, call: Call, with_explanation: bool) -> SurvivalPredictionResponse:
    """Every patient's risk at the horizon (explained unless ``explain=false``), audited as a risk answer is
    (``serving.risk.task.audited_predictions``) before it is returned."""
    spec = model.spec
    assert isinstance(spec, SurvivalArtifact)  # check
    answers = audited_predictions(model, call, with_explanation)
    return SurvivalPredictionResponse(
        request_id=call.request_id, model=model.name, version=model.version, alias=model.alias, outcome=spec.target,
        horizon_days=spec.horizon_days, explanation_scale=SCALE,
        predictions=[at_horizon(a, spec) for a in answers])


def at_horizon(answer: PatientPrediction, spec: SurvivalArtifact) -> SurvivalPatientPrediction:
    """The risk answer restated for survival: the scale named, the horizon in days in every sentence."""
    raw = answer.model_dump()
    years, days = horizon_text(answer.horizon_years), f"{spec.horizon_days:g}-day risk"
    if raw["explanation"] is not None:
        raw["explanation"]["scale"] = SCALE
    for concept in raw["concepts"]:
        concept["sentence"] = concept["sentence"].replace(years, days)
    return SurvivalPatientPrediction.model_validate({**raw, "horizon_days": spec.horizon_days})
