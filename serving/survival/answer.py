"""A survival model's answer: the risk task's answer restated at the horizon, in days and in the words a
clinician reads ("10-year risk", "180-day risk"), with the explanation's scale named as log hazard ratio.

The numbers are the risk task's own (``serving.risk.task.audited_predictions``, ``serving.risk.answer``):
the calibrator is the horizon one (``kernel.artifacts.survival``), so the risk, the risk points and the
flags need nothing of their own; only the words and the scale differ. Concepts keep the risk schema's
``log_odds`` field name; for a survival model it holds log hazard ratio sums.
"""

from __future__ import annotations

from pydantic import Field

from kernel.artifacts.survival import DAYS_PER_YEAR, SCALE, SurvivalArtifact
from serving.feature_text import number_text
from serving.risk.concepts import horizon_text
from serving.risk.task import audited_predictions
from serving.schemas import PatientPrediction, PredictionResponse
from serving.served import Call, ServedModel

_DAYS_OFF_PER_YEAR = 0.75  # 365-day and 366-day years still read as whole years (1825 days: "5-year")


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


def survival_spec(model: ServedModel) -> SurvivalArtifact:
    """The served version's survival artifact (``SurvivalTask.check`` refused any other at load)."""
    spec = model.spec
    if not isinstance(spec, SurvivalArtifact):
        raise TypeError(f"{model.name} version {model.version} carries no survival artifact (task {spec.task})")
    return spec


def survival_response(model: ServedModel, call: Call, with_explanation: bool) -> SurvivalPredictionResponse:
    """Every patient's risk at the horizon (explained unless ``explain=false``), audited as a risk answer is
    (``serving.risk.task.audited_predictions``) before it is returned."""
    spec = survival_spec(model)
    answers = audited_predictions(model, call, with_explanation)
    return SurvivalPredictionResponse(
        request_id=call.request_id, model=model.name, version=model.version, alias=model.alias, outcome=spec.target,
        horizon_days=spec.horizon_days, explanation_scale=SCALE,
        predictions=[at_horizon(a, spec) for a in answers])


def at_horizon(answer: PatientPrediction, spec: SurvivalArtifact) -> SurvivalPatientPrediction:
    """The risk answer restated for survival: the scale named, the horizon's words in every sentence."""
    raw = answer.model_dump()
    years, words = horizon_text(answer.horizon_years), f"{horizon_phrase(spec.horizon_days)} risk"
    if raw["explanation"] is not None:
        raw["explanation"]["scale"] = SCALE
    for concept in raw["concepts"]:
        concept["sentence"] = concept["sentence"].replace(years, words)
    return SurvivalPatientPrediction.model_validate({**raw, "horizon_days": spec.horizon_days})


def horizon_phrase(horizon_days: float) -> str:
    """'10-year' for a horizon of whole years (3652.5, 3650 or 3653 days), else '180-day': the horizon as
    the spec meant it, never '0.49-year' or '3652.5-day'."""
    years = round(horizon_days / DAYS_PER_YEAR)
    if years >= 1 and abs(horizon_days - years * DAYS_PER_YEAR) <= years * _DAYS_OFF_PER_YEAR:
        return f"{years}-year"
    return f"{number_text(horizon_days)}-day"


def horizon_words(horizon_days: float) -> str:
    """'10 years' or '180 days': the horizon inside a sentence."""
    amount, unit = horizon_phrase(horizon_days).rsplit("-", 1)
    return f"{amount} {unit}{'' if amount == '1' else 's'}"
