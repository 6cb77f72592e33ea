"""The risk task: a calibrated probability of the target within the horizon, explained exactly."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel

from kernel.bundle import Bundle
from serving.explain import SCALE, explain
from serving.risk.answer import RiskState, explained_predictions, risk_only_prediction
from serving.risk.page import RISK_PAGE
from serving.schemas import PatientPrediction, PredictionResponse
from serving.served import Call, PageSection, ServedModel, ServedTask, TaskRefusal
from serving.shadow import score_shadow


class RiskTask(ServedTask):
    """Risk models: predict (risk, category, flags, explanation, risk points, concepts), what-if, the page."""

    name: ClassVar[str] = "risk_classification"
    rank: ClassVar[int] = 0
    predict_response: ClassVar[type[BaseModel] | None] = PredictionResponse
    what_if: ClassVar[bool] = True
    page: ClassVar[PageSection | None] = RISK_PAGE

    def check(self, bundle: Bundle) -> None:
        """A dose calibrator squares a margin into mg/week: its output is never served as a risk."""
        if bundle.calibrator.method == "dose_interval":
            raise TaskRefusal(f"task {bundle.spec.task} does not go with a {bundle.calibrator.method} calibrator")

    def prepare(self, name: str, bundle: Bundle, request_model: type[BaseModel]) -> object:  # noqa: ARG002
        return RiskState.of(bundle.spec)

    def explanation_scale(self, model: ServedModel) -> str:  # noqa: ARG002
        return SCALE

    def predict(self, model: ServedModel, call: Call, explain: bool) -> BaseModel:
        return risk_response(model, call, explain)


def risk_response(model: ServedModel, call: Call, with_explanation: bool) -> PredictionResponse:
    """Every patient's risk answer (explained unless ``explain=false``), audited before it is returned."""
    return PredictionResponse(request_id=call.request_id, model=model.name, version=model.version,
                              alias=model.alias, outcome=model.spec.target,
                              predictions=audited_predictions(model, call, with_explanation))


def audited_predictions(model: ServedModel, call: Call, with_explanation: bool) -> list[PatientPrediction]:
    """Each patient's answer from the calibrated margin (explained unless ``explain=false``), with one audit
    record per patient, the shadow's risk beside it, made durable before the answers are handed back; every
    task whose output is a risk (risk, survival) answers through this."""
    X = call.rows(model.bundle.feature_names, model.request_model)
    if with_explanation:
        explained = explain(model.bundle, X, model.explainer)
        risk = explained.risk
        predictions = explained_predictions(model, call.patient_ids, X, explained)
    else:
        risk = model.bundle.risk(X)
        predictions = [risk_only_prediction(model, p, X[i], float(risk[i])) for i, p in enumerate(call.patient_ids)]
    shadow = score_shadow(call.shadow, model, call.patients, risk, call.metrics)
    outcomes = ["abstained" if a.abstained else "predicted" for a in predictions]
    call.commit_predictions(model, [call.record(model, p.patient_id, outcome=outcomes[i], **shadow[i])
                                    for i, p in enumerate(call.patients)])
    return predictions
